"""The monthly service report on real PostgreSQL: two months of alarms (claimed and resolved
through the alert service, then backdated), visits, care calls, device health and residents
added, moved and deceased; every figure of the JSON, the XLSX read back and the CSV against
SQL counts of its own; the printable page; the area filter; the API and the CLI."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from kernel.contract import Topics
from kernel.services.broker import BrokerAddress
from server import monthly
from server.alerts import service
from server.alerts.context import Context
from server.alerts.model import AlertType, Outcome, Priority
from server.app import create_app
from server.care_calls import record_call
from server.care_calls.inputs import CallIn
from server.care_calls.model import Outcome as CallOutcome
from server.directory import CareTag, HomeIn, ResidentIn, StatusIn, add_home, add_resident
from server.directory.residents import set_status
from server.errors import NotFound
from server.monthly.figures import previous_month
from server.scope import ALL, Scope
from server.settings import Settings
from server.visits import make_plan, record_visit
from server.visits.inputs import VisitIn
from tests.fixtures.staff import bearer
from tests.fixtures.world import BUTTON, GATEWAY, PENDANT, World

THIS = (date.today().replace(day=1) - timedelta(days=1)).replace(day=1)  # last month
PREV = previous_month(THIS)
CLI = Path(sys.executable).parent / "pinganling"

# (type, priority, outcome or None for open, seconds to answer or None, escalated)
Spec = tuple[AlertType, Priority, Outcome | None, int | None, bool]
ALARMS: dict[date, list[Spec]] = {
    THIS: [(AlertType.PANIC, Priority.P1, Outcome.GENUINE, 30, False),
           (AlertType.PANIC, Priority.P1, Outcome.FALSE_ALARM, 100, True),
           (AlertType.FALL, Priority.P1, Outcome.ACCIDENTAL, 200, False),
           (AlertType.PANIC, Priority.P1, Outcome.TEST, 50, False),
           (AlertType.LOW_BATTERY, Priority.P3, Outcome.TECHNICAL, None, False),
           (AlertType.INACTIVITY, Priority.P2, None, None, True)],
    PREV: [(AlertType.PANIC, Priority.P1, Outcome.GENUINE, 45, False),
           (AlertType.FALL, Priority.P1, Outcome.FALSE_ALARM, 500, True)],
}


def at(month: date, day: int, hour: int = 10) -> datetime:
    return datetime(month.year, month.month, day, hour, tzinfo=UTC)


def _alarm(conn: psycopg.Connection[Any], world: World, region: int, home: int, resident: int,
           spec: Spec,
           opened: datetime) -> None:
    kind, priority, outcome, answer_s, escalated = spec
    ctx = Context(gateway_id=GATEWAY, device=BUTTON if kind != AlertType.INACTIVITY else PENDANT,
                  resident_id=resident, home_id=home, region_id=region)
    alert = service.raise_alert(conn, kind, priority, ctx).alert
    actor = world.supervisor.actor
    if answer_s is not None or outcome is not None:
        service.claim(conn, actor, alert.id, scope=ALL)
    if outcome is not None:
        service.resolve(conn, actor, alert.id, outcome, "", scope=ALL)
    conn.execute(
        "UPDATE alerts SET opened_at = %(o)s, claimed_at = %(a)s, answered_at = %(a)s, "
        "closed_at = CASE WHEN closed_at IS NULL THEN NULL ELSE %(o)s + interval '1 hour' END, "
        "escalated = %(e)s WHERE id = %(id)s",
        {"o": opened, "a": None if answer_s is None else opened + timedelta(seconds=answer_s),
         "e": escalated, "id": alert.id})


def _resident(conn: psycopg.Connection[Any], region: int, name: str,
              tags: list[CareTag]) -> tuple[int, int]:
    home = add_home(conn, HomeIn(region_id=region, address=f"{name}家"))
    return home, add_resident(conn, ResidentIn(home_id=home, name=name, care_tags=tags,
                                               phone="021-5555 0000"))


def build(conn: psycopg.Connection[Any], world: World) -> dict[str, int]:
    """Two months of the service in the world's community, and one alarm next door."""
    _, li = _resident(conn, world.community, "李桂兰", [CareTag.ALONE])
    _, zhao = _resident(conn, world.community, "赵德明", [CareTag.DISABLED, CareTag.AGED])
    other_home, other = _resident(conn, world.other_community, "孙大爷", [CareTag.ALONE])
    for month in (PREV, THIS):
        make_plan(conn, month)
        for day, spec in enumerate(ALARMS[month], start=2):
            _alarm(conn, world, world.community, world.home, world.resident, spec, at(month, day))
    _alarm(conn, world, world.other_community, other_home, other,
           (AlertType.PANIC, Priority.P1, Outcome.GENUINE, 20, False), at(THIS, 20))
    visitor = world.supervisor.actor
    for resident, month, home in ((world.resident, THIS, True), (li, THIS, False),
                                  (zhao, PREV, True), (li, PREV, True)):
        record_visit(conn, ALL, visitor, VisitIn(resident_id=resident, arrived_at=at(month, 12),
                                                 at_home=home), today=month)
    calls = ((world.resident, THIS, CallOutcome.WELL), (li, THIS, CallOutcome.CONCERN),
             (zhao, THIS, CallOutcome.NO_ANSWER), (other, THIS, CallOutcome.WELL),
             (li, PREV, CallOutcome.WELL))
    for resident, month, outcome in calls:
        made = record_call(conn, ALL, visitor, CallIn(resident_id=resident, outcome=outcome,
                                                      concern="没有米了" if outcome ==
                                                      CallOutcome.CONCERN else ""),
                           today=month)
        conn.execute("UPDATE care_calls SET called_at = %s WHERE id = %s",
                     (at(month, 15), made.call_id))
    # battery: the button replaced in this month (15 % → 95 %), the pendant only reports
    for device, month, day, pct in ((BUTTON, THIS, 3, 15), (BUTTON, THIS, 20, 95),
                                    (PENDANT, PREV, 5, 60), (BUTTON, PREV, 5, 18)):
        conn.execute("INSERT INTO device_health (ts, gateway_id, device, battery_pct) "
                     "VALUES (%s, %s, %s, %s)", (at(month, day), GATEWAY, device, pct))
    conn.execute("UPDATE devices SET paired_at = %s", (at(PREV, 1, 0),))
    # services: one new this month, one new last month; one moved away, one died
    _, new = _resident(conn, world.community, "周新来", [CareTag.AGED])
    conn.execute("UPDATE residents SET created_at = %s WHERE id = %s", (at(THIS, 8), new))
    conn.execute("UPDATE residents SET created_at = %s WHERE id = %s", (at(PREV, 8), zhao))
    set_status(conn, li, StatusIn(status="moved", since=at(THIS, 25)))
    set_status(conn, zhao, StatusIn(status="deceased", since=at(PREV, 28)))
    return {"li": li, "zhao": zhao, "other": other}


@pytest.fixture
def data(world: World) -> dict[str, int]:
    with world.connect() as conn:
        return build(conn, world)


def _month(column: str) -> str:
    return f"{column} >= %(m)s::date AND {column} < %(m)s::date + interval '1 month'"


def expected(conn: psycopg.Connection[Any], region: int, month: date) -> dict[str, Any]:
    """The figures counted directly, for a region without sub-regions."""
    p = {"m": month, "r": region}

    def one(query: str) -> Any:
        row = conn.execute(query, p).fetchone()
        assert row is not None
        return row[0]

    alerts = f"FROM alerts WHERE region_id = %(r)s AND {_month('opened_at')}"
    answerable = f"{alerts} AND priority IN ('P1', 'P2') AND state <> 'cancelled'"
    in60 = one(f"SELECT count(*) {answerable} AND answered_at - opened_at <= interval '60 s'")
    residents = "SELECT r.id FROM residents r JOIN homes h ON h.id = r.home_id " \
                "WHERE h.region_id = %(r)s"
    devices = "SELECT d.uid FROM devices d JOIN gateways g ON g.id = d.gateway_id " \
              "JOIN homes h ON h.id = g.home_id WHERE h.region_id = %(r)s"
    health = f"FROM device_health WHERE device IN ({devices}) AND {_month('ts')}"
    calls = f"FROM care_calls WHERE resident_id IN ({residents}) AND {_month('called_at')}"
    due = f"SELECT DISTINCT resident_id FROM visit_tasks WHERE kind = 'plan' AND " \
          f"month = %(m)s AND resident_id IN ({residents})"
    return {
        "alarms": one(f"SELECT count(*) {alerts}"),
        "by_type": dict(conn.execute(f"SELECT type, count(*) {alerts} GROUP BY 1", p).fetchall()),
        "genuine": one(f"SELECT count(*) {alerts} AND outcome = 'genuine'"),
        "false_alarm": one(f"SELECT count(*) {alerts} AND outcome = 'false_alarm'"),
        "accidental": one(f"SELECT count(*) {alerts} AND outcome = 'accidental'"),
        "test": one(f"SELECT count(*) {alerts} AND outcome = 'test'"),
        "open": one(f"SELECT count(*) {alerts} AND outcome IS NULL"),
        "escalations": one(f"SELECT count(*) {alerts} AND escalated"),
        "within_60s": round(in60 / one(f"SELECT count(*) {answerable}"), 4),
        "false_by_kind": dict(conn.execute(
            f"SELECT d.kind, count(*) FILTER (WHERE a.outcome = 'false_alarm') FROM alerts a "
            f"JOIN devices d ON d.uid = a.device WHERE a.region_id = %(r)s AND "
            f"{_month('a.opened_at')} GROUP BY 1", p).fetchall()),
        "devices": one(f"SELECT count(*) FROM ({devices}) x"),
        "reporting": one(f"SELECT count(DISTINCT device) {health}"),
        "replaced": one(
            f"SELECT count(*) FROM (SELECT device, min(ts) FILTER (WHERE battery_pct <= 20) lo, "
            f"max(ts) FILTER (WHERE battery_pct >= 80) hi {health} GROUP BY 1) x "
            f"WHERE lo < hi"),
        "visits_due": one(f"SELECT count(*) FROM ({due}) x"),
        "visits_done": one(f"SELECT count(*) FROM ({due}) d WHERE EXISTS (SELECT 1 FROM "
                           f"visits v WHERE v.resident_id = d.resident_id AND v.at_home AND "
                           f"{_month('v.arrived_at')})"),
        "calls": one(f"SELECT count(*) {calls}"),
        "answered": one(f"SELECT count(*) {calls} AND outcome <> 'no_answer'"),
        "concerns": one(f"SELECT count(*) {calls} AND outcome = 'concern'"),
        "new": one(f"SELECT count(*) FROM residents WHERE id IN ({residents}) AND "
                   f"{_month('created_at')}"),
        "ended": one(f"SELECT count(*) FROM residents WHERE id IN ({residents}) AND "
                     f"status IN ('moved', 'deceased') AND {_month('status_since')}"),
    }


def check(f: dict[str, Any], want: dict[str, Any]) -> None:
    assert f["alarms"] == want["alarms"] > 0
    assert f["by_type"] == want["by_type"]
    for outcome in ("genuine", "false_alarm", "accidental", "test", "open"):
        assert f["by_outcome"][outcome] == want[outcome], outcome
    assert sum(f["by_outcome"].values()) == want["alarms"]
    assert f["escalations"] == want["escalations"]
    assert f["answer"]["within_60s"] == want["within_60s"]
    assert {k["kind"]: k["false_alarms"] for k in f["false_alarms_by_kind"]} == \
        want["false_by_kind"]
    assert (f["devices"], f["devices_reporting"], f["battery_replacements"]) == \
        (want["devices"], want["reporting"], want["replaced"])
    assert (f["visits_due"], f["visits_done"]) == (want["visits_due"], want["visits_done"])
    assert want["visits_done"] > 0
    assert want["reporting"] > 0
    assert want["calls"] > 0
    assert (f["calls_made"], f["calls_answered"], f["calls_concerns"]) == \
        (want["calls"], want["answered"], want["concerns"])
    assert (f["residents_new"], f["residents_ended"]) == (want["new"], want["ended"])


def test_the_figures_are_the_sql_counts_for_both_months(world: World,
                                                         data: dict[str, int]) -> None:
    with world.connect() as conn:
        report = monthly.monthly_report(conn, ALL, THIS, world.community).as_dict()
        assert report["month"] == f"{THIS:%Y-%m}"
        assert report["area_name"] == "幸福社区"
        check(report["this"], expected(conn, world.community, THIS))
        check(report["previous"], expected(conn, world.community, PREV))
        # what the data was built to show, so the counts above are not all zeros
        this = report["this"]
        assert this["battery_replacements"] == 1
        assert this["residents_ended"] == 1
        assert this["calls_concerns"] == 1
        assert this["escalations"] == 2


def test_the_area_limits_everything_to_the_homes_under_it(world: World,
                                                         data: dict[str, int]) -> None:
    with world.connect() as conn:
        street = monthly.monthly_report(conn, ALL, THIS, world.street)
        community = monthly.monthly_report(conn, ALL, THIS, world.community)
        other = monthly.monthly_report(conn, ALL, THIS, world.other_community)
        assert street.this.alarms == community.this.alarms + other.this.alarms
        assert other.this.alarms == 1
        assert other.this.calls_made == 1
        assert street.this.calls_made == community.this.calls_made + 1
        # an operator of the other community asking for the street sees only theirs
        mine = monthly.monthly_report(conn, Scope((world.other_community,)), THIS, world.street)
        assert mine.this.alarms == 1
        with pytest.raises(NotFound) as refused:
            monthly.monthly_report(conn, Scope((world.other_community,)), THIS, world.community)
        assert refused.value.field == "area"
        with pytest.raises(NotFound):
            monthly.monthly_report(conn, ALL, THIS, 999_999)


def _sheet(book: Any, name: str) -> dict[str, tuple[Any, Any]]:
    return {row[0]: (row[1], row[2]) for row in book[name].iter_rows(min_row=3, values_only=True)}


def check_xlsx(content: bytes, conn: psycopg.Connection[Any], region: int) -> None:
    """The workbook's figures against SQL counts."""
    book = load_workbook(io.BytesIO(content))
    assert book.sheetnames == ["概况", "报警", "探访", "关爱电话", "设备"]
    now, before = expected(conn, region, THIS), expected(conn, region, PREV)
    alarms, visits = _sheet(book, "报警"), _sheet(book, "探访")
    calls, devices, summary = _sheet(book, "关爱电话"), _sheet(book, "设备"), _sheet(book, "概况")
    assert alarms["报警总数"] == (now["alarms"], before["alarms"])
    assert alarms["类型：紧急呼叫"] == (now["by_type"]["panic"], before["by_type"]["panic"])
    assert alarms["结果：真实紧急"] == (now["genuine"], before["genuine"])
    assert alarms["结果：误报"] == (now["false_alarm"], before["false_alarm"])
    assert alarms["升级次数"] == (now["escalations"], before["escalations"])
    assert visits["应探访人数"] == (now["visits_due"], before["visits_due"])
    assert visits["已探访人数"] == (now["visits_done"], before["visits_done"])
    assert calls["拨打次数"] == (now["calls"], before["calls"])
    assert calls["接通次数"] == (now["answered"], before["answered"])
    assert calls["发现问题"] == (now["concerns"], before["concerns"])
    assert devices["更换电池"] == (now["replaced"], before["replaced"])
    assert summary["新增服务对象"] == (now["new"], before["new"])
    assert summary["结束服务对象"] == (now["ended"], before["ended"])


def test_the_exports_carry_the_same_figures(world: World, data: dict[str, int]) -> None:
    with world.connect() as conn:
        report = monthly.monthly_report(conn, ALL, THIS, world.community)
        check_xlsx(monthly.to_xlsx(report), conn, world.community)
        raw = monthly.to_csv(report)
        assert raw.startswith("\ufeff".encode())
        table = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
        assert table[0] == ["栏目", "指标", "本月", "上月"]
        assert len(table) == len(monthly.rows(report)) + 1
        want = expected(conn, world.community, THIS)
        assert ["报警", "报警总数", str(want["alarms"]),
                str(expected(conn, world.community, PREV)["alarms"])] in table
        page = monthly.to_html(report)
        assert f"平安铃 月度服务报告 {THIS.year}年{THIS.month:02d}月 幸福社区" in page
        assert page.count("<svg") == 2
        assert "@page" in page


@pytest.fixture
def client(world: World, mqtt_broker: BrokerAddress, topics: Topics) -> Iterator[TestClient]:
    settings = Settings(database_url=world.schema.conninfo, mqtt_host=mqtt_broker.host,
                        mqtt_port=mqtt_broker.port, mqtt_root=topics.root, detectors=False)
    with TestClient(create_app(settings, ingest=False)) as c:
        yield c


def test_the_api_answers_each_format(world: World, data: dict[str, int],
                                     client: TestClient) -> None:
    sam = bearer(world, world.supervisor)
    url = f"/api/reports/monthly?month={THIS:%Y-%m}&area={world.community}"
    r = client.get(url, headers=sam)
    assert r.status_code == 200, r.text
    with world.connect() as conn:
        check(r.json()["this"], expected(conn, world.community, THIS))
        r = client.get(f"{url}&format=xlsx", headers=sam)
        assert r.status_code == 200
        assert "attachment" in r.headers["content-disposition"]
        check_xlsx(r.content, conn, world.community)
    r = client.get(f"{url}&format=csv", headers=sam)
    assert r.headers["content-type"].startswith("text/csv")
    assert r.content[:3] == b"\xef\xbb\xbf"
    r = client.get(f"{url}&format=html", headers=sam)
    assert r.headers["content-type"].startswith("text/html")
    assert "<svg" in r.text
    assert client.get(url, headers=bearer(world, world.operator)).status_code == 403
    r = client.get(f"/api/reports/monthly?month={THIS:%Y-%m}&area=999999", headers=sam)
    assert r.status_code == 404
    assert "area" in r.text
    assert client.get("/api/reports/monthly?month=2026-13", headers=sam).status_code == 422


def test_the_cli_writes_the_three_files(world: World, data: dict[str, int],
                                        tmp_path: Path) -> None:
    env = {**os.environ, "PINGANLING_DATABASE_URL": world.schema.conninfo}
    done = subprocess.run([str(CLI), "report", "--month", f"{THIS:%Y-%m}", "--area", "幸福社区",
                           "--out", str(tmp_path)], env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    names = {f"report-{THIS:%Y-%m}{s}" for s in (".csv", ".xlsx", ".html")}
    assert {p.name for p in tmp_path.iterdir()} == names
    assert all(str(tmp_path / n) in done.stdout for n in names)
    with world.connect() as conn:
        check_xlsx((tmp_path / f"report-{THIS:%Y-%m}.xlsx").read_bytes(), conn, world.community)
    refused = subprocess.run([str(CLI), "report", "--month", f"{THIS:%Y-%m}", "--area", "无此社区",
                              "--out", str(tmp_path / "x")], env=env, capture_output=True,
                             text=True, timeout=120, check=False)
    assert refused.returncode == 2
    assert "无此社区" in refused.stderr
