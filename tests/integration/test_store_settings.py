"""Storage settings come from PINGANLING_* variables and become a StoreConfig."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from psycopg.conninfo import conninfo_to_dict
from pydantic import ValidationError

from server.settings import Settings
from server.store import BackendChoice, StoreConfig, schema_conninfo


def test_defaults_are_the_documented_retention(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("PINGANLING_")]:
        monkeypatch.delenv(name)
    config = Settings().store_config()
    assert config == StoreConfig()
    assert (config.acc_retention, config.vitals_retention) == (timedelta(hours=72),
                                                               timedelta(days=400))


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PINGANLING_DATABASE_URL", "postgresql://db.example/pal")
    monkeypatch.setenv("PINGANLING_ACC_RETENTION", "PT48H")
    monkeypatch.setenv("PINGANLING_VITALS_RETENTION", "P1D")
    monkeypatch.setenv("PINGANLING_STORAGE_BACKEND", "plain")
    settings = Settings()
    assert settings.database_url == "postgresql://db.example/pal"
    assert settings.storage_backend is BackendChoice.PLAIN
    config = settings.store_config()
    assert (config.acc_retention, config.vitals_retention) == (timedelta(hours=48),
                                                               timedelta(days=1))


def test_nonsense_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PINGANLING_ACC_PARTITIONS_AHEAD", "0")
    with pytest.raises(ValidationError, match="acc_partitions_ahead"):
        Settings()


def test_schema_conninfo_keeps_other_options() -> None:
    info = conninfo_to_dict(schema_conninfo(
        "postgresql://u@h:5433/d?options=-c%20statement_timeout%3D5000", "t_abc"))
    assert info["options"] == "-c statement_timeout=5000 -c search_path=t_abc"
    assert (info["host"], info["port"], info["dbname"]) == ("h", "5433", "d")
    with pytest.raises(ValueError, match="schema name"):
        schema_conninfo("dbname=x", "t; DROP TABLE y")
