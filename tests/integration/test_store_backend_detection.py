"""Choosing the backend never breaks the connection, and works the same for a role that is
not a superuser (a production server's usual login)."""

from __future__ import annotations

import logging
import secrets
import shutil
import tempfile
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from kernel.services.postgres import (
    PrivateCluster,
    create_database,
    find_bin_dir,
    timescaledb_installed,
)
from server.store import (
    Backend,
    BackendChoice,
    BackendMismatch,
    apply_migrations,
    drop_schema,
    schema_backend,
    schema_conninfo,
)
from server.store.timescale import apache_only, extension_schema, preloaded
from tests.fixtures.database import no_timescale


def _admin(url: str) -> psycopg.Connection[Any]:
    return psycopg.connect(url, autocommit=True)


@pytest.fixture
def role(database_url: str) -> Iterator[str]:
    """A throw-away login role: no superuser, no CREATE on the database."""
    name = f"t_role_{secrets.token_hex(4)}"
    with _admin(database_url) as admin:
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER").format(sql.Identifier(name)))
    try:
        yield name
    finally:
        with _admin(database_url) as admin:
            admin.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
            admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


def _role_schema(url: str, role: str) -> Generator[str, None, None]:
    """A schema the role owns in the database at ``url``; the role's conninfo confined to it."""
    schema = f"t_{secrets.token_hex(6)}"
    with _admin(url) as admin:
        admin.execute(sql.SQL("CREATE SCHEMA {} AUTHORIZATION {}").format(
            sql.Identifier(schema), sql.Identifier(role)))
    try:
        yield schema_conninfo(make_conninfo(url, user=role), schema)
    finally:
        with _admin(url) as admin:
            drop_schema(admin, schema)


@pytest.fixture
def as_role(database_url: str, role: str) -> Iterator[str]:
    yield from _role_schema(database_url, role)


@pytest.fixture
def as_role_again(database_url: str, role: str) -> Iterator[str]:
    yield from _role_schema(database_url, role)


def test_a_role_without_superuser_sees_the_same_server(
        database_url: str, as_role: str, test_backend: Backend,
        timescale_unavailable: str | None, caplog: pytest.LogCaptureFixture) -> None:
    with _admin(database_url) as admin, psycopg.connect(as_role, autocommit=True) as conn:
        assert conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user"
                            ).fetchone() == (False,)
        assert preloaded(conn) is preloaded(admin)
        with caplog.at_level(logging.INFO, "server.store"):
            assert apply_migrations(conn)  # auto
        assert schema_backend(conn) is test_backend
        assert conn.execute("SELECT count(*) FROM acc_blocks").fetchone() == (0,)
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    if test_backend is Backend.TIMESCALE:
        assert warnings == []
    else:  # one warning naming the fix, unless TimescaleDB is simply not installed
        assert timescale_unavailable is not None
        assert warnings in ([], [f"{timescale_unavailable}; using plain PostgreSQL"])


def test_asking_for_timescaledb_as_such_a_role(
        as_role: str, as_role_again: str, test_backend: Backend,
        timescale_unavailable: str | None, caplog: pytest.LogCaptureFixture) -> None:
    """Built where the server offers it; refused with the reason (naming the fix) otherwise,
    and the connection still works."""
    with psycopg.connect(as_role, autocommit=True) as conn:
        if test_backend is Backend.TIMESCALE:
            apply_migrations(conn, BackendChoice.TIMESCALE)
            assert schema_backend(conn) is Backend.TIMESCALE
            return
        with pytest.raises(BackendMismatch) as refused, \
                caplog.at_level(logging.INFO, "server.store"):
            apply_migrations(conn, BackendChoice.TIMESCALE)
        assert "using plain" not in caplog.text  # it is not: it refuses
        assert timescale_unavailable is not None
        assert timescale_unavailable in str(refused.value)
        assert conn.execute("SELECT 1").fetchone() == (1,)
        assert schema_backend(conn) is None  # nothing chosen: a later start may still choose
    with psycopg.connect(as_role_again, autocommit=True) as conn:
        assert apply_migrations(conn, BackendChoice.PLAIN)
        assert schema_backend(conn) is Backend.PLAIN


@pytest.fixture
def database_without_extension(database_url: str, timescale_unavailable: str | None) -> str:
    """``test_no_timescaledb`` on the test server (TimescaleDB preloaded there): a database
    where the extension is not created. Kept between runs (dropping a database waits for a
    checkpoint: 20 s on a busy machine); only these tests use it, as roles that cannot create
    the extension."""
    if timescale_unavailable is not None:
        no_timescale(f"no TimescaleDB on the test database: {timescale_unavailable}")
    create_database(database_url, "test_no_timescaledb")
    url = make_conninfo(database_url, dbname="test_no_timescaledb")
    with _admin(url) as admin:
        assert extension_schema(admin) is None, "someone created timescaledb in " + url
    return url


@pytest.mark.timescale
def test_a_role_that_may_not_create_the_extension_falls_back_with_the_fix(
        database_without_extension: str, role: str, caplog: pytest.LogCaptureFixture) -> None:
    """TimescaleDB preloaded, the extension not yet created in this database, and a role
    without CREATE on it: ``auto`` builds plain with one warning, ``timescale`` refuses and
    says who has to create the extension."""
    schemas = [_role_schema(database_without_extension, role) for _ in range(2)]
    auto, wanted = (next(s) for s in schemas)
    try:
        with psycopg.connect(auto, autocommit=True) as conn, \
                caplog.at_level(logging.WARNING, "server.store"):
            assert preloaded(conn)
            apply_migrations(conn)
            assert schema_backend(conn) is Backend.PLAIN
        warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(warnings) == 1
        assert "CREATE EXTENSION timescaledb" in warnings[0].message
        with psycopg.connect(wanted, autocommit=True) as conn:
            with pytest.raises(BackendMismatch, match=r"superuser .* has to run CREATE"):
                apply_migrations(conn, BackendChoice.TIMESCALE)
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        for s in schemas:
            s.close()


@pytest.mark.timescale
@pytest.mark.slow
def test_a_private_cluster_preloads_timescaledb_and_its_apache_edition_is_not_used(
        caplog: pytest.LogCaptureFixture) -> None:
    """The Apache-2 edition (Timescale's ``-oss`` packages, or ``timescaledb.license =
    'apache'``) has no compression or continuous aggregates: ``auto`` builds plain with one
    warning naming the fix, ``timescale`` refuses with it."""
    bin_dir = find_bin_dir()
    if bin_dir is None or not timescaledb_installed(bin_dir):
        no_timescale("TimescaleDB is not installed beside PostgreSQL's server binaries")
    data = Path(tempfile.mkdtemp(prefix="pinganling-pg-apache-"))
    cluster = PrivateCluster(data, extra=("fsync = off", "timescaledb.license = 'apache'"),
                             timescaledb=True)
    try:
        cluster.start()
        assert cluster.preloads_timescaledb
        url = cluster.create_database("apache")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE SCHEMA wanted")
            with caplog.at_level(logging.WARNING, "server.store"):
                assert preloaded(conn)
                assert apache_only(conn)
                apply_migrations(conn)
            assert schema_backend(conn) is Backend.PLAIN
        warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(warnings) == 1
        assert "Apache-2 edition" in warnings[0].message
        with psycopg.connect(schema_conninfo(url, "wanted"), autocommit=True) as conn:
            with pytest.raises(BackendMismatch, match="Apache-2 edition"):
                apply_migrations(conn, BackendChoice.TIMESCALE)
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        cluster.stop()
        shutil.rmtree(data, ignore_errors=True)
