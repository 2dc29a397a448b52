"""Claim codes: short, typeable, single-use secrets that trade for a gateway's credentials.

Eight characters of an alphabet without look-alikes (no 0/O, 1/I/L, 5/S, 2/Z, U/V), shown as
``ABCD-EFGH``: 25⁸ ≈ 1.5 × 10¹¹ codes. Typed in any case, with or without the dash or spaces.
Only a hash is stored: PBKDF2-SHA256 with a fixed salt, so a code can be looked up by its hash,
and a copy of the database does not give the codes away cheaply within their lifetime (each
guess costs the work of ``ITERATIONS``; a code lives a day by default). Guessing online is
limited per client address (``server.enrol.service``).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import Final

ALPHABET: Final = "346789ABCDEFGHJKMNPQRTWXY"  # 25 symbols, no look-alikes
LENGTH: Final = 8
ITERATIONS: Final = 50_000
_SALT: Final = b"pinganling claim code v1"
_SHAPE = re.compile(f"^[{ALPHABET}]{{{LENGTH}}}$")


def new_code() -> str:
    """A fresh code, grouped for reading aloud: ``ABCD-EFGH``."""
    raw = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    return f"{raw[:4]}-{raw[4:]}"


def normalize(typed: str) -> str | None:
    """The code as stored (no dash, upper case), or None when it cannot be one."""
    raw = re.sub(r"[\s-]", "", typed).upper()
    return raw if _SHAPE.match(raw) else None


def code_hash(code: str) -> str:
    """What is stored for ``code`` (typed in any form it normalizes from)."""
    raw = normalize(code) or code
    return hashlib.pbkdf2_hmac("sha256", raw.encode(), _SALT, ITERATIONS).hex()
