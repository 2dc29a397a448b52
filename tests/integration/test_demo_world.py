"""The demo's world and logins on real PostgreSQL: seeded once, and the printed logins work;
a month of simulated history behind it (every page has real content), seeded once."""

from __future__ import annotations

import json
import time
from datetime import date, timedelta
from pathlib import Path

from firmware_sim.scenarios import find_scenario
from pinganling.demo_world import ALL_HOMES, MORE_HOMES, QUIET_HOMES, seed
from server.auth.users import verify_password
from tests.fixtures.database import DbSchema

HISTORY = ("alerts", "alert_audit", "visit_tasks", "visits", "care_call_tasks", "care_calls",
           "care_call_campaigns", "residents", "users")


def test_the_printed_logins_work_even_when_another_checkout_seeded_the_database(
        db_schema: DbSchema, tmp_path: Path) -> None:
    scenarios = {h.scenario: find_scenario(h.scenario) for h in ALL_HOMES}
    with db_schema.connect(autocommit=True) as conn:
        started = time.monotonic()
        first = seed(conn, scenarios, tmp_path / "a" / "credentials.json")
        assert time.monotonic() - started < 10  # the demo starts promptly
        homes = conn.execute("SELECT count(*) FROM homes").fetchone()
        counts = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone() for t in HISTORY}
        # a second checkout (or a deleted .pinganling/) has its own credentials file
        second = seed(conn, scenarios, tmp_path / "b" / "credentials.json")
        assert conn.execute("SELECT count(*) FROM homes").fetchone() == homes == (
            len(ALL_HOMES) + len(QUIET_HOMES) + len(MORE_HOMES),)
        # seeding again adds no history
        assert {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone() for t in HISTORY} == counts
        # the residents page has real content: statuses, contacts with several numbers
        statuses = dict(conn.execute("SELECT status, count(*) FROM residents GROUP BY 1"))
        assert statuses["in_hospital"] == statuses["away"] == 1
        assert statuses["active"] >= 18
        assert conn.execute("SELECT count(DISTINCT region_id) FROM homes").fetchone() == (3,)
        assert conn.execute("SELECT count(*) FROM homes WHERE grid = ''").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM contacts WHERE cardinality(phones) > 1"
                            ).fetchone()[0] >= 2  # type: ignore[index]
        assert first["operator"]["password"] != second["operator"]["password"]
        assert {"visitor-1", "visitor-2"} <= set(second)
        for login in second.values():
            assert verify_password(conn, login["username"], login["password"]) is not None
        saved = json.loads((tmp_path / "b" / "credentials.json").read_text())
        assert saved == second
        assert (tmp_path / "b" / "credentials.json").stat().st_mode & 0o077 == 0


def test_a_month_of_history_is_seeded(db_schema: DbSchema, tmp_path: Path) -> None:
    scenarios = {h.scenario: find_scenario(h.scenario) for h in ALL_HOMES}
    with db_schema.connect(autocommit=True) as conn:
        seed(conn, scenarios, tmp_path / "credentials.json")
        first = date.today().replace(day=1)
        last_month = (first - timedelta(days=1)).replace(day=1)

        def one(query: str, *args: object) -> int:
            row = conn.execute(query, args).fetchone()
            assert row is not None
            return int(row[0])

        # visits last month: planned for the residents due, most made, some not at home
        assert one("SELECT count(DISTINCT resident_id) FROM visit_tasks WHERE month = %s",
                   last_month) >= 12
        assert one("SELECT count(*) FROM visits WHERE arrived_at >= %s AND arrived_at < %s "
                   "AND at_home", last_month, first) >= 12
        assert one("SELECT count(*) FROM visits WHERE NOT at_home") >= 1
        assert one("SELECT count(*) FROM visit_tasks WHERE kind = 'second_attempt'") >= 1
        assert one("SELECT count(*) FROM visit_tasks WHERE kind = 'follow_up'") >= 1
        # care calls last month, of every outcome
        assert one("SELECT count(*) FROM care_calls WHERE called_at >= %s AND called_at < %s",
                   last_month, first) >= 40
        assert one("SELECT count(DISTINCT outcome) FROM care_calls") == 3
        # resolved alerts of several types, answered in realistic times
        assert one("SELECT count(*) FROM alerts WHERE state = 'resolved' AND opened_at >= %s "
                   "AND opened_at < %s", last_month, first) >= 15
        assert one("SELECT count(DISTINCT type) FROM alerts WHERE state = 'resolved'") >= 4
        assert one("SELECT count(DISTINCT outcome) FROM alerts WHERE state = 'resolved'") >= 4
        assert one("SELECT count(*) FROM alerts WHERE answered_at - opened_at > "
                   "interval '10 minutes' AND priority = 'P1'") == 0
        assert one("SELECT count(*) FROM alerts WHERE escalated") >= 1
        assert one("SELECT count(*) FROM care_call_campaigns") == 1
        # nothing happens in the future, and the history is in the past
        assert one("SELECT count(*) FROM visits WHERE arrived_at > now()") == 0
        assert one("SELECT count(*) FROM care_calls WHERE called_at > now()") == 0
