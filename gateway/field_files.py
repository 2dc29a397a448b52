"""The field build's configuration files, read as systemd and udev read them.

``parse_unit`` reads a systemd unit file (``systemd.syntax(7)``: sections, ``Key=value``, repeated
keys, ``\\`` continuations, ``#``/``;`` comments); ``parse_udev_rules`` reads a udev rules file
(``udev(7)``: one rule per line, comma-separated ``KEY{attr}<op>"value"`` keys). Both collect
every problem as ``line N: what is wrong`` instead of stopping at the first, so the doctor and
the tests can name them all. They check syntax and the mistakes udev and systemd pass over with
only a log line (an assignment where a match was meant, an unknown key, a line outside a
section); ``systemd-analyze verify`` does the rest where it is installed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

# ------------------------------------------------------------------------------ systemd units


@dataclass(frozen=True, slots=True)
class UnitFile:
    """A unit file's keys by section (every value of a repeated key, in order)."""

    sections: dict[str, dict[str, list[str]]]
    problems: list[str] = field(default_factory=list)

    def values(self, section: str, key: str) -> list[str]:
        """Every value given to ``key`` since the last empty assignment (which resets a list)."""
        values = self.sections.get(section, {}).get(key, [])
        last_reset = max((i for i, v in enumerate(values) if v == ""), default=-1)
        return values[last_reset + 1:]

    def value(self, section: str, key: str) -> str | None:
        """The value in effect for a single-valued key (the last one), or None."""
        values = self.values(section, key)
        return values[-1] if values else None


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """(first line number, line) with ``\\`` continuations joined by a space, comments kept."""
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if pending and line[:1] in ("#", ";"):
            continue  # a comment inside a continued line is skipped, as systemd does
        if not pending:
            start = number
        if line.endswith("\\"):
            pending.append(line[:-1].strip())
            continue
        pending.append(line)
        yield start, " ".join(p for p in pending if p)
        pending = []
    if pending:
        yield start, " ".join(p for p in pending if p)


def parse_unit(text: str) -> UnitFile:
    """Read a unit file; each line that is not a section, a ``Key=value`` or a comment is a
    problem, and so is a key before the first section or a section given twice."""
    sections: dict[str, dict[str, list[str]]] = {}
    problems: list[str] = []
    current: dict[str, list[str]] | None = None
    for number, line in _logical_lines(text):
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            if not line.endswith("]") or len(line) < 3:
                problems.append(f"line {number}: bad section header {line!r}")
                current = None
                continue
            name = line[1:-1]
            if name in sections:
                problems.append(f"line {number}: section [{name}] given twice")
            current = sections.setdefault(name, {})
            continue
        key, eq, value = line.partition("=")
        key = key.strip()
        if not eq or not re.fullmatch(r"[A-Za-z0-9_-]+", key):
            problems.append(f"line {number}: not a Key=value line: {line!r}")
            continue
        if current is None:
            problems.append(f"line {number}: {key}= is outside any [section]")
            continue
        current.setdefault(key, []).append(value.strip())
    return UnitFile(sections, problems)


# ------------------------------------------------------------------------------ udev rules

MATCH_OPS = frozenset({"==", "!="})
ASSIGN_OPS = frozenset({"=", "+=", "-=", ":="})
# udev(7): keys that only match, keys that only assign, keys that do both
_MATCH_ONLY = frozenset({"ACTION", "DEVPATH", "KERNEL", "KERNELS", "SUBSYSTEM", "SUBSYSTEMS",
                         "DRIVER", "DRIVERS", "ATTRS", "TAGS", "TEST", "PROGRAM", "RESULT",
                         "CONST"})
_ASSIGN_ONLY = frozenset({"OWNER", "GROUP", "MODE", "SECLABEL", "RUN", "LABEL", "GOTO",
                          "IMPORT", "OPTIONS"})
_BOTH = frozenset({"NAME", "SYMLINK", "ATTR", "SYSCTL", "ENV", "TAG"})
_NEEDS_ATTR = frozenset({"ATTR", "ATTRS", "SYSCTL", "ENV", "CONST", "SECLABEL"})
_MAY_HAVE_ATTR = _NEEDS_ATTR | {"TEST", "IMPORT", "RUN"}
_KEY = re.compile(r'\s*([A-Z_]+)(?:\{([^}]*)\})?\s*(==|!=|\+=|-=|:=|=)\s*e?"')


@dataclass(frozen=True, slots=True)
class UdevKey:
    """One ``KEY{attr}<op>"value"`` of a rule."""

    key: str
    attr: str | None
    op: str
    value: str

    @property
    def is_match(self) -> bool:
        return self.op in MATCH_OPS


@dataclass(frozen=True, slots=True)
class UdevRule:
    line: int
    keys: tuple[UdevKey, ...]

    def matches(self, key: str, attr: str | None = None) -> list[str]:
        """The values this rule matches ``key`` (``ATTRS{idVendor}``…) against with ``==``."""
        return [k.value for k in self.keys if k.key == key and k.attr == attr and k.op == "=="]

    def assigned(self, key: str) -> list[str]:
        """The values this rule assigns to ``key`` (``SYMLINK``, ``GROUP``, ``MODE``…)."""
        return [k.value for k in self.keys if k.key == key and k.op in ASSIGN_OPS]


def _split_rule(line: str) -> tuple[list[UdevKey], str | None]:
    """The keys of one rule line, or the first syntax error."""
    keys: list[UdevKey] = []
    pos = 0
    while True:
        m = _KEY.match(line, pos)
        if m is None:
            rest = line[pos:].strip()
            return keys, f"cannot read a KEY==\"value\" at {rest[:30]!r}"
        key, attr, op = m.group(1), m.group(2), m.group(3)
        i = m.end()
        value: list[str] = []
        while i < len(line) and line[i] != '"':
            if line[i] == "\\" and i + 1 < len(line):
                value.append(line[i:i + 2])
                i += 2
                continue
            value.append(line[i])
            i += 1
        if i >= len(line):
            return keys, f"{key}: the value's closing quote is missing"
        keys.append(UdevKey(key, attr, op, "".join(value)))
        rest = line[i + 1:].lstrip()
        if not rest:
            return keys, None
        if not rest.startswith(","):
            return keys, f"{key}: expected ',' before {rest[:30]!r}"
        pos = len(line) - len(rest) + 1
        if not line[pos:].strip():
            return keys, "the line ends with ','"


def _key_problem(k: UdevKey) -> str | None:
    name = k.key
    if name not in _MATCH_ONLY | _ASSIGN_ONLY | _BOTH:
        return f"unknown key {name}"
    if k.attr is None and name in _NEEDS_ATTR:
        return f"{name} needs {{attribute}}"
    if k.attr is not None and name not in _MAY_HAVE_ATTR:
        return f"{name} takes no {{attribute}}"
    if k.is_match and name in _ASSIGN_ONLY:
        return f"{name}{k.op}: {name} is assigned ('=' or '+='), never matched"
    if not k.is_match and name in _MATCH_ONLY:
        return (f"{name}{k.op}\"{k.value}\": an assignment where a match ('==') was meant; "
                "udev ignores it")
    if name == "MODE" and not re.fullmatch(r"0?[0-7]{3}", k.value):
        return f'MODE="{k.value}": an octal mode such as "0660"'
    return None


def parse_udev_rules(text: str) -> tuple[list[UdevRule], list[str]]:
    """The rules of a udev rules file and ``line N: …`` for every problem found."""
    rules: list[UdevRule] = []
    problems: list[str] = []
    for number, line in _logical_lines(text):
        if not line or line.startswith("#"):
            continue
        keys, error = _split_rule(line)
        if error:
            problems.append(f"line {number}: {error}")
            continue
        problems += [f"line {number}: {p}" for p in map(_key_problem, keys) if p]
        rules.append(UdevRule(number, tuple(keys)))
    return rules, problems
