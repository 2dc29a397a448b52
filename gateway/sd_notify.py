"""systemd's notify protocol: readiness, status and the watchdog, with no library.

Under a unit with ``Type=notify`` systemd passes ``$NOTIFY_SOCKET`` (a datagram socket, its path or
``@abstract`` name); with ``WatchdogSec=`` it also passes ``$WATCHDOG_USEC`` and
``$WATCHDOG_PID``. The gateway says ``READY=1`` once its tasks run, ``STOPPING=1`` as it stops,
and ``WATCHDOG=1`` (with a ``STATUS=`` line for ``systemctl status``) every third of the
watchdog period — but only while its supervisor reports every task healthy. A gateway whose
event loop is stuck, or whose tasks stay unhealthy (one failing again and again, the
housekeeping rounds no longer succeeding), stops pinging, and systemd kills it and starts it
again (``Restart=always``). A broker or serial link that is away does not count: the uplink and
the serial links reconnect inside their tasks, and a restart would not bring them back.

Outside systemd (no ``$NOTIFY_SOCKET``) every call is a no-op.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable, Mapping

from kernel.supervisor import Supervisor

log = logging.getLogger(__name__)


def notify(message: str, environ: Mapping[str, str] = os.environ) -> bool:
    """Send ``message`` (``KEY=value`` lines) to systemd; False when not run by systemd or the
    socket refused it (logged: a lost notification must not stop the gateway)."""
    address = environ.get("NOTIFY_SOCKET", "")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]  # an abstract socket
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(message.encode())
    except OSError as exc:
        log.warning("could not notify systemd at %s: %s", environ.get("NOTIFY_SOCKET"), exc)
        return False
    return True


def watchdog_period(environ: Mapping[str, str] = os.environ) -> float | None:
    """The watchdog period systemd asks of this process in seconds (None: no watchdog)."""
    usec = environ.get("WATCHDOG_USEC", "")
    pid = environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if pid and pid != str(os.getpid()):
        return None  # meant for another process (the unit's main process is not us)
    return int(usec) / 1e6


class Watchdog:
    """Pings systemd's watchdog while ``supervisor`` reports no problem."""

    def __init__(self, supervisor: Supervisor, period_s: float, *,
                 status: Callable[[], str] = lambda: "running",
                 environ: Mapping[str, str] = os.environ) -> None:
        """``status``: the ``STATUS=`` text shown while healthy (one line)."""
        self.supervisor = supervisor
        self.interval_s = period_s / 3
        self.status = status
        self.environ = environ
        self.pings = 0
        self.withheld = 0

    def beat(self) -> bool:
        """One round: ``WATCHDOG=1`` if every task is healthy, else only the problems as the
        status (systemd will restart the gateway if that lasts a whole period)."""
        problems = self.supervisor.problems()
        if problems:
            self.withheld += 1
            if self.withheld == 1 or self.withheld % 10 == 0:
                log.warning("watchdog not fed: %s", "; ".join(problems))
            notify(f"STATUS=unhealthy: {_one_line('; '.join(problems))}", self.environ)
            return False
        self.withheld = 0
        self.pings += 1
        notify(f"WATCHDOG=1\nSTATUS={_one_line(self.status())}", self.environ)
        return True

    async def run(self) -> None:
        while True:
            self.beat()
            await asyncio.sleep(self.interval_s)


def _one_line(text: str) -> str:
    return " ".join(text.split())
