"""What a service refuses, in the service's own words; the API answers each kind with one status
(``server/api/errors.py``: NotFound 404, Conflict 409, Invalid 422).

``field`` names the part of the request at fault (it becomes the error body's ``details``).
"""

from __future__ import annotations


class ServiceError(Exception):
    """A request a service refuses; nothing was changed."""

    kind = "error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class NotFound(ServiceError):
    """What the request names does not exist, or is outside the actor's regions."""

    kind = "not_found"


class Conflict(ServiceError):
    """The request conflicts with what is stored (a duplicate, a row removed meanwhile)."""

    kind = "conflict"


class Invalid(ServiceError):
    """A value the service does not accept (beyond what the input types check)."""

    kind = "value_error"
