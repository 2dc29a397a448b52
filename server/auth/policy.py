"""The password policy: what a new password must be, in words an operator can act on.

At least ``MIN_LENGTH`` characters (and at most ``MAX_LENGTH``), not containing the user name
(one of 4 or more characters), not one of the passwords guessers try first
(``common_passwords.txt``, also with digits and punctuation added at the end, and anything of
fewer than four different characters), and a password the sign-in accepts at all (no NUL,
encodable as UTF-8). A refusal is a ``WeakPassword`` (422) whose ``type`` names the rule: the
console says it in Chinese or English.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

from server.auth.users import plausible_login
from server.errors import Invalid

MIN_LENGTH = 10
MAX_LENGTH = 200
_TRAILING = re.compile(r"[\d\W_]+$")


class WeakPassword(Invalid):
    """A new password the policy refuses; ``kind`` says which rule (for translation)."""

    def __init__(self, kind: str, message: str, field: str = "new_password") -> None:
        super().__init__(message, field=field)
        self.kind = kind


class PasswordRefused(Invalid):
    """The current password is not right, or the new one is the same: ``kind`` says which."""

    def __init__(self, kind: str, message: str, field: str) -> None:
        super().__init__(message, field=field)
        self.kind = kind


@cache
def common_passwords() -> frozenset[str]:
    text = resources.files("server.auth").joinpath("common_passwords.txt").read_text("utf-8")
    return frozenset(line.strip().casefold() for line in text.splitlines()
                     if line.strip() and not line.startswith("#"))


def problem(password: str, username: str) -> tuple[str, str] | None:
    """The first rule ``password`` breaks for ``username``: (kind, message), or None."""
    if len(password) < MIN_LENGTH:
        return "password_too_short", f"a password needs at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return "password_too_long", f"a password has at most {MAX_LENGTH} characters"
    if not plausible_login(username, password):
        return "password_characters", "a password must not contain NUL or unpaired surrogates"
    folded = password.casefold()
    if len(username) >= 4 and username.casefold() in folded:
        return "password_has_username", "a password must not contain the user name"
    stem = _TRAILING.sub("", folded)
    common = common_passwords()
    if folded in common or (len(stem) >= 4 and stem in common) or len(set(folded)) < 4:
        return "password_too_common", "this password is among the first that guessers try; " \
                                      "choose a less common one"
    return None


def check_password(password: str, username: str, *, field: str = "new_password") -> None:
    """Raise ``WeakPassword`` (naming ``field``) unless ``password`` meets the policy."""
    found = problem(password, username)
    if found is not None:
        raise WeakPassword(*found, field=field)
