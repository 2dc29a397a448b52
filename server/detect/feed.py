"""New accelerometer blocks, found by arrival time, each handed out once.

Ingest workers commit concurrently, so a block can become visible with a ``received_at`` a little
older than blocks already seen: each poll looks back ``overlap_s`` and drops what it has handed
out before (by device, seq, t0).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import psycopg

from kernel.contract import ACC_DTYPE, AccBlock

_NEW = """
SELECT device, (extract(epoch FROM t0) * 1e6)::int8, seq, rate_hz, scale_g, samples,
       extract(epoch FROM received_at)::float8
FROM acc_blocks
WHERE t0 > now() - make_interval(secs => %s) AND received_at > to_timestamp(%s)
ORDER BY received_at
LIMIT %s
"""


class AccFeed:
    """``poll(conn)`` returns the blocks that arrived since the last poll."""

    def __init__(self, overlap_s: float = 5.0, horizon_s: float = 600.0,
                 limit: int = 200_000) -> None:
        self.overlap_s, self.horizon_s, self.limit = overlap_s, horizon_s, limit
        self.cursor = time.time() - overlap_s  # start with what arrives from now on
        self._seen: dict[tuple[str, int, int], float] = {}

    def poll(self, conn: psycopg.Connection[Any]) -> list[AccBlock]:
        rows = conn.execute(_NEW, (self.horizon_s, self.cursor - self.overlap_s,
                                   self.limit)).fetchall()
        out = []
        for device, t0_us, seq, rate, scale, raw, received in rows:
            key = (device, seq, t0_us)
            if key in self._seen:
                continue
            self._seen[key] = received
            samples = np.frombuffer(raw, dtype=ACC_DTYPE).reshape(-1, 3)
            out.append(AccBlock(device, t0_us, seq, float(rate), float(scale), samples))
        if rows:
            self.cursor = max(self.cursor, rows[-1][6])
        self._forget(self.cursor - 2 * self.overlap_s)
        return out

    def _forget(self, before: float) -> None:
        if len(self._seen) > 1000:
            self._seen = {k: t for k, t in self._seen.items() if t >= before}
