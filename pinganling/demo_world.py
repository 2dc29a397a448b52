"""The demo's world: a district, its street and communities, three homes played by simulator
scenarios, a fourth whose gateway a newcomer provisions (``NEW_HOME``), two more without a
gateway (a resident away visiting family, one in hospital), contacts with several numbers and
keys, statuses, and generated logins (kept in the state directory, never in the repository)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from firmware_sim.scenarios import Scenario
from hardware.catalog import ble_uid, rf_uid
from pinganling import demo_history as history
from server.alerts.model import Role
from server.auth.users import generate_password, set_password, verify_password
from server.directory import (
    CareTag,
    ContactIn,
    DeviceIn,
    GatewayIn,
    HomeIn,
    RegionIn,
    ResidentIn,
    add_contact,
    add_device,
    add_gateway,
    add_home,
    add_region,
    add_resident,
    set_status,
)
from server.directory.residents import StatusIn
from server.directory.users import UserIn, add_user
from server.privacy import consent

DISTRICT, STREET, COMMUNITIES = "示范区", "朝阳街道", ("幸福社区", "和平社区", "安康社区")
# each community's grids (网格): visits are organised by grid
GRIDS = (("幸福一网格", "幸福二网格"), ("和平一网格", "和平二网格"), ("安康一网格",))
# (key in the credentials file, username, display name, role, communities: visitors only)
LOGINS: tuple[tuple[str, str, str, Role, tuple[int, ...]], ...] = (
    ("operator", "operator", "值班员 小张", Role.OPERATOR, ()),
    ("supervisor", "supervisor", "班长 老李", Role.SUPERVISOR, ()),
    ("technician", "technician", "安装员 小王", Role.TECHNICIAN, ()),
    ("admin", "admin", "管理员", Role.ADMIN, ()),
    ("auditor", "auditor", "审计员 小赵", Role.AUDITOR, ()),
    ("visitor-1", "gridworker1", "网格员 陈敏", Role.VISITOR, (0,)),
    ("visitor-2", "gridworker2", "网格员 周磊", Role.VISITOR, (1, 2)))


@dataclass(frozen=True, slots=True)
class Kin:
    """A contact: name, relation, phones (the first tried first), when, whether they hold a key."""

    name: str
    relation: str
    phones: tuple[str, ...]
    availability: str = ""
    has_key: bool = False


SON = Kin("王强", "儿子", ("13800001001", "021-5555 1001"), "工作日 18:00 后；周末全天", True)
WORKER = Kin("社区网格员 陈敏", "社区工作者", ("13800001002",), "8:30–17:30", True)


@dataclass(frozen=True, slots=True)
class Person:
    name: str
    sex: str
    born: date
    care_tags: tuple[str, ...]  # CareTag values
    conditions: tuple[str, ...] = ()
    medications: tuple[str, ...] = ()
    languages: tuple[str, ...] = ("普通话",)
    contacts: tuple[Kin, ...] = ()  # in call order
    allergies: tuple[str, ...] = ()
    status: tuple[str, int, str] | None = None  # (status, days until it ends, note)


@dataclass(frozen=True, slots=True)
class HomeProfile:
    """A simulated home: its scenario and who lives there (scenario residents, in order)."""

    gateway: str
    scenario: str
    start: str  # where in the scenario's day the demo starts (real time from there on)
    community: int  # index into COMMUNITIES
    address: str
    key_safe: str
    people: tuple[Person, ...]
    # (scenario clock, scenario resident): the demo sends this resident an inactivity
    # pre-warning then (the inactivity detector sends them 15 min before an alarm: too slow
    # for a five-minute demo)
    prewarn: tuple[str, str] | None = None


HOMES = (
    HomeProfile("gw-demo-0001", "demo", "10:00", 0, "幸福路 8 号 3 单元 201", "2580", (
        Person("王秀英", "F", date(1941, 3, 2), ("高龄", "空巢"), ("高血压", "骨质疏松"),
               ("氨氯地平 5mg 每日一次",), ("普通话", "上海话"), (SON, WORKER), ("青霉素",)),
        Person("李德明", "M", date(1938, 11, 20), ("高龄",), ("2 型糖尿病",), ("二甲双胍",),
               contacts=(Kin("王强", "女婿", SON.phones, SON.availability, True),))),
        prewarn=("10:03:20", "李爷爷")),
    HomeProfile("gw-demo-0002", "day", "09:57", 0, "幸福路 12 号 1 单元 502", "1379", (
        Person("张桂兰", "F", date(1946, 6, 8), ("独居", "高龄"), ("冠心病",), ("阿司匹林",),
               contacts=(Kin("张丽", "女儿", ("13800002001",), "晚上"), WORKER)),)),
    HomeProfile("gw-demo-0003", "quiet", "11:45", 1, "和平街 3 号 402", "8642", (
        Person("刘淑珍", "F", date(1950, 1, 15), ("独居", "失能"), ("中风后遗症",), ("华法林",),
               contacts=(Kin("刘伟", "儿子", ("13800003001", "13900003002")),
                         Kin("邻居 孙阿姨", "邻居", ("13800003003",), "白天在家", True))),)),
)
# A home without a simulated gateway: its resident is away, visiting her daughter.
QUIET_HOMES = (
    ("和平街 5 号 101", 1, Person("赵文华", "F", date(1944, 9, 9), ("独居", "高龄"), ("高血压",),
                                 ("硝苯地平",), ("普通话", "四川话"),
                                 (Kin("赵敏", "女儿", ("13800004001",), "全天", True),),
                                 status=("away", 5, "去成都女儿家过节"))),
    ("和平街 7 号 303", 1, Person("陈德海", "M", date(1936, 4, 18), ("高龄", "空巢"),
                                 ("慢阻肺",), ("噻托溴铵",), ("普通话",),
                                 (Kin("陈建国", "儿子", ("13800005001",), "晚上", True),),
                                 status=("in_hospital", 6, "市一医院 呼吸科 12 床"))),
)


# Registered for its home, its gateway waiting for a claim: the demo prints the code and the
# command that provisions it (the gateway runs with the scenario's wrist band simulated).
NEW_HOME = HomeProfile("gw-demo-0004", "newhome", "08:00", 1, "和平街 9 号 1 单元 101", "3571", (
    Person("赵桂芳", "F", date(1945, 9, 12), ("独居", "高龄"), ("高血压",), ("硝苯地平",),
           contacts=(Kin("赵磊", "儿子", ("13800004001",), "晚上", True),)),))
ALL_HOMES = (*HOMES, NEW_HOME)


def _kin(name: str, relation: str, phone: str, key: bool = False) -> Kin:
    return Kin(name, relation, (phone,), "晚上", key)


# Homes without a gateway of their own in the demo (alarm devices not yet installed): the
# residents the visits, care calls and the dashboard are about. (address, community, grid,
# people)
MORE_HOMES: tuple[tuple[str, int, int, tuple[Person, ...]], ...] = (
    ("幸福路 15 号 2 单元 301", 0, 0, (
        Person("孙玉兰", "F", date(1939, 2, 11), ("高龄", "独居"), ("高血压", "白内障"),
               contacts=(_kin("孙建华", "儿子", "13800006001", True),)),)),
    ("幸福路 21 号 1 单元 102", 0, 0, (
        Person("周福生", "M", date(1948, 7, 30), ("失能",), ("帕金森病",), ("多巴丝肼",),
               contacts=(_kin("周丽", "女儿", "13800006002", True),)),
        Person("吴美华", "F", date(1950, 5, 3), ("空巢",), ("关节炎",),
               contacts=(_kin("周丽", "女儿", "13800006002", True),)))),
    ("幸福路 27 号 4 单元 601", 0, 1, (
        Person("郑国强", "M", date(1943, 12, 24), ("高龄", "空巢", "优抚对象"), ("冠心病",),
               contacts=(_kin("郑晓", "儿子", "13800006003"),)),)),
    ("幸福路 33 号 1 单元 201", 0, 1, (
        Person("何秀兰", "F", date(1952, 8, 17), ("计划生育特殊家庭", "独居"), ("抑郁症",),
               contacts=(_kin("社区网格员 陈敏", "社区工作者", "13800001002", True),)),)),
    ("和平街 11 号 203", 1, 0, (
        Person("黄志明", "M", date(1946, 1, 9), ("重残",), ("截瘫",),
               contacts=(_kin("黄丽娟", "妻子", "13800007001", True),)),)),
    ("和平街 15 号 502", 1, 1, (
        Person("林桂英", "F", date(1940, 10, 2), ("高龄", "失智"), ("阿尔茨海默病",),
               ("多奈哌齐",), contacts=(_kin("林涛", "儿子", "13800007002", True),)),)),
    ("和平街 19 号 101", 1, 1, (
        Person("马德福", "M", date(1951, 3, 28), ("经济困难", "独居"), ("慢性胃炎",),
               contacts=(_kin("马小红", "侄女", "13800007003"),)),)),
    ("安康路 2 号 1 单元 401", 2, 0, (
        Person("罗淑芬", "F", date(1937, 6, 14), ("高龄", "独居", "经济困难"), ("心衰",),
               ("呋塞米",), contacts=(_kin("罗军", "儿子", "13800008001", True),)),)),
    ("安康路 6 号 2 单元 202", 2, 0, (
        Person("高建华", "M", date(1949, 11, 5), ("留守", "空巢"), ("高血压",),
               contacts=(_kin("高鹏", "儿子", "13800008002"),)),
        Person("宋玉珍", "F", date(1951, 4, 22), ("留守", "空巢"), ("糖尿病",),
               contacts=(_kin("高鹏", "儿子", "13800008002"),)))),
    ("安康路 10 号 1 单元 101", 2, 0, (
        Person("谢宝山", "M", date(1942, 9, 1), ("失能", "高龄"), ("脑梗后遗症",),
               contacts=(_kin("谢芳", "女儿", "13800008003", True),)),)),
    ("安康路 14 号 3 单元 303", 2, 0, (
        Person("韩秀梅", "F", date(1945, 2, 19), ("独居", "优抚对象"), ("骨质疏松",),
               contacts=(_kin("韩冬", "儿子", "13800008004"),)),)),
)

HOMES_PEOPLE = (*(p for h in ALL_HOMES for p in h.people), *(q[2] for q in QUIET_HOMES),
                *(p for m in MORE_HOMES for p in m[3]))
"""Everyone the demo serves."""


def device_uid(device: Any) -> str:
    return rf_uid(device.id) if device.id is not None else ble_uid(device.address)


def resident_id(conn: psycopg.Connection[Any], home: HomeProfile, scenario: Scenario,
                sim_name: str) -> int | None:
    """The id of the person who plays scenario resident ``sim_name`` in ``home``."""
    names = [r.name for r in scenario.resident]
    if sim_name not in names or names.index(sim_name) >= len(home.people):
        return None
    row = conn.execute("SELECT r.id FROM residents r JOIN gateways g ON g.home_id = r.home_id "
                       "WHERE g.id = %s AND r.name = %s",
                       (home.gateway, home.people[names.index(sim_name)].name)).fetchone()
    return int(row[0]) if row else None


def seed(conn: psycopg.Connection[Any], scenarios: dict[str, Scenario],
         credentials: Path) -> dict[str, dict[str, str]]:
    """Create the world once (idempotent: a home whose gateway exists is not made again) and
    the logins; returns username/password per role. ``scenarios``: those of ``ALL_HOMES``."""
    with conn.transaction():
        district = _region(conn, DISTRICT, "区", None)
        street = _region(conn, STREET, "街道", district)
        communities = [_region(conn, name, "社区", street) for name in COMMUNITIES]
        for home in ALL_HOMES:
            if not conn.execute("SELECT 1 FROM gateways WHERE id = %s",
                                (home.gateway,)).fetchone():
                _home(conn, home, scenarios[home.scenario], communities[home.community])
        for address, community, person in QUIET_HOMES:
            if not conn.execute("SELECT 1 FROM homes WHERE address = %s", (address,)).fetchone():
                home_id = add_home(conn, HomeIn(region_id=communities[community],
                                                address=address, notes="一楼，门口有台阶",
                                                grid=GRIDS[community][-1]))
                _person(conn, home_id, person)
        for address, community, grid, people in MORE_HOMES:
            if not conn.execute("SELECT 1 FROM homes WHERE address = %s", (address,)).fetchone():
                home_id = add_home(conn, HomeIn(region_id=communities[community],
                                                address=address, grid=GRIDS[community][grid]))
                for p in people:
                    _person(conn, home_id, p)
        logins = _logins(conn, credentials, communities)
        history.seed(conn, logins)
        return logins


def _region(conn: psycopg.Connection[Any], name: str, level: str, parent: int | None) -> int:
    """The region ``name`` of ``level`` under ``parent``, made when missing."""
    found = conn.execute("SELECT id FROM regions WHERE name = %s AND level = %s "
                         "AND parent_id IS NOT DISTINCT FROM %s", (name, level, parent)).fetchone()
    return int(found[0]) if found else add_region(
        conn, RegionIn(name=name, level=level, parent_id=parent))


def _person(conn: psycopg.Connection[Any], home_id: int, p: Person) -> int:
    """A resident, their contacts in call order, their status."""
    rid = add_resident(conn, ResidentIn(
        home_id=home_id, name=p.name, sex=p.sex, birth_date=p.born,
        care_tags=[CareTag(t) for t in p.care_tags], conditions=list(p.conditions),
        medications=list(p.medications), allergies=list(p.allergies),
        languages=list(p.languages)))
    consent.grant_all(conn, rid, p.name, "服务协议（演示）")
    for kin in p.contacts:
        add_contact(conn, ContactIn(resident_id=rid, name=kin.name, relation=kin.relation,
                                    phones=list(kin.phones), availability=kin.availability,
                                    has_key=kin.has_key))
    if p.status is not None:
        status, days, note = p.status
        set_status(conn, rid, StatusIn.model_validate({
            "status": status, "note": note,
            "until": datetime.now(UTC) + timedelta(days=days)}))
    return rid


def _home(conn: psycopg.Connection[Any], home: HomeProfile, scenario: Scenario,
          region: int) -> None:
    home_id = add_home(conn, HomeIn(region_id=region, address=home.address,
                                    key_safe_code=home.key_safe, notes="有电梯；门铃坏了请敲门",
                                    grid=GRIDS[home.community][0]))
    residents = {}
    for sim_resident, p in zip(scenario.resident, home.people, strict=False):
        residents[sim_resident.name] = _person(conn, home_id, p)
    add_gateway(conn, GatewayIn(id=home.gateway, home_id=home_id))
    only = next(iter(residents.values())) if len(residents) == 1 else None
    for d in scenario.device:
        add_device(conn, DeviceIn(uid=device_uid(d), gateway_id=home.gateway, model=d.model,
                                  label=d.name, resident_id=residents.get(d.resident or "", only)
                                  if d.kind.value in ("wearable", "panic_button") else None))


def _logins(conn: psycopg.Connection[Any], path: Path,
            communities: list[int]) -> dict[str, dict[str, str]]:
    """Generated at first run and kept in ``path``; users (re)created when missing, and their
    password reset to the file's when the database was seeded by another checkout or before
    the file was deleted: the logins printed are always the ones that work."""
    saved: dict[str, dict[str, str]] = json.loads(path.read_text()) if path.exists() else {}
    for key, username, display, role, where in LOGINS:
        entry = saved.setdefault(key, {"username": username, "password": generate_password()})
        if not conn.execute("SELECT 1 FROM users WHERE username = %s",
                            (entry["username"],)).fetchone():  # audited: the system made it
            add_user(conn, UserIn(username=entry["username"], display_name=display, role=role,
                                  password=entry["password"],
                                  regions=[communities[c] for c in where]))
        elif verify_password(conn, entry["username"], entry["password"]) is None:
            set_password(conn, entry["username"], entry["password"])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(saved, indent=2))
    path.chmod(0o600)
    return saved
