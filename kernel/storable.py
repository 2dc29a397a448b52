"""Values the server can store: what every uplink payload and API input must respect.

Text without NUL (nor a lone surrogate or a non-character), integers within their column's
width, finite floats, plausible times, JSON that jsonb holds and gives back. A payload that
breaks this is refused whole at decode, with a reason (``bad_text``, ``out_of_range``,
``not_finite``, ``bad_time``), instead of failing in PostgreSQL and taking its batch's
neighbours with it; the API refuses the same with a 422 naming the field.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Final

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

INT16: Final = (-(2**15), 2**15 - 1)
INT32: Final = (-(2**31), 2**31 - 1)
INT64: Final = (-(2**63), 2**63 - 1)
FLOAT4_MAX: Final = 3.4028234663852886e38
TIME_RANGE: Final = (0.0, 7.3e9)
"""Plausible Unix times, 1970 … 2200: anything outside is a broken clock."""

_NONCHARACTERS = "\\ufdd0-\\ufdef" + "".join(
    f"\\U{plane:04x}fffe\\U{plane:04x}ffff" for plane in range(17))
_BAD_TEXT = re.compile(f"[\\x00\\ud800-\\udfff{_NONCHARACTERS}]")


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be stored (a NUL, a lone surrogate, a non-character), or None."""
    bad = _BAD_TEXT.search(text)
    return None if bad is None else f"U+{ord(bad.group()):04X} at offset {bad.start()}"


def escape_unstorable(text: str) -> str:
    """``text`` with every character ``text_problem`` refuses written as a ``\\uXXXX`` escape."""
    def escape(bad: re.Match[str]) -> str:
        code = ord(bad.group())
        return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"

    return _BAD_TEXT.sub(escape, text)


def json_problem(value: object) -> tuple[str, str] | None:
    """``(reason, detail)`` for the first thing in a JSON value that cannot be stored as jsonb
    and read back (bad text in a key or string, a non-finite float, an integer beyond int64)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        problem = text_problem(value)
        return None if problem is None else ("bad_text", problem)
    if isinstance(value, int):
        return None if INT64[0] <= value <= INT64[1] else ("out_of_range", "integer beyond int64")
    if isinstance(value, float):
        return None if math.isfinite(value) else ("not_finite", repr(value))
    if isinstance(value, dict):
        for key, item in value.items():
            found = json_problem(key) if isinstance(key, str) else ("malformed", "non-text key")
            if found is None:
                found = json_problem(item)
            if found is not None:
                return found
        return None
    if isinstance(value, list | tuple):
        for item in value:
            found = json_problem(item)
            if found is not None:
                return found
        return None
    return ("malformed", f"{type(value).__name__} is not JSON")


def storable_text(text: str) -> str:
    """``text`` if it can be stored; a validation error (``bad_text``) otherwise."""
    problem = text_problem(text)
    if problem is not None:
        raise PydanticCustomError("bad_text", "text that cannot be stored: {problem}",
                                  {"problem": problem})
    return text


def _storable_json(value: Any) -> Any:
    problem = json_problem(value)
    if problem is not None:
        raise PydanticCustomError(problem[0], "value that cannot be stored: {problem}",
                                  {"problem": problem[1]})
    return value


def plausible_time(ts: float) -> bool:
    return math.isfinite(ts) and TIME_RANGE[0] <= ts <= TIME_RANGE[1]


def _plausible_time(ts: float) -> float:
    if not plausible_time(ts):
        raise PydanticCustomError("bad_time", "{ts} is not a plausible Unix time", {"ts": ts})
    return ts


Text = Annotated[str, AfterValidator(storable_text)]
Int16 = Annotated[int, Field(ge=INT16[0], le=INT16[1])]
Int32 = Annotated[int, Field(ge=INT32[0], le=INT32[1])]
Int64 = Annotated[int, Field(ge=INT64[0], le=INT64[1])]
Finite = Annotated[float, Field(allow_inf_nan=False)]
Float4 = Annotated[float, Field(allow_inf_nan=False, ge=-FLOAT4_MAX, le=FLOAT4_MAX)]
UnixTime = Annotated[float, AfterValidator(_plausible_time)]
JsonScalar = float | int | str | bool | None
EventData = Annotated[dict[str, JsonScalar], AfterValidator(_storable_json)]
JsonObject = Annotated[dict[str, object], AfterValidator(_storable_json)]
