"""The demo's world: a street, its communities, three homes played by simulator scenarios, a
fourth whose gateway a newcomer provisions (``NEW_HOME``), and generated logins (kept in the
state directory, never in the repository)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import psycopg

from firmware_sim.scenarios import Scenario
from hardware.catalog import ble_uid, rf_uid
from server.alerts.model import Role
from server.auth.users import create_user, generate_password, set_password, verify_password
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
)

STREET, COMMUNITIES = "朝阳街道", ("幸福社区", "和平社区")
LOGINS = (("operator", "值班员 小张", Role.OPERATOR), ("supervisor", "班长 老李", Role.SUPERVISOR),
          ("technician", "安装员 小王", Role.TECHNICIAN), ("admin", "管理员", Role.ADMIN))


@dataclass(frozen=True, slots=True)
class Person:
    name: str
    sex: str
    born: date
    care_tags: tuple[CareTag, ...]
    conditions: tuple[str, ...] = ()
    medications: tuple[str, ...] = ()
    languages: tuple[str, ...] = ("普通话",)
    contacts: tuple[tuple[str, str, str], ...] = ()  # (name, relation, phone) in call order


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


HOMES = (
    HomeProfile("gw-demo-0001", "demo", "10:00", 0, "幸福路 8 号 3 单元 201", "2580", (
        Person("王秀英", "F", date(1941, 3, 2), ("高龄", "空巢"), ("高血压", "骨质疏松"),
               ("氨氯地平 5mg 每日一次",), ("普通话", "上海话"),
               (("王强", "儿子", "13800001001"), ("社区网格员 陈敏", "社区工作者", "13800001002"))),
        Person("李德明", "M", date(1938, 11, 20), ("高龄",), ("2 型糖尿病",), ("二甲双胍",),
               contacts=(("王强", "儿子", "13800001001"),)))),
    HomeProfile("gw-demo-0002", "day", "09:57", 0, "幸福路 12 号 1 单元 502", "1379", (
        Person("张桂兰", "F", date(1946, 6, 8), ("独居", "高龄"), ("冠心病",), ("阿司匹林",),
               contacts=(("张丽", "女儿", "13800002001"),
                         ("社区网格员 陈敏", "社区工作者", "13800001002"))),)),
    HomeProfile("gw-demo-0003", "quiet", "11:45", 1, "和平街 3 号 402", "8642", (
        Person("刘淑珍", "F", date(1950, 1, 15), ("独居", "失能"), ("中风后遗症",), ("华法林",),
               contacts=(("刘伟", "儿子", "13800003001"),)),)),
)


# Registered for its home, its gateway waiting for a claim: the demo prints the code and the
# command that provisions it (the gateway runs with the scenario's wrist band simulated).
NEW_HOME = HomeProfile("gw-demo-0004", "newhome", "08:00", 1, "和平街 9 号 1 单元 101", "3571", (
    Person("赵桂芳", "F", date(1945, 9, 12), ("独居", "高龄"), ("高血压",), ("硝苯地平",),
           contacts=(("赵磊", "儿子", "13800004001"),)),))
ALL_HOMES = (*HOMES, NEW_HOME)


def device_uid(device: Any) -> str:
    return rf_uid(device.id) if device.id is not None else ble_uid(device.address)


def seed(conn: psycopg.Connection[Any], scenarios: dict[str, Scenario],
         credentials: Path) -> dict[str, dict[str, str]]:
    """Create the world once (idempotent: a home whose gateway exists is not made again) and
    the logins; returns username/password per role. ``scenarios``: those of ``ALL_HOMES``."""
    with conn.transaction():
        found = conn.execute("SELECT id FROM regions WHERE name = %s AND level = '街道'",
                             (STREET,)).fetchone()
        street = found[0] if found else add_region(conn, RegionIn(name=STREET, level="街道"))
        communities = [_community(conn, street, name) for name in COMMUNITIES]
        for home in ALL_HOMES:
            if not conn.execute("SELECT 1 FROM gateways WHERE id = %s",
                                (home.gateway,)).fetchone():
                _home(conn, home, scenarios[home.scenario], communities[home.community])
        return _logins(conn, credentials)


def _community(conn: psycopg.Connection[Any], street: int, name: str) -> int:
    found = conn.execute("SELECT id FROM regions WHERE name = %s AND parent_id = %s",
                         (name, street)).fetchone()
    return int(found[0]) if found else add_region(
        conn, RegionIn(name=name, level="社区", parent_id=street))


def _home(conn: psycopg.Connection[Any], home: HomeProfile, scenario: Scenario,
          region: int) -> None:
    home_id = add_home(conn, HomeIn(region_id=region, address=home.address,
                                    key_safe_code=home.key_safe))
    residents = {}
    for sim_resident, p in zip(scenario.resident, home.people, strict=False):
        rid = add_resident(conn, ResidentIn(
            home_id=home_id, name=p.name, sex=p.sex, birth_date=p.born, care_tags=list(p.care_tags),
            conditions=list(p.conditions), medications=list(p.medications),
            languages=list(p.languages)))
        residents[sim_resident.name] = rid
        for order, (name, relation, phone) in enumerate(p.contacts, 1):
            add_contact(conn, ContactIn(resident_id=rid, name=name, relation=relation,
                                        phone=phone, call_order=order))
    add_gateway(conn, GatewayIn(id=home.gateway, home_id=home_id))
    only = next(iter(residents.values())) if len(residents) == 1 else None
    for d in scenario.device:
        add_device(conn, DeviceIn(uid=device_uid(d), gateway_id=home.gateway, model=d.model,
                                  label=d.name, resident_id=residents.get(d.resident or "", only)
                                  if d.kind.value in ("wearable", "panic_button") else None))


def _logins(conn: psycopg.Connection[Any], path: Path) -> dict[str, dict[str, str]]:
    """Generated at first run and kept in ``path``; users (re)created when missing, and their
    password reset to the file's when the database was seeded by another checkout or before
    the file was deleted: the logins printed are always the ones that work."""
    saved: dict[str, dict[str, str]] = json.loads(path.read_text()) if path.exists() else {}
    for username, display, role in LOGINS:
        entry = saved.setdefault(role.value, {"username": username,
                                              "password": generate_password()})
        if not conn.execute("SELECT 1 FROM users WHERE username = %s",
                            (entry["username"],)).fetchone():
            create_user(conn, entry["username"], display, role, entry["password"])
        elif verify_password(conn, entry["username"], entry["password"]) is None:
            set_password(conn, entry["username"], entry["password"])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(saved, indent=2))
    path.chmod(0o600)
    return saved
