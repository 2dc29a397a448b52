"""Run the checks (none may crash the doctor), print one line each, answer an exit status."""

from __future__ import annotations

import argparse
import io
import logging
import shlex
import shutil
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from gateway import settings as gw_settings
from gateway.doctor.checks import plan
from gateway.doctor.model import (
    DEFAULT_CONFIG,
    SERVICE_USER,
    Box,
    Finding,
    Places,
    User,
    Verdict,
)
from gateway.field_files import parse_unit
from gateway.settings import SettingsError

log = logging.getLogger(__name__)
SYMBOLS = {Verdict.OK: "✓", Verdict.WARN: "!", Verdict.FAIL: "✗", Verdict.SKIP: "-"}
WORDS = {Verdict.OK: "OK", Verdict.WARN: "WARN", Verdict.FAIL: "FAIL", Verdict.SKIP: "SKIP"}


def examine(box: Box) -> list[Finding]:
    """Every check's finding; a check that raises is reported as failed, with the error."""
    findings = []
    for name, check in plan(box):
        try:
            findings.append(check(box))
        except Exception as exc:  # one check's outer edge: reported, and the others still run
            log.exception("doctor: the %s check failed", name)  # its traceback, for the report
            findings.append(Finding(name, Verdict.FAIL,
                                    f"the check itself failed: {type(exc).__name__}: {exc}",
                                    "report this with the doctor's output (a bug in the check)"))
    return findings


def render(findings: Sequence[Finding], *, unicode: bool, width: int = 100) -> str:
    """One line per check (wrapped to ``width``), its fix below it, and a summary line."""
    marks = SYMBOLS if unicode else WORDS
    mark_w = max(len(m) for m in marks.values())
    name_w = max(len(f.check) for f in findings)
    indent = " " * (mark_w + name_w + 2)
    lines = []
    for f in findings:
        head = f"{marks[f.verdict]:<{mark_w}} {f.check:<{name_w}} "
        lines += textwrap.wrap(f.message, max(40, width), initial_indent=head,
                               subsequent_indent=indent, break_on_hyphens=False,
                               break_long_words=False) or [head.rstrip()]
        if f.fix and f.verdict in (Verdict.FAIL, Verdict.WARN):
            lines.append(f"{indent}fix: {f.fix}")  # not wrapped: commands are copied whole
    failed = sum(f.verdict is Verdict.FAIL for f in findings)
    warned = sum(f.verdict is Verdict.WARN for f in findings)
    if failed:
        summary = (f"{failed} problem{'s' * (failed > 1)}"
                   f"{f', {warned} warning' + 's' * (warned > 1) if warned else ''}: "
                   "the gateway is not ready; fix the first one first, then run the doctor "
                   "again")
    elif warned:
        summary = f"no problem, {warned} warning{'s' * (warned > 1)}"
    else:
        summary = "all well"
    return "\n".join([*lines, "", summary])


def _exec_config(unit: Path | None) -> Path | None:
    """The ``-c`` of the installed unit's ExecStart."""
    if unit is None:
        return None
    exec_start = parse_unit(unit.read_text()).value("Service", "ExecStart") or ""
    try:
        words = shlex.split(exec_start.lstrip("-+!@:"))
    except ValueError:
        return None
    for i, word in enumerate(words):
        if word in ("-c", "--config") and i + 1 < len(words):
            return Path(words[i + 1])
        if word.startswith("--config="):
            return Path(word.removeprefix("--config="))
    return None


def _service_user(given: str | None, unit: Path | None) -> tuple[str, str]:
    """Who the gateway runs as, and how we know."""
    if given:
        return given, "--user"
    if unit is not None:
        name = parse_unit(unit.read_text()).value("Service", "User")
        if name:
            return name, f"User= of {unit}"
    return SERVICE_USER, "the field build's user; no unit installed to say otherwise"


def build_box(config: Path | None, *, gw_id: str | None = None, state_dir: Path | None = None,
              user: str | None = None, places: Places | None = None) -> Box:
    """The box as the gateway would see it: the config (``-c``, else the installed unit's,
    else /etc/pinganling/gateway.toml) read with the same loader, and the service user."""
    places = places or Places()
    unit = places.installed_unit()
    if config is None and gw_id is None:
        config = _exec_config(unit) or DEFAULT_CONFIG
    settings, error = None, None
    try:
        settings = gw_settings.load(config, id=gw_id, state_dir=state_dir)
    except SettingsError as exc:
        error = str(exc)
    name, why = _service_user(user, unit)
    tls = settings.mqtt.address(None).tls_context() if settings and settings.mqtt.tls else None
    return Box(config=config, settings=settings, settings_error=error, user=User.named(name),
               user_name=name, user_from=why, places=places, tls=tls)


def header(box: Box) -> str:
    who = box.settings.id if box.settings else "gateway"
    config = box.config or "command line"
    return (f"pinganling gateway doctor: {who}, config {config}, service user {box.user_name} "
            f"({box.user_from})")


def main(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    """``pinganling gateway doctor``: exit status 1 when any check failed."""
    box = build_box(args.config, gw_id=args.id, state_dir=args.state_dir, user=args.user)
    findings = examine(box)
    encoding = (getattr(out, "encoding", None) or "").lower().replace("-", "")
    if encoding != "utf8" and isinstance(out, io.TextIOWrapper):
        out.reconfigure(errors="replace")  # a path or an error text the terminal cannot show
    width = min(shutil.get_terminal_size().columns, 120) - 1
    print(header(box), file=out)
    print(file=out)
    print(render(findings, unicode=encoding == "utf8", width=width), file=out)
    return 1 if any(f.verdict is Verdict.FAIL for f in findings) else 0
