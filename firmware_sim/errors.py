"""The simulator's exception tree; foreign exceptions are converted where they enter."""

from __future__ import annotations


class SimError(Exception):
    """Base of every error the simulator raises on purpose."""


class ScenarioError(SimError, ValueError):
    """A scenario file or a clock time that does not parse or does not make sense."""


class LinkError(SimError):
    """A transport carrying serial bytes to the gateway failed."""


class LinkFull(LinkError):
    """Nobody reads the link and its bounded backlog is full: the write was refused (counted)."""
