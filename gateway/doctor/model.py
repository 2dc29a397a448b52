"""What the doctor knows about the box it examines, and what each check finds."""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import ssl
import stat
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from importlib import resources
from pathlib import Path

from gateway.settings import GatewaySettings

UNIT = "pinganling-gateway.service"
UDEV_RULES = "99-pinganling-rf.rules"
JOURNALD_DROP_IN = "pinganling.conf"
DEFAULT_CONFIG = Path("/etc/pinganling/gateway.toml")
SERVICE_USER = "pinganling"


class Verdict(Enum):
    OK = "ok"
    WARN = "warn"  # works, but fragile or not as the field build has it
    FAIL = "fail"  # the gateway will not do its job until this is fixed
    SKIP = "skip"  # not checked here, and why


@dataclass(frozen=True, slots=True)
class Finding:
    """One check's result: what it found (or what is wrong) and, unless OK, how to fix it."""

    check: str
    verdict: Verdict
    message: str
    fix: str = ""


@dataclass(frozen=True, slots=True)
class Places:
    """Where the box keeps its system configuration (tests point these into a temporary
    directory; on a gateway they are the defaults)."""

    unit_dirs: tuple[Path, ...] = (Path("/etc/systemd/system"), Path("/usr/lib/systemd/system"),
                                   Path("/lib/systemd/system"))
    udev_rules: Path = Path("/etc/udev/rules.d")
    journald: Path = Path("/etc/systemd/journald.conf.d")
    bluetooth: Path = Path("/sys/class/bluetooth")
    proc: Path = Path("/proc")
    dev: Path = Path("/dev")

    def is_stable(self, device: str) -> bool:
        """Whether a device path stays the same across reboots and replugs: a udev symlink,
        ours (``/dev/pinganling-*``) or udev's own ``/dev/serial/by-id|by-path``."""
        path = Path(device)
        return (path.parent == self.dev and path.name.startswith("pinganling-")) or \
            path.parent in (self.dev / "serial" / "by-id", self.dev / "serial" / "by-path")

    def ours(self, device: str) -> str | None:
        """The name our udev rule gives (``pinganling-rf0``), if ``device`` is one."""
        path = Path(device)
        return path.name if path.parent == self.dev and path.name.startswith("pinganling-") \
            else None

    def installed_unit(self) -> Path | None:
        """The unit file systemd would load (the first directory that has it)."""
        return next((d / UNIT for d in self.unit_dirs if (d / UNIT).is_file()), None)


def shipped(name: str) -> Path:
    """A file of the field build as shipped with this package (``hardware/field/``)."""
    return Path(str(resources.files("hardware") / "field" / name))


@dataclass(frozen=True, slots=True)
class User:
    """The account the gateway service runs as."""

    name: str
    uid: int
    gid: int
    groups: frozenset[int]  # every group id it is a member of, its primary group included

    @classmethod
    def named(cls, name: str) -> User | None:
        try:
            pw = pwd.getpwnam(name)
        except KeyError:
            return None
        return cls(name, pw.pw_uid, pw.pw_gid, frozenset(os.getgrouplist(name, pw.pw_gid)))

    def group_names(self) -> list[str]:
        return sorted(group_name(g) for g in self.groups)

    def may(self, st: os.stat_result, access: int) -> bool:
        """Whether this user may ``access`` (``os.R_OK | os.W_OK``…) a file with ``st``, by its
        mode bits (computed, so it holds when the doctor itself runs as root)."""
        if self.uid == 0:
            return True
        if st.st_uid == self.uid:
            shift = 6
        elif st.st_gid in self.groups:
            shift = 3
        else:
            shift = 0
        return (st.st_mode >> shift) & access == access


def group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def describe(st: os.stat_result) -> str:
    """``crw-rw---- root:dialout``."""
    return f"{stat.filemode(st.st_mode)} {user_name(st.st_uid)}:{group_name(st.st_gid)}"


Run = Callable[[Sequence[str]], subprocess.CompletedProcess[str]]


def run_tool(args: Sequence[str], timeout_s: float = 10.0) -> subprocess.CompletedProcess[str]:
    """Run a system tool; a tool that hangs answers returncode -1 and says so on stderr."""
    try:
        return subprocess.run(list(args), capture_output=True, text=True, timeout=timeout_s,
                              check=False, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(list(args), -1, "",
                                           f"{args[0]} did not answer within {timeout_s:g} s")


@dataclass(frozen=True)
class Box:
    """Everything the checks read: the configuration as the gateway would read it, the
    service user, where things are installed, and how to run system tools."""

    config: Path | None
    settings: GatewaySettings | None
    settings_error: str | None
    user: User | None
    user_name: str  # who the service user should be (``user`` is None if it does not exist)
    user_from: str  # why that user: "--user", "User= of …", …
    places: Places = field(default_factory=Places)
    tls: ssl.SSLContext | None = None  # the uplink's TLS, when the broker is reached over TLS
    which: Callable[[str], str | None] = shutil.which
    run: Run = run_tool
    timeout_s: float = 5.0  # network probes

    @property
    def unit(self) -> Path | None:
        return self.places.installed_unit()
