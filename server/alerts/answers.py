"""The elder's answers to prompts, and a fall found twice (the engine's part for both).

A press or cancel whose data names a prompt (``kernel.contract.answer_of``; the gateway marks
the one event that answered) is the elder's answer: to a detected fall, the fall's alert is
cancelled by the wearer (``service.wearer_cancel``: lower, still for an operator to call back);
to an inactivity pre-warning, an answered pre-warning record that nobody has to work
(``service.prewarning_answered``). An answer the server cannot place — no alert for the fall it
names, a resident who does not live behind that gateway — is taken as the event it is: a press
is a panic. So the answer never costs an alarm: at worst a panic too many.

A fall the server's detector and an edge gateway both found (same wearable, impacts within
``SAME_FALL_S``) is one alert: the later detection is linked to the earlier one's alert and
noted there, whatever that alert's state, and opens nothing.
"""

from __future__ import annotations

import logging
from typing import Any, Final

import psycopg

from kernel.contract import Event, EventType, PromptKind, answer_of
from server.alerts import service
from server.alerts.context import Context, resident_context
from server.alerts.model import ACTIVE, AlertType, Priority

log = logging.getLogger(__name__)

ANSWERING: Final = frozenset({EventType.PRESS, EventType.CANCEL})
SAME_FALL_S: Final = 10.0  # two detections of one wearable's fall: impacts this close
_SEARCH_S: Final = 300.0  # an edge event's time is its decision, a server event's the impact

_ALERT_OF_EVENT = """
SELECT ae.alert_id, EXISTS (SELECT 1 FROM alert_events mine
                            WHERE mine.alert_id = ae.alert_id AND mine.event_id = %s)
FROM alert_events ae WHERE ae.event_id = %s ORDER BY ae.alert_id DESC LIMIT 1
"""

# The alert of another detection of the same fall (impact time: the data's, else the event's).
_SAME_FALL = """
SELECT ae.alert_id FROM events e JOIN alert_events ae ON ae.event_id = e.id
WHERE e.device = %(device)s AND e.type = 'fall' AND e.id <> %(id)s
  AND e.ts BETWEEN to_timestamp(%(t)s - %(search)s) AND to_timestamp(%(t)s + %(search)s)
  AND abs(coalesce((e.data ->> 't_impact')::float8, extract(epoch FROM e.ts)) - %(t)s)
      <= %(tol)s
ORDER BY ae.alert_id LIMIT 1
"""

# Answers stored before the fall they answer (events may arrive out of order).
_EARLY_ANSWERS = """
SELECT id, device, type, extract(epoch FROM ts)::float8, data FROM events
WHERE gateway_id = %s AND ts >= to_timestamp(%s) AND type IN ('press', 'cancel')
  AND data ->> 'prompt' = %s ORDER BY ts
"""

_LIVES_BEHIND = """
SELECT 1 FROM residents r JOIN gateways g ON g.home_id = r.home_id WHERE r.id = %s AND g.id = %s
"""


def impact_time(event: Event) -> float:
    """When a fall event's fall happened: its ``t_impact``, else the event's time."""
    t = event.data.get("t_impact")
    return float(t) if isinstance(t, int | float) and not isinstance(t, bool) else event.ts


def same_fall(conn: psycopg.Connection[Any], device: str, t_impact: float,
              exclude: str = "") -> int | None:
    """The alert of another detection of ``device``'s fall at ``t_impact``, if any."""
    row = conn.execute(_SAME_FALL, {"device": device, "id": exclude, "t": t_impact,
                                    "search": _SEARCH_S, "tol": SAME_FALL_S}).fetchone()
    return int(row[0]) if row else None


def fall(conn: psycopg.Connection[Any], event: Event, ctx: Context,
         details: dict[str, Any]) -> int:
    """A stored fall event → its alert: linked to the alert of an earlier detection of the same
    fall, or a new P1. The gateway's own asking of the wearer (edge mode) is recorded on it,
    and an answer that arrived before the fall is applied. Returns the alert."""
    earlier = same_fall(conn, event.device, impact_time(event), exclude=event.id)
    if earlier is not None:
        service.link_detection(conn, earlier, event.id,
                               by="gateway" if event.data.get("edge") else "server")
        alert_id = earlier
    else:
        alert_id = service.raise_alert(conn, AlertType.FALL, Priority.P1, ctx, details,
                                       event_id=event.id).alert.id
    window = event.data.get("cancel_window_s")
    if event.data.get("edge") and isinstance(window, int | float) and window > 0:
        _asked_by_gateway(conn, alert_id, event, float(window))
    for row in conn.execute(_EARLY_ANSWERS, (event.gw, event.ts - _SEARCH_S, event.id)):
        early_id, device, etype, ts, data = row
        answered = answer_of(data)
        if answered is not None and answered.kind == PromptKind.FALL:
            service.wearer_cancel(conn, alert_id, by=str(data.get("by") or etype),
                                  device=device, after_s=answered.after_s, at=ts,
                                  event_id=early_id)
    return alert_id


def _asked_by_gateway(conn: psycopg.Connection[Any], alert_id: int, event: Event,
                      window_s: float) -> None:
    row = conn.execute("SELECT state, details -> 'wearer' FROM alerts WHERE id = %s",
                       (alert_id,)).fetchone()
    if row is not None and row[0] in ACTIVE and not row[1]:
        service.prompt_wearer(conn, alert_id, device=event.device, window_s=window_s,
                              via="gateway", ref=event.id, at=event.ts)


def answer(conn: psycopg.Connection[Any], event: Event) -> list[int] | None:
    """The alerts a press / cancel that answered a prompt touched; None when it answers no
    prompt the server can place (the caller then takes it as the event it is)."""
    answered = answer_of(event.data) if event.type in ANSWERING else None
    if answered is None:
        return None
    if answered.kind == PromptKind.FALL:
        row = conn.execute(_ALERT_OF_EVENT, (event.id, answered.prompt)).fetchone()
        if row is None:  # its fall is not stored (yet): ``fall`` applies it when it arrives
            log.warning("event %s answers fall %s, which has no alert here", event.id,
                        answered.prompt)
            return None
        if row[1]:  # applied already, by its fall (stored in the same batch, after it)
            return [int(row[0])]
        by = str(event.data.get("by") or event.type.value)
        service.wearer_cancel(conn, int(row[0]), by=by, device=event.device,
                              after_s=answered.after_s, at=event.ts, event_id=event.id)
        return [int(row[0])]
    return _prewarning(conn, event, answered.prompt, answered.after_s)


def _prewarning(conn: psycopg.Connection[Any], event: Event, prompt: str,
                after_s: float | None) -> list[int] | None:
    resident = event.data.get("resident")
    if not isinstance(resident, int) or isinstance(resident, bool) or conn.execute(
            _LIVES_BEHIND, (resident, event.gw)).fetchone() is None:
        log.warning("event %s answers pre-warning %s for resident %r, who does not live behind "
                    "gateway %s: taken as a press", event.id, prompt, resident, event.gw)
        return None
    inactive = event.data.get("inactive_min")
    record = service.prewarning_answered(
        conn, resident_context(conn, resident), prompt=prompt, event_id=event.id,
        device=event.device, after_s=after_s, at=event.ts, rule=str(event.data.get("rule", "")),
        inactive_min=inactive if isinstance(inactive, int) else 0)
    log.info("resident %d answered pre-warning %s (%s)", resident, prompt, event.id)
    return [record.id]

