"""The analytics exception tree: everything raised on purpose derives from AnalyticsError."""

from __future__ import annotations


class AnalyticsError(Exception):
    """Base of every error this package raises on purpose."""


class InputError(AnalyticsError, ValueError):
    """Arrays of the wrong shape, rate or type handed to a detector."""


class ParamsError(AnalyticsError, ValueError):
    """A parameter file or object that cannot be used."""


class DatasetError(AnalyticsError):
    """A dataset file that does not follow the format of ``shared/datasets/README.md``."""
