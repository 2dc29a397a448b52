"""Typed storage configuration: backend choice, retention, compression, partition look-ahead."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

#: Days of the daily rollups start at midnight in this zone (on both backends).
ROLLUP_TIMEZONE = "Asia/Shanghai"

#: Partitioned (plain) / hypertable (TimescaleDB) time-series tables and their time column.
TIME_SERIES = {
    "acc_blocks": "t0",
    "vitals": "ts",
    "activity_minute": "minute",
    "device_health": "ts",
}

#: Rollups: continuous aggregates on TimescaleDB, tables refreshed by maintenance otherwise.
ROLLUPS = ("activity_hourly", "vitals_daily")


class Backend(StrEnum):
    """Which physical layout a schema uses; the logical schema is the same."""

    PLAIN = "plain"
    TIMESCALE = "timescale"


class BackendChoice(StrEnum):
    """``auto``: TimescaleDB when ``CREATE EXTENSION timescaledb`` succeeds, else plain."""

    AUTO = "auto"
    PLAIN = "plain"
    TIMESCALE = "timescale"


@dataclass(frozen=True, slots=True)
class StoreConfig:
    """Retention and housekeeping settings; ``server.settings.Settings`` builds one."""

    acc_retention: timedelta = timedelta(hours=72)
    vitals_retention: timedelta = timedelta(days=400)
    activity_retention: timedelta = timedelta(days=400)
    device_health_retention: timedelta = timedelta(days=400)
    rollup_retention: timedelta | None = None  # None: keep rollups forever
    acc_compress_after: timedelta = timedelta(days=1)
    compress_after: timedelta = timedelta(days=7)
    acc_partitions_ahead: int = 6  # hourly partitions ready ahead of now (plain)
    partitions_ahead: int = 2  # weekly partitions ready ahead of now (plain)
    rollup_refresh_window: timedelta = timedelta(days=3)  # TimescaleDB refresh start_offset
    rollup_refresh_every: timedelta = timedelta(minutes=15)  # TimescaleDB refresh schedule
    lock_timeout: timedelta = timedelta(seconds=2)  # maintenance DDL gives up after this

    def retention(self, table: str) -> timedelta:
        """Retention of one of ``TIME_SERIES``."""
        return {
            "acc_blocks": self.acc_retention,
            "vitals": self.vitals_retention,
            "activity_minute": self.activity_retention,
            "device_health": self.device_health_retention,
        }[table]

    def compression_age(self, table: str) -> timedelta:
        return self.acc_compress_after if table == "acc_blocks" else self.compress_after

    def ahead(self, table: str) -> int:
        return self.acc_partitions_ahead if table == "acc_blocks" else self.partitions_ahead
