"""PostgreSQL bootstrap: configured URL, local server, or a private cluster we start."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from kernel.services.postgres import PrivateCluster, local_or_private
from kernel.services.system import free_port
from server.store import BackendChoice, apply_migrations, schema_backend


@pytest.fixture
def cluster_dir() -> Iterator[Path]:
    # under /tmp, not pytest's 0700 tmp_path: as root the cluster runs as 'postgres'
    path = Path(tempfile.mkdtemp(prefix="pinganling-pg-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_an_explicit_url_is_used_as_is(cluster_dir: Path) -> None:
    url = "postgresql://someone@db.example:5433/elsewhere"
    assert local_or_private(cluster_dir, url) == (url, None)
    assert not any(cluster_dir.iterdir())


@pytest.mark.slow
def test_private_cluster_when_no_server_answers(cluster_dir: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PINGANLING_DATABASE_URL", raising=False)
    url, cluster = local_or_private(cluster_dir, host="127.0.0.1", port=free_port())
    assert cluster is not None
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            assert conn.info.dbname == "pinganling"
            assert apply_migrations(conn, BackendChoice.PLAIN)
            assert schema_backend(conn) is not None
        # a second start on the same data directory adopts the running server
        again = PrivateCluster(cluster_dir).start()
        assert again.port == cluster.port
    finally:
        cluster.stop()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=2)
    assert (cluster_dir / "PG_VERSION").exists()
