"""PostgreSQL / TimescaleDB storage: migrations, write path, read queries, maintenance.

Everything lives in the first schema of the connection's search_path. See README.md.
"""

from server.store.config import (
    ROLLUP_TIMEZONE,
    Backend,
    BackendChoice,
    StoreConfig,
)
from server.store.connect import drop_schema, prepare, schema_conninfo
from server.store.errors import (
    BackendMismatch,
    BadRow,
    ChecksumMismatch,
    MigrationError,
    StoreError,
)
from server.store.events import StoredEvents, insert_events
from server.store.maintenance import MaintenanceReport, apply_policies, run_maintenance
from server.store.migrations import apply_migrations, schema_backend
from server.store.reads import (
    AccSeries,
    acc_window,
    activity_hourly,
    recent_activity,
    recent_vitals,
    vitals_daily,
)
from server.store.telemetry import (
    ActivityMinute,
    WriteResult,
    copy_acc_blocks,
    copy_activity,
    copy_device_health,
    copy_vitals,
)
from server.store.writes import (
    DeviceSeen,
    insert_server_event,
    known_gateways,
    seen_in_events,
    seen_in_heartbeat,
    set_gateway_state,
    touch_devices,
    validate_event,
)

__all__ = [
    "ROLLUP_TIMEZONE",
    "AccSeries",
    "ActivityMinute",
    "Backend",
    "BackendChoice",
    "BackendMismatch",
    "BadRow",
    "ChecksumMismatch",
    "DeviceSeen",
    "MaintenanceReport",
    "MigrationError",
    "StoreConfig",
    "StoreError",
    "StoredEvents",
    "WriteResult",
    "acc_window",
    "activity_hourly",
    "apply_migrations",
    "apply_policies",
    "copy_acc_blocks",
    "copy_activity",
    "copy_device_health",
    "copy_vitals",
    "drop_schema",
    "insert_events",
    "insert_server_event",
    "known_gateways",
    "prepare",
    "recent_activity",
    "recent_vitals",
    "run_maintenance",
    "schema_backend",
    "schema_conninfo",
    "seen_in_events",
    "seen_in_heartbeat",
    "set_gateway_state",
    "touch_devices",
    "validate_event",
    "vitals_daily",
]
