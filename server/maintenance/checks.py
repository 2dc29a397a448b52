"""The periodic maintenance check: commands without a result time out, installation tests
without a press fail, and work orders open for missed self-tests and silent devices."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

from server.maintenance import commands, installation, work_orders
from server.settings import Settings


@dataclass(frozen=True, slots=True)
class CheckReport:
    commands_timed_out: int
    tests_failed: int
    orders_opened: list[int]


def run_checks(conn: psycopg.Connection[Any], settings: Settings) -> CheckReport:
    """One pass (autocommit connection)."""
    with conn.transaction():
        timed_out = commands.expire(conn)
        failed = installation.settle(conn)
    return CheckReport(timed_out, failed, work_orders.open_due(conn, settings))
