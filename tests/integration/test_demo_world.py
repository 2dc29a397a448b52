"""The demo's world and logins on real PostgreSQL: seeded once, and the printed logins work."""

from __future__ import annotations

import json
from pathlib import Path

from firmware_sim.scenarios import find_scenario
from pinganling.demo_world import ALL_HOMES, QUIET_HOMES, seed
from server.auth.users import verify_password
from tests.fixtures.database import DbSchema


def test_the_printed_logins_work_even_when_another_checkout_seeded_the_database(
        db_schema: DbSchema, tmp_path: Path) -> None:
    scenarios = {h.scenario: find_scenario(h.scenario) for h in ALL_HOMES}
    with db_schema.connect(autocommit=True) as conn:
        first = seed(conn, scenarios, tmp_path / "a" / "credentials.json")
        homes = conn.execute("SELECT count(*) FROM homes").fetchone()
        # a second checkout (or a deleted .pinganling/) has its own credentials file
        second = seed(conn, scenarios, tmp_path / "b" / "credentials.json")
        assert conn.execute("SELECT count(*) FROM homes").fetchone() == homes == (
            len(ALL_HOMES) + len(QUIET_HOMES),)
        # the residents page has real content: statuses, contacts with several numbers
        assert dict(conn.execute("SELECT status, count(*) FROM residents GROUP BY 1")) == {
            "active": 5, "in_hospital": 1, "away": 1}  # one in the home waiting for its gateway
        assert conn.execute("SELECT count(*) FROM contacts WHERE cardinality(phones) > 1"
                            ).fetchone()[0] >= 2  # type: ignore[index]
        assert first["operator"]["password"] != second["operator"]["password"]
        for login in second.values():
            assert verify_password(conn, login["username"], login["password"]) is not None
        saved = json.loads((tmp_path / "b" / "credentials.json").read_text())
        assert saved == second
        assert (tmp_path / "b" / "credentials.json").stat().st_mode & 0o077 == 0
