"""Migrations: versions recorded with checksums, idempotent, serialised across processes."""

from __future__ import annotations

import re
import secrets
import shutil
import threading
from importlib import resources
from pathlib import Path
from typing import Any

import psycopg
import pydantic
import pytest
from psycopg import sql

from kernel import contract
from server.directory import ResidentIn
from server.directory.care_tags import CareTag
from server.store import (
    Backend,
    BackendChoice,
    BackendMismatch,
    ChecksumMismatch,
    apply_migrations,
    insert_events,
    insert_server_event,
    schema_backend,
    schema_conninfo,
)
from server.store.events import variant
from server.store.migrations import load_migrations
from tests.fixtures.database import DbSchema

SQL_DIR = Path(str(resources.files("server.store.sql")))
TABLES = {"regions", "homes", "residents", "contacts", "gateways", "gateway_presence",
          "devices", "events", "acc_blocks", "vitals", "activity_minute", "device_health",
          "schema_migrations"}


@pytest.fixture
def empty_schema(database_url: str) -> Any:
    name = "t_empty_" + secrets.token_hex(4)
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    yield schema_conninfo(database_url, name)
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))


def test_applies_every_version_once_and_records_it(empty_schema: str) -> None:
    expected = list(load_migrations())
    with psycopg.connect(empty_schema) as conn:
        assert apply_migrations(conn, BackendChoice.PLAIN) == expected
        assert apply_migrations(conn, BackendChoice.PLAIN) == []
        rows = conn.execute("SELECT version, name, backend, checksum FROM schema_migrations"
                            " ORDER BY version").fetchall()
    files = load_migrations()
    assert [r[0] for r in rows] == expected
    for version, name, backend, checksum in rows:
        migration = files[version].get(None) or files[version][Backend(backend)]
        assert (name, checksum) == (migration.name, migration.checksum)


def test_everything_lands_in_the_search_path_schema(plain_schema: DbSchema) -> None:
    with plain_schema.connect() as conn:
        tables = {r[0] for r in conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND c.relkind IN ('r', 'p')", (plain_schema.name,))}
    assert tables >= TABLES


def test_refuses_when_an_applied_file_changed(empty_schema: str, tmp_path: Path) -> None:
    source = tmp_path / "sql"
    shutil.copytree(SQL_DIR, source)
    with psycopg.connect(empty_schema) as conn:
        apply_migrations(conn, BackendChoice.PLAIN, source=source)
        core = source / "0001_core.sql"
        core.write_text(core.read_text() + "\n-- edited after it was applied\n")
        with pytest.raises(ChecksumMismatch, match="0001"):
            apply_migrations(conn, BackendChoice.PLAIN, source=source)


def test_applies_only_new_versions(empty_schema: str, tmp_path: Path) -> None:
    source = tmp_path / "sql"
    shutil.copytree(SQL_DIR, source)
    with psycopg.connect(empty_schema) as conn:
        apply_migrations(conn, BackendChoice.PLAIN, source=source)
        (source / "0099_probe.sql").write_text("CREATE TABLE probe (id int);")
        assert apply_migrations(conn, BackendChoice.PLAIN, source=source) == [99]
        assert conn.execute("SELECT to_regclass('probe') IS NOT NULL").fetchone() == (True,)


def test_failed_migration_leaves_no_trace(empty_schema: str, tmp_path: Path) -> None:
    source = tmp_path / "sql"
    shutil.copytree(SQL_DIR, source)
    (source / "0099_broken.sql").write_text("CREATE TABLE half (id int); SELECT 1/0;")
    with psycopg.connect(empty_schema) as conn:
        with pytest.raises(Exception, match="0099"):
            apply_migrations(conn, BackendChoice.PLAIN, source=source)
        assert conn.execute("SELECT to_regclass('half')").fetchone() == (None,)
        versions = {r[0] for r in conn.execute("SELECT version FROM schema_migrations")}
    assert 99 not in versions
    assert versions == set(load_migrations())


def test_two_processes_at_once_apply_each_version_exactly_once(empty_schema: str) -> None:
    barrier = threading.Barrier(2)
    results: list[list[int]] = []

    def start() -> None:  # an exception here fails the test (pytest reports thread errors)
        with psycopg.connect(empty_schema) as conn:
            barrier.wait()
            results.append(apply_migrations(conn, BackendChoice.PLAIN))

    threads = [threading.Thread(target=start) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results, key=len) == [[], list(load_migrations())]


def test_recorded_backend_is_kept(plain_schema: DbSchema) -> None:
    with plain_schema.connect(autocommit=True) as conn:
        assert schema_backend(conn) is Backend.PLAIN
        assert apply_migrations(conn) == []  # auto follows the recorded choice
        with pytest.raises(BackendMismatch):
            apply_migrations(conn, BackendChoice.TIMESCALE)


def test_care_tags_are_one_vocabulary_the_service_checks(plain_db: psycopg.Connection[Any]) -> None:
    """The vocabulary is server/directory/care_tags.py alone: no copy in a CHECK constraint
    (0013 dropped it) to drift from it; the directory's input model refuses other tags."""
    assert plain_db.execute(
        "SELECT 1 FROM pg_constraint WHERE conname = 'residents_care_tags_allowed'"
        " AND connamespace = current_schema()::regnamespace").fetchone() is None
    tagged = ResidentIn.model_validate({"home_id": 1, "name": "王", "care_tags": ["高龄", "独居"]})
    assert tagged.care_tags == [
        CareTag.AGED, CareTag.ALONE]
    with pytest.raises(pydantic.ValidationError, match="care_tags"):
        ResidentIn.model_validate({"home_id": 1, "name": "李", "care_tags": ["高龄", "VIP"]})


def test_gateway_id_check_is_the_contract_pattern(plain_db: psycopg.Connection[Any]) -> None:
    definition = plain_db.execute(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE conname = 'gateways_id_format'"
        " AND connamespace = current_schema()::regnamespace").fetchone()
    assert definition is not None
    assert contract.GATEWAY_ID_RE.pattern in definition[0]


def _table_bodies(text: str) -> dict[str, str]:
    bodies = re.findall(r"CREATE TABLE (\w+) \((.*?)\n\)", text, flags=re.S)
    return {name: body for name, body in bodies}


def test_time_series_columns_match_on_both_backends() -> None:
    plain = _table_bodies((SQL_DIR / "0002_timeseries.plain.sql").read_text())
    timescale = _table_bodies((SQL_DIR / "0002_timeseries.timescale.sql").read_text())
    shared = {"acc_blocks", "vitals", "activity_minute", "device_health"}
    assert shared <= plain.keys()
    assert shared <= timescale.keys()
    for table in shared:
        assert plain[table] == timescale[table], table


def test_event_identity_migration_keeps_legacy_rows_and_takes_new_ones(
        empty_schema: str, tmp_path: Path) -> None:
    """0009: rows stored before incarnations keep their ids and links; new ids, legacy ids and
    conflict ids all insert afterwards."""
    before = tmp_path / "sql"
    shutil.copytree(SQL_DIR, before)
    for later in before.glob("00[1-9][0-9]_*.sql"):
        later.unlink()
    (before / "0009_event_identity.sql").unlink()
    with psycopg.connect(empty_schema, autocommit=True) as conn:
        apply_migrations(conn, source=before)
        assert max(r[0] for r in conn.execute("SELECT version FROM schema_migrations")) == 8
        conn.execute("INSERT INTO gateways (id) VALUES ('gw-old-0001')")
        for n in (1, 2):
            conn.execute("INSERT INTO events (id, gateway_id, n, device, type, ts, received_at)"
                         " VALUES (%s, 'gw-old-0001', %s, 'rf-0a1b2c3d', 'press', now(), now())",
                         (f"gw-old-0001:{n}", n))
        server_event = insert_server_event(conn, "gw-old-0001", "rf-0a1b2c3d",
                                           contract.EventType.DEVICE_SILENT, 1.7e9)
        alert = conn.execute("INSERT INTO alerts (type, priority, correlation, title) VALUES"
                             " ('panic', 'P1', 'x', 't') RETURNING id").fetchone()
        assert alert is not None
        conn.execute("INSERT INTO alert_events VALUES (%s, 'gw-old-0001:1')", alert)

        assert apply_migrations(conn)[0] == 9  # and any later ones
        rows = conn.execute("SELECT id, incarnation, variant, source FROM events ORDER BY id")
        assert rows.fetchall() == [("gw-old-0001:1", "", None, "gateway"),
                                   ("gw-old-0001:2", "", None, "gateway"),
                                   (server_event.id, "", None, "server")]
        assert conn.execute("SELECT event_id FROM alert_events").fetchall() == [
            ("gw-old-0001:1",)]

        inc = "a1b2c3d4e5f6"
        new = contract.Event(id=contract.event_id("gw-old-0001", inc, 1), gw="gw-old-0001",
                             inc=inc, n=1, ts=1.7e9, device="rf-0a1b2c3d",
                             type=contract.EventType.PRESS)
        legacy = new.model_copy(update={"id": "gw-old-0001:2", "inc": None, "n": 2})
        stored = insert_events(conn, [new, legacy], 1.7e9)
        assert [e.id for e in stored.new] == [new.id, f"gw-old-0001:2~{variant(legacy)}"]
        assert stored.conflicts == 1, "legacy id 2 is stored with another time: a conflict"
        assert insert_server_event(conn, "gw-old-0001", "rf-0a1b2c3d",
                                   contract.EventType.DEVICE_SILENT, 1.7e9).id.startswith("srv:")
        with pytest.raises(psycopg.errors.CheckViolation):  # the id must still match its columns
            conn.execute("INSERT INTO events (id, gateway_id, incarnation, n, device, type, ts,"
                         " received_at) VALUES ('gw-old-0001:3', 'gw-old-0001', %s, 3,"
                         " 'rf-0a1b2c3d', 'press', now(), now())", (inc,))
