"""PostgreSQL: the configured server, else the one on localhost, else a private cluster.

A private cluster uses Debian's server binaries (``/usr/lib/postgresql/<v>/bin``), installing
the ``postgresql`` package when running as root and it is absent. ``initdb`` refuses to run
as root, so as root the cluster runs as the ``postgres`` system user on a data directory it
owns. It listens on 127.0.0.1 only, with trust authentication: for development and tests.
Asked to (``timescaledb=True``), it preloads TimescaleDB when the library is installed beside
those binaries, so the extension can be created in it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pwd
import re
import shutil
import stat
import subprocess
from pathlib import Path
from types import TracebackType

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from kernel.services.system import ensure_binary, free_port, reachable

log = logging.getLogger(__name__)

DEFAULT_DATABASE = "pinganling"
SUPERUSER = "postgres"
_VERSIONS = range(20, 12, -1)


class PostgresServiceError(RuntimeError):
    """A private cluster could not be set up, started or stopped."""


def find_bin_dir() -> Path | None:
    """The newest ``/usr/lib/postgresql/<v>/bin`` with initdb, or initdb's dir on PATH."""
    def version(p: Path) -> int:
        return int(p.parent.name) if p.parent.name.isdigit() else 0

    dirs = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version, reverse=True)
    for d in dirs:
        if (d / "initdb").is_file() and (d / "pg_ctl").is_file():
            return d
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path else None


def ensure_bin_dir() -> Path:
    """Like ``ensure_binary``: install Debian's ``postgresql`` as root when missing."""
    found = find_bin_dir()
    if found:
        return found
    extra = tuple(f"/usr/lib/postgresql/{v}/bin" for v in _VERSIONS)
    return Path(ensure_binary("initdb", "postgresql", extra_dirs=extra)).parent


def timescaledb_installed(bin_dir: Path) -> bool:
    """Whether TimescaleDB's library and extension files are installed for these binaries."""
    def where(option: str, default: Path) -> Path:
        try:
            done = subprocess.run([str(bin_dir / "pg_config"), option], capture_output=True,
                                  text=True, timeout=10, check=True, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.SubprocessError):
            return default
        return Path(done.stdout.strip())

    lib = where("--pkglibdir", bin_dir.parent / "lib")
    share = where("--sharedir", Path("/usr/share/postgresql") / bin_dir.parent.name)
    return (lib / "timescaledb.so").is_file() and \
        (share / "extension" / "timescaledb.control").is_file()


class PrivateCluster:
    """A PostgreSQL cluster owned by us: initdb on first start, start, stop."""

    def __init__(self, data_dir: Path, port: int | None = None,
                 extra: tuple[str, ...] = (), *, timescaledb: bool = False) -> None:
        self.data_dir = data_dir.resolve()
        self.port = port or free_port()
        self.extra = extra  # extra postgresql.conf lines, e.g. "fsync = off" for tests
        self.timescaledb = timescaledb  # preload it when installed
        self.preloads_timescaledb = False  # whether the running server was started so
        self.started = False

    def url(self, dbname: str = "postgres") -> str:
        return make_conninfo(host="127.0.0.1", port=self.port, user=SUPERUSER, dbname=dbname)

    def start(self, timeout: float = 60.0) -> PrivateCluster:
        bin_dir = ensure_bin_dir()
        self._prepare_dir()
        if not (self.data_dir / "PG_VERSION").exists():
            self._run([str(bin_dir / "initdb"), "-D", str(self.data_dir), "-U", SUPERUSER,
                       "--auth=trust", "-E", "UTF8", "--no-locale"], timeout)
        running = self._running_port()
        if running is not None:
            log.info("private PostgreSQL already running on port %d", running)
            self.port = running
        else:
            self._write_conf(bin_dir)
            self._run([str(bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-l",
                       str(self.data_dir / "postgres.log"), "-w", "-t", str(int(timeout)),
                       "start"], timeout + 5)
        self.started = True
        log.info("private PostgreSQL on port %d (data in %s)", self.port, self.data_dir)
        return self

    def stop(self, timeout: float = 60.0) -> None:
        """Fast shutdown (rolls back open transactions, checkpoints, exits)."""
        if self._running_port() is None:
            self.started = False
            return
        bin_dir = ensure_bin_dir()
        self._run([str(bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w",
                   "-t", str(int(timeout)), "stop"], timeout + 5)
        self.started = False

    def create_database(self, name: str) -> str:
        """Create database ``name`` when missing; return its URL."""
        create_database(self.url(), name)
        return self.url(name)

    def _prepare_dir(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        if os.geteuid() != 0:
            return
        user = _postgres_user()
        for parent in self.data_dir.parents:
            if not _traversable(parent, user):
                raise PostgresServiceError(
                    f"{parent} is not searchable by the '{SUPERUSER}' user, so it cannot reach "
                    f"{self.data_dir}; choose a data directory under a world-searchable path")
        for path in [self.data_dir, *self.data_dir.rglob("*")]:
            os.lchown(path, user.pw_uid, user.pw_gid)

    def _write_conf(self, bin_dir: Path) -> None:
        include = "include_if_exists = 'pinganling.conf'\n"
        main = self.data_dir / "postgresql.conf"
        if include not in main.read_text():
            with main.open("a") as f:
                f.write("\n" + include)
        lines = [f"port = {self.port}", "listen_addresses = '127.0.0.1'",
                 "unix_socket_directories = ''"]
        self.preloads_timescaledb = self.timescaledb and timescaledb_installed(bin_dir)
        if self.preloads_timescaledb:
            lines += ["shared_preload_libraries = 'timescaledb'",
                      "timescaledb.telemetry_level = off"]
        elif self.timescaledb:
            log.info("TimescaleDB is not installed for %s; the private cluster is plain "
                     "PostgreSQL", bin_dir)
        lines += self.extra
        conf = self.data_dir / "pinganling.conf"
        conf.write_text("\n".join(lines) + "\n")
        if os.geteuid() == 0:
            user = _postgres_user()
            os.chown(conf, user.pw_uid, user.pw_gid)

    def _running_port(self) -> int | None:
        """Port of a live postmaster of this data dir (from postmaster.pid), else None."""
        pid_file = self.data_dir / "postmaster.pid"
        try:
            lines = pid_file.read_text().splitlines()
            os.kill(int(lines[0]), 0)
            return int(lines[3])
        except (OSError, ValueError, IndexError):
            return None

    def _run(self, args: list[str], timeout: float) -> None:
        if os.geteuid() == 0:
            args = ["runuser", "-u", SUPERUSER, "--", *args]
        try:
            done = subprocess.run(args, capture_output=True, text=True, timeout=timeout,
                                  check=False, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as exc:
            raise PostgresServiceError(f"{args[-1]} timed out after {timeout}s") from exc
        if done.returncode != 0:
            raise PostgresServiceError(
                f"{' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}"
                f"{self._log_tail()}")

    def _log_tail(self) -> str:
        path = self.data_dir / "postgres.log"
        return "\n" + "\n".join(path.read_text().splitlines()[-5:]) if path.exists() else ""

    def __enter__(self) -> PrivateCluster:
        return self if self.started else self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def _postgres_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(SUPERUSER)
    except KeyError:
        raise PostgresServiceError(
            f"initdb refuses to run as root and there is no '{SUPERUSER}' user; "
            "install Debian's postgresql package or run as a non-root user") from None


def _traversable(path: Path, user: pwd.struct_passwd) -> bool:
    st = path.stat()
    if st.st_uid == user.pw_uid:
        return bool(st.st_mode & stat.S_IXUSR)
    if st.st_gid == user.pw_gid:
        return bool(st.st_mode & stat.S_IXGRP)
    return bool(st.st_mode & stat.S_IXOTH)


def create_database(url: str, name: str) -> None:
    """``CREATE DATABASE name`` through the server at ``url`` unless it exists."""
    if not re.match(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$", name):
        raise ValueError(f"database name {name!r}")
    with psycopg.connect(url, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            return
        # a concurrent caller may create it first: either error says so
        with contextlib.suppress(psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation):
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def local_or_private(data_dir: Path, url: str | None = None, *, host: str = "127.0.0.1",
                     port: int = 5432, dbname: str = DEFAULT_DATABASE,
                     timescaledb: bool = False) -> tuple[str, PrivateCluster | None]:
    """A database URL: ``url``, else ``PINGANLING_DATABASE_URL``, else ``dbname`` on the
    server at host:port (created when missing), else on a private cluster under data_dir
    (preloading TimescaleDB, when installed, if ``timescaledb``)."""
    url = url or os.environ.get("PINGANLING_DATABASE_URL")
    if url:
        return url, None
    if reachable(host, port):
        server = make_conninfo(host=host, port=port, dbname="postgres")
        try:
            create_database(server, dbname)
            return make_conninfo(server, dbname=dbname), None
        except psycopg.OperationalError as exc:
            log.warning("PostgreSQL at %s:%d refused us (%s); starting a private cluster",
                        host, port, str(exc).strip())
    else:
        log.info("no PostgreSQL at %s:%d; starting a private cluster", host, port)
    cluster = PrivateCluster(data_dir, timescaledb=timescaledb).start()
    return cluster.create_database(dbname), cluster
