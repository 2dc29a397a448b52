"""Annotated types for API input: what PostgreSQL would refuse is a 422 naming the field.

Use them in request models and in path / query parameters alike::

    alert_id: Id                                   # 1 … 2^63-1 (a bigint key)
    note: Text = Field(default="", max_length=2000)  # no NUL, no surrogates or non-characters
    q: Annotated[Text | None, Query(max_length=100)] = None

Their limits are in the OpenAPI schema too (``minimum`` / ``maximum``, a ``pattern`` for text),
so clients and the schema-driven tests know them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from annotated_types import Ge, Le
from fastapi import Query
from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

from kernel.storable import text_problem

BIGINT_MAX = 2**63 - 1
SMALLINT_MAX = 2**15 - 1

# The same characters as ``kernel.storable`` (NUL, UTF-16 surrogates, Unicode non-characters)
# in the schema (ECMA-262 without the u flag: the BMP ones).
_SCHEMA_PATTERN = "^[^\\u0000\\ud800-\\udfff\\ufdd0-\\ufdef\\ufffe\\uffff]*$"


def _check_text(value: str) -> str:
    problem = text_problem(value)
    if problem is not None:
        raise PydanticCustomError(
            "text_character", "text must not contain {problem} (NUL, surrogates and Unicode "
            "non-characters are refused)", {"problem": problem})
    return value


class _StorableText:
    """Marker: the string must be storable as PostgreSQL text."""

    def __get_pydantic_core_schema__(self, source: Any,
                                     handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(_check_text, handler(source))

    def __get_pydantic_json_schema__(self, schema: core_schema.CoreSchema,
                                     handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema.setdefault("pattern", _SCHEMA_PATTERN)
        return json_schema


def _check_instant(value: datetime) -> datetime:
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if not INSTANT_MIN <= aware <= INSTANT_MAX:
        raise PydanticCustomError("instant_range", "a time from {min} to {max} is needed",
                                  {"min": INSTANT_MIN.isoformat(), "max": INSTANT_MAX.isoformat()})
    return value


class _SaneInstant:
    """Marker: a time the platform can hold and compute with (± a day never overflows)."""

    def __get_pydantic_core_schema__(self, source: Any,
                                     handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(_check_instant, handler(source))


INSTANT_MIN = datetime(1970, 1, 1, tzinfo=UTC)
INSTANT_MAX = datetime(9000, 1, 1, tzinfo=UTC)

Text = Annotated[str, _StorableText()]
"""A string PostgreSQL can store; add ``Field(max_length=…)`` / ``Query(max_length=…)``."""
Id = Annotated[int, Ge(1), Le(BIGINT_MAX)]
"""A key of a ``bigint`` identity column."""
Rank = Annotated[int, Ge(1), Le(SMALLINT_MAX)]
"""A positive ``smallint`` (an order, a position)."""
Instant = Annotated[datetime, _SaneInstant()]
"""A timestamp from 1970 to 9000 (naive ones are UTC)."""


Month = Annotated[str, Query(pattern=r"^2[0-9]{3}-(0[1-9]|1[0-2])$", description="YYYY-MM")]
"""A calendar month in a query (``2026-11``)."""


def month_start(month: str | None) -> date:
    """The first day of a ``Month`` (None: this month)."""
    return date.fromisoformat(f"{month}-01") if month else date.today().replace(day=1)
