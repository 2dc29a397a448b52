"""Finding system binaries and free ports; installing Debian packages when allowed."""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
from pathlib import Path

log = logging.getLogger(__name__)


class MissingDependency(RuntimeError):
    """A system program is absent and could not be installed; ``command`` installs it."""

    def __init__(self, what: str, command: str) -> None:
        super().__init__(f"{what} is not installed. Install it with:\n    {command}")
        self.command = command


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def reachable(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections at host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def find_binary(name: str, extra_dirs: tuple[str, ...] = ("/usr/sbin", "/sbin")) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for d in extra_dirs:
        candidate = Path(d) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def ensure_binary(name: str, package: str, extra_dirs: tuple[str, ...] = ("/usr/sbin",)) -> str:
    """Return the path of ``name``, installing Debian's ``package`` as root if it is missing."""
    found = find_binary(name, extra_dirs)
    if found:
        return found
    command = f"sudo apt-get install -y {package}"
    if os.geteuid() != 0 or not shutil.which("apt-get") or os.environ.get("PINGANLING_NO_INSTALL"):
        raise MissingDependency(name, command)
    log.warning("%s not found; installing Debian package %s", name, package)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for args in (["apt-get", "install", "-y", "--no-install-recommends", package],
                 ["apt-get", "update"],
                 ["apt-get", "install", "-y", "--no-install-recommends", package]):
        done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
        if done.returncode == 0 and args[1] == "install":
            break
    found = find_binary(name, extra_dirs)
    if not found:
        raise MissingDependency(name, command)
    return found
