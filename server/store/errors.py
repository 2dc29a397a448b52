"""The storage package's exceptions; psycopg errors are converted to these at its edge."""

from __future__ import annotations


class StoreError(Exception):
    """Base of every error raised by ``server.store``."""


class MigrationError(StoreError):
    """The schema cannot be brought to the version this code expects."""


class ChecksumMismatch(MigrationError):
    """An already applied migration's file was edited; write a new migration instead."""

    def __init__(self, version: int, name: str, recorded: str, current: str) -> None:
        super().__init__(
            f"migration {version:04d} ({name}) was applied with checksum {recorded[:12]}…, "
            f"but its file now has {current[:12]}…; never edit an applied migration, "
            "add a new one"
        )
        self.version = version


class BackendMismatch(MigrationError):
    """The schema was built for one backend and the other was asked for."""


class BadRow(StoreError, ValueError):
    """A value the write path refuses (out of range, wrong shape); ``reason`` is a counter key."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
