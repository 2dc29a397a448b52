"""Jittered exponential backoff for reconnects and reopens."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(slots=True)
class Backoff:
    """``next()``: initial, 2×, 4× … up to ``maximum`` seconds, each ±``jitter``; ``reset()``."""

    initial: float = 0.5
    maximum: float = 30.0
    jitter: float = 0.25
    attempt: int = 0

    def next(self) -> float:
        base = min(self.maximum, self.initial * 2 ** min(self.attempt, 30))
        self.attempt += 1
        return base * random.uniform(1 - self.jitter, 1 + self.jitter)

    def reset(self) -> None:
        self.attempt = 0
