"""一屏 the dashboard on real PostgreSQL: its figures are the counts the tables hold (on a hand-
made world, and on the demo's world with its month of history, against independent SQL), and
each caller sees their own communities only."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from firmware_sim.scenarios import find_scenario
from kernel.contract import Topics
from kernel.services.broker import BrokerAddress
from pinganling.demo_world import ALL_HOMES, seed
from server.alerts import service
from server.alerts.context import Context, gateway_context, resident_context
from server.alerts.model import Actor, AlertType, Outcome, Priority, Role
from server.app import create_app
from server.auth.users import create_user, get_user
from server.care_calls import CallIn, record_call
from server.care_calls import Outcome as CallOutcome
from server.care_calls.model import CallKind
from server.care_calls.schedule import open_task
from server.dashboard import Dashboard, dashboard
from server.directory import CareTag, HomeIn, ResidentIn, add_home, add_resident
from server.scope import ALL, Scope
from server.settings import Settings
from server.visits import TaskKind, VisitIn, record_visit
from server.visits.tasks import add_task
from tests.fixtures.database import DbSchema
from tests.fixtures.staff import bearer
from tests.fixtures.world import BUTTON, CORD, GATEWAY, PASSWORD, World

TODAY = date.today()


def _resident(conn: psycopg.Connection[Any], region: int, name: str, tags: list[CareTag],
              status: str = "active") -> int:
    home = add_home(conn, HomeIn(region_id=region, address=f"{name}家"))
    rid = add_resident(conn, ResidentIn(home_id=home, name=name, care_tags=tags))
    conn.execute("UPDATE residents SET status = %s WHERE id = %s", (status, rid))
    return rid


def test_the_figures_of_a_world(world: World) -> None:
    with world.connect() as conn:
        operator = Actor(world.operator.id, "Alice", Role.OPERATOR)
        other = _resident(conn, world.other_community, "林桂英", [CareTag.ALONE])
        _resident(conn, world.community, "搬走了", [CareTag.ALONE], status="moved")
        # devices: one heard just now, one silent, one never heard; the gateway online
        conn.execute("UPDATE gateways SET state = 'online', state_since = now()")
        conn.execute("UPDATE devices SET last_seen = now() WHERE uid IN (%s, %s)",
                     (BUTTON, CORD))
        conn.execute("UPDATE devices SET silent_since = now() WHERE uid = %s", (CORD,))
        # alerts: a P1 and a P3 open, one resolved, one nobody could place
        service.raise_alert(conn, AlertType.PANIC, Priority.P1,
                            resident_context(conn, world.resident))
        service.raise_alert(conn, AlertType.LOW_BATTERY, Priority.P3,
                            gateway_context(conn, GATEWAY))
        done = service.raise_alert(conn, AlertType.FALL, Priority.P1,
                                   resident_context(conn, other)).alert
        service.claim(conn, operator, done.id, scope=ALL)
        service.resolve(conn, operator, done.id, Outcome.ACCIDENTAL, scope=ALL)
        service.raise_alert(conn, AlertType.PANIC, Priority.P1, Context())
        # visits: one overdue, one due today and made, one tomorrow (not today's)
        add_task(conn, world.resident, TaskKind.PLAN, TODAY - timedelta(days=1))
        made = add_task(conn, other, TaskKind.PLAN, TODAY)
        add_task(conn, world.resident, TaskKind.FOLLOW_UP, TODAY + timedelta(days=1))
        record_visit(conn, ALL, operator, VisitIn(resident_id=other, task_id=made,
                                                  at_home=True))
        # calls: one due, one answered, one unanswered (its retry is due today)
        open_task(conn, world.resident, CallKind.SCHEDULE, TODAY)
        task = open_task(conn, other, CallKind.SCHEDULE, TODAY)
        record_call(conn, ALL, operator, CallIn(resident_id=other, task_id=task,
                                                outcome=CallOutcome.WELL))
        record_call(conn, ALL, operator, CallIn(resident_id=world.resident,
                                                outcome=CallOutcome.NO_ANSWER))

        board = dashboard(conn, ALL)
        mine, theirs = (c.figures for c in board.communities)
        assert [c.name for c in board.communities] == ["幸福社区", "和平社区"]
        assert board.communities[0].street == "朝阳街道"
        assert mine.alerts == {"P1": 1, "P2": 0, "P3": 1}
        assert theirs.alerts["P1"] == 0
        assert board.unassigned_alerts == 1
        assert (mine.elders, theirs.elders, board.total.elders) == (1, 1, 2)
        assert board.total.tags == {"高龄": 1, "独居": 2}
        assert (mine.devices, mine.devices_online, mine.gateways, mine.gateways_online) == \
            (3, 1, 1, 1)
        assert (mine.visits_due, mine.visits_done, theirs.visits_due, theirs.visits_done) == \
            (1, 0, 1, 1)
        # 王秀英: her scheduled call and the retry after no answer; 林桂英: answered
        assert (mine.calls_due, mine.calls_made, mine.calls_answered) == (2, 1, 0)
        assert (theirs.calls_due, theirs.calls_made, theirs.calls_answered) == (1, 1, 1)
        assert board.total.calls_made == 2

        # an operator of the other community sees it alone, and not the first's alerts
        olga = dashboard(conn, Scope.of(world.outsider), unassigned=False)
        assert [c.name for c in olga.communities] == ["和平社区"]
        assert olga.total.elders == 1
        assert olga.total.alerts["P1"] == 0
        assert olga.unassigned_alerts == 0


def _one(conn: psycopg.Connection[Any], query: str, region: int) -> int:
    row = conn.execute(query, {"r": region, "today": TODAY}).fetchone()
    assert row is not None
    return int(row[0])


_BY_HOME = "JOIN residents r ON r.id = x.resident_id JOIN homes h ON h.id = r.home_id " \
           "WHERE h.region_id = %(r)s AND "
INDEPENDENT = {
    "elders": "SELECT count(*) FROM residents r JOIN homes h ON h.id = r.home_id WHERE "
              "h.region_id = %(r)s AND r.status IN ('active', 'away', 'in_hospital')",
    "visits_done": "SELECT count(*) FROM visits x " + _BY_HOME +
                   "(x.arrived_at AT TIME ZONE current_setting('TimeZone'))::date = %(today)s",
    "visits_due": "SELECT count(*) FROM visit_tasks x " + _BY_HOME + "x.due_on <= %(today)s "
                  "AND (x.status = 'open' OR date(x.closed_at) = %(today)s)",
    "calls_made": "SELECT count(*) FROM care_calls x " + _BY_HOME + "date(x.called_at) = "
                  "%(today)s",
    "calls_answered": "SELECT count(*) FROM care_calls x " + _BY_HOME + "date(x.called_at) = "
                      "%(today)s AND x.outcome IN ('well', 'concern')",
    "calls_due": "SELECT count(*) FROM care_call_tasks x " + _BY_HOME + "x.due_on <= %(today)s "
                 "AND (x.status = 'open' OR date(x.closed_at) = %(today)s)",
    "gateways": "SELECT count(*) FROM gateways g JOIN homes h ON h.id = g.home_id "
                "WHERE h.region_id = %(r)s",
    "devices": "SELECT count(*) FROM devices d JOIN gateways g ON g.id = d.gateway_id JOIN homes "
               "h ON h.id = g.home_id WHERE h.region_id = %(r)s AND d.unpaired_at IS NULL",
}


def test_the_demo_world_with_its_history(db_schema: DbSchema, tmp_path: Path) -> None:
    scenarios = {h.scenario: find_scenario(h.scenario) for h in ALL_HOMES}
    with db_schema.connect(autocommit=True) as conn:
        seed(conn, scenarios, tmp_path / "credentials.json")
        board = dashboard(conn, ALL)
        assert len(board.communities) == 3
        for c in board.communities:
            for name, query in INDEPENDENT.items():
                assert getattr(c.figures, name) == _one(conn, query, c.id), (c.name, name)
            for p in ("P1", "P2", "P3"):
                assert c.figures.alerts[p] == _one(
                    conn, "SELECT count(*) FROM alerts WHERE region_id = %(r)s AND state IN "
                    f"('open', 'claimed', 'dispatched') AND priority = '{p}'", c.id)
        # the history makes today's page busy: visits due (some overdue), residents by tag
        assert board.total.visits_due > 0
        assert board.total.elders >= 18
        assert len(board.total.tags) >= 8
        assert board.total.alerts == {"P1": 0, "P2": 0, "P3": 0}  # history is all closed


@pytest.fixture
def client(world: World, mqtt_broker: BrokerAddress, topics: Topics) -> Iterator[TestClient]:
    settings = Settings(database_url=world.schema.conninfo, mqtt_host=mqtt_broker.host,
                        mqtt_port=mqtt_broker.port, mqtt_root=topics.root, detectors=False)
    with TestClient(create_app(settings, ingest=False)) as c:
        yield c


def test_the_api_is_confined_to_the_callers_regions(world: World, client: TestClient) -> None:
    with world.connect() as conn:
        service.raise_alert(conn, AlertType.PANIC, Priority.P1,
                            resident_context(conn, world.resident))
        tech = get_user(conn, create_user(conn, "tina", "Tina", Role.TECHNICIAN, PASSWORD,
                                          regions=(world.community,)))
        assert tech is not None
    body = client.get("/api/dashboard", headers=bearer(world, world.operator)).json()
    assert [c["name"] for c in body["communities"]] == ["幸福社区"]
    assert body["total"]["alerts"]["P1"] == 1
    assert body["total"]["elders"] == 1
    assert set(body) == {f for f in Dashboard.__dataclass_fields__}
    body = client.get("/api/dashboard", headers=bearer(world, world.outsider)).json()
    assert [c["name"] for c in body["communities"]] == ["和平社区"]
    assert body["total"]["alerts"]["P1"] == 0
    assert client.get("/api/dashboard", headers=bearer(world, tech)).status_code == 403
    assert client.get("/api/dashboard").status_code == 401
