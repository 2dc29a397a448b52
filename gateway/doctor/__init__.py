"""``pinganling gateway doctor``: check the field build on the box, say what is wrong and how
to fix it.

Each check (:mod:`gateway.doctor.checks`) is a small function of the ``Box`` (the gateway's
configuration read as the gateway reads it, the service user, where systemd and udev keep
their files) returning one ``Finding``: OK, WARN (works, but fragile), FAIL (the gateway will
not do its job), or SKIP (not checked here, and why). :mod:`gateway.doctor.report` runs them —
a check that raises is reported as failed with its error, and the others still run — and
prints one line each, ✓ / ! / ✗ / - (OK / WARN / FAIL / SKIP when the output is not UTF-8),
with the fix below every failing line. The exit status is 1 when a check failed.

The checks read and probe; they change nothing. A serial device the gateway already holds is
not opened again (pyserial flushes a port's input as it opens it), the broker is asked with a
client id of its own (``<id>-doctor``, so the running gateway is not disconnected), and the
outbox is read read-only. See ``hardware/FIELD.md`` for the field build they check.
"""

from gateway.doctor.model import Box, Finding, Places, Verdict
from gateway.doctor.report import build_box, examine, main, render

__all__ = ["Box", "Finding", "Places", "Verdict", "build_box", "examine", "main", "render"]
