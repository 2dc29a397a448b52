"""Self-test reminders: each alarm button (``alarm_devices``) is to be pressed once per
``self_test_period``. Its last test is its newest press, long press or test event of its own
(not one the gateway made for a command), or its pairing; it is ``due`` from last test + period,
and ``missed`` a grace later (which opens a work order, ``work_orders.open_due``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from psycopg import sql

from server.maintenance.alarm_devices import ALARM_MODELS, PRESSES

LAST_TEST = sql.SQL(
    "(SELECT max(e.ts) FROM events e WHERE e.device = d.uid AND e.type = ANY ({presses}) "
    "AND NOT e.data ? 'command')").format(presses=sql.Literal(list(PRESSES)))
"""A device's last self-test (``d`` is the devices row), NULL when it never had one."""


def state_sql(period: timedelta, grace: timedelta) -> sql.Composed:
    """``ok | due | missed`` of an alarm button (NULL for other devices), as a column."""
    return sql.SQL(
        "CASE WHEN d.model <> ALL ({models}) THEN NULL "
        "WHEN coalesce({last}, d.paired_at) IS NULL THEN 'due' "
        "WHEN coalesce({last}, d.paired_at) + {period} + {grace} < now() THEN 'missed' "
        "WHEN coalesce({last}, d.paired_at) + {period} < now() THEN 'due' ELSE 'ok' END"
    ).format(models=sql.Literal(ALARM_MODELS), last=LAST_TEST, period=sql.Literal(period),
             grace=sql.Literal(grace))


def due_sql(period: timedelta) -> sql.Composed:
    """When the next self-test is due (NULL for other devices), as a column."""
    return sql.SQL("CASE WHEN d.model = ANY ({models}) THEN coalesce({last}, d.paired_at) "
                   "+ {period} END").format(models=sql.Literal(ALARM_MODELS), last=LAST_TEST,
                                            period=sql.Literal(period))


def params(period: timedelta, grace: timedelta) -> dict[str, Any]:
    return {"period_s": period.total_seconds(), "grace_s": grace.total_seconds()}
