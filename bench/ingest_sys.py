"""Process accounting of ``bench/ingest.py``: CPU per process from /proc, py-spy summaries.

No psutil: ``/proc/<pid>/stat`` (utime + stime, all threads) and ``/proc/stat`` (the box).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")
NCPU = os.cpu_count() or 1


def proc_cpu(pid: int) -> float | None:
    """CPU seconds (user + system, every thread) of a live process, else None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / _TICK


def box_busy() -> float:
    """CPU seconds the whole box has been busy (all cores, idle and iowait excluded)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(values[:8]) - values[3] - values[4]) / _TICK


def postgres_pids() -> dict[int, str]:
    """Every PostgreSQL server process on the box with its title (``postgres: …``)."""
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() != "postgres":
                continue
            title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except OSError:
            continue
        out[int(entry.name)] = title
    return out


@dataclass(frozen=True, slots=True)
class CpuSnapshot:
    at: float
    busy: float
    groups: dict[str, dict[int, float]]


class CpuMeter:
    """CPU of named process groups over a window, in % of one core; the rest of the box too.

    ``groups`` maps a name to pids. PostgreSQL is split into our backends (``ours``, by pid),
    its background processes (WAL writer, checkpointer, …) and anybody else's backends.
    """

    def __init__(self, groups: Mapping[str, Sequence[int]], pg_ours: Sequence[int]) -> None:
        self.groups = {k: list(v) for k, v in groups.items()}
        pg = postgres_pids()
        self.groups["postgres (our backends)"] = list(pg_ours)
        client = {pid for pid, title in pg.items() if re.search(r"\(\d+\)", title)}
        self.groups["postgres (wal, checkpoints, …)"] = [p for p in pg if p not in client]
        self.groups["postgres (other clients)"] = [p for p in client if p not in pg_ours]

    def snapshot(self) -> CpuSnapshot:
        groups = {name: {pid: proc_cpu(pid) or 0.0 for pid in pids}
                  for name, pids in self.groups.items()}
        return CpuSnapshot(time.monotonic(), box_busy(), groups)

    @staticmethod
    def percent(a: CpuSnapshot, b: CpuSnapshot) -> dict[str, float]:
        """% of one core per group between two snapshots; ``other processes``: the rest."""
        elapsed = b.at - a.at
        out, ours = {}, 0.0
        for name, pids in b.groups.items():
            used = sum(max(0.0, b.groups[name][p] - a.groups[name].get(p, 0.0)) for p in pids)
            out[name] = round(100 * used / elapsed, 1)
            ours += used
        out["other processes"] = round(100 * max(0.0, b.busy - a.busy - ours) / elapsed, 1)
        out["box idle"] = round(100 * NCPU - 100 * (b.busy - a.busy) / elapsed, 1)
        return out


# ----------------------------------------------------------------------------------- py-spy


def py_spy() -> str | None:
    """The py-spy next to our interpreter, or on PATH (``pip install py-spy``)."""
    here = Path(sys.executable).parent / "py-spy"
    return str(here) if here.exists() else shutil.which("py-spy")


def py_spy_record(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes] | None:
    """Sample ``pid`` at 100 Hz into collapsed stacks at ``out``: only the thread holding the
    GIL, so the samples say where the Python CPU goes (one core at most per process)."""
    exe = py_spy()
    if exe is None:
        return None
    return subprocess.Popen(
        [exe, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", "100",
         "--gil", "--threads", "--format", "raw", "--output", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


_LINE = re.compile(r" \(([^)]*?):\d+\)$")


def _frame(frame: str) -> str:
    """``func (path/to/file.py:12)`` → ``func (file.py)``."""
    m = _LINE.search(frame)
    if not m:
        return frame.strip()
    return f"{frame[: m.start()].strip()} ({Path(m.group(1)).name})"


def _thread_of(frame: str) -> str:
    """``thread (123): telemetry-0`` → ``telemetry writer`` (names given by server.ingest)."""
    name = frame.split(": ", 1)[-1]
    for prefix, what in (("paho-mqtt-client", "paho network thread"),
                         ("telemetry-", "telemetry writer"), ("events-", "event writer")):
        if name.startswith(prefix):
            return what
    return name


def summarize(collapsed: Path, seconds: float, top: int = 12) -> dict[str, object]:
    """How busy the GIL was, its holders by thread, and by function (self time, top ``top``)."""
    if not collapsed.exists():
        return {}
    by_thread: Counter[str] = Counter()
    by_leaf: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        frames = stack.split(";")
        n = int(count)
        total += n
        if frames[0].startswith("thread "):
            by_thread[_thread_of(frames.pop(0))] += n
        by_leaf[_frame(frames[-1]) if frames else "?"] += n
    pct = (lambda n: round(100 * n / total, 1)) if total else (lambda n: 0.0)
    return {"samples": total, "gil_busy_pct": round(total / seconds, 1),
            "threads_pct": {k: pct(v) for k, v in by_thread.most_common()},
            "self_pct": {k: pct(v) for k, v in by_leaf.most_common(top)}}
