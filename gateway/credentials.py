"""The gateway's broker identity: a small TOML file (0600) beside its state, and its rotation.

``credentials.toml`` holds the username and password the gateway logs in with, written by
``pinganling gateway provision`` (``gateway.enrol``). While the server rotates them it holds the
next pair too, under ``[next]``: the uplink logs in with the next one; when the broker accepts
it, it becomes the only one (the server sees the gateway online under the new username and
deletes the old), and when the broker refuses it, it is dropped and the current one stays.
The file is rewritten atomically, so a power cut leaves the old content or the new, and the
gateway never logs a password.
"""

from __future__ import annotations

import json
import logging
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


class CredentialsError(ValueError):
    """The credentials file cannot be read; the message says which and why."""


@dataclass(frozen=True, slots=True)
class Credential:
    """A broker username and its password (never shown in a repr or a log line)."""

    username: str
    password: str

    def __repr__(self) -> str:
        return f"Credential({self.username!r}, password=…)"


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically, readable by its owner only (0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


def _toml(cred: Credential) -> str:
    # json.dumps of a str is a valid TOML basic string (quotes, backslashes, \\uXXXX escapes)
    return f"username = {json.dumps(cred.username)}\npassword = {json.dumps(cred.password)}\n"


class CredentialsFile:
    """``credentials.toml``: the current identity and, during a rotation, the next."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @staticmethod
    def create(path: Path, current: Credential) -> CredentialsFile:
        write_private(path, _toml(current))
        return CredentialsFile(path)

    def read(self) -> tuple[Credential, Credential | None]:
        try:
            data = tomllib.loads(self.path.read_text())
            current = Credential(str(data["username"]), str(data["password"]))
            nxt = data.get("next")
            return current, (Credential(str(nxt["username"]), str(nxt["password"]))
                             if isinstance(nxt, dict) else None)
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, KeyError,
                TypeError) as exc:
            raise CredentialsError(f"{self.path}: {type(exc).__name__}: {exc}") from None

    def stage(self, nxt: Credential) -> None:
        """Keep ``nxt`` beside the current identity, to be tried at the next connect."""
        current, _ = self.read()
        write_private(self.path, _toml(current) + "\n[next]\n" + _toml(nxt))

    def promote(self) -> None:
        """The broker accepted the next identity: it is the only one now."""
        _, nxt = self.read()
        if nxt is not None:
            write_private(self.path, _toml(nxt))

    def discard_next(self) -> None:
        """The broker refused the next identity: keep the current one alone."""
        current, nxt = self.read()
        if nxt is not None:
            write_private(self.path, _toml(current))
