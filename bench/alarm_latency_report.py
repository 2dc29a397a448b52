"""Figures of ``bench/alarm_latency.py``: latency, per-hop medians, losses, background, CPU."""

from __future__ import annotations

import itertools
import re
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import psycopg
from alarm_latency_probes import STAGES, Home, Recorder, SchedProbe

CHAIN = ("press", "outbox", "publish", "broker", "ingest", "change", "notify", "ws")
TARGET_P99_MS = 500.0


@dataclass
class Phase:
    name: str
    presses: list[tuple[Home, int, str]]
    cpu: dict[str, Any]
    started: float  # wall clock
    ended: float


def db_stamps(conninfo: str, rec: Recorder, uids: list[str]) -> None:
    """``ingest`` and ``change`` from the database, ``notify`` via the alert of each press."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT e.device, extract(epoch FROM e.received_at)::float8, ae.alert_id, "
            "extract(epoch FROM c.ts)::float8, c.seq FROM events e "
            "LEFT JOIN alert_events ae ON ae.event_id = e.id "
            "LEFT JOIN alert_changes c ON c.alert_id = ae.alert_id AND c.action = 'open' "
            "WHERE e.device = ANY (%s) AND e.type = 'press'", (uids,)).fetchall()
    for device, received, alert_id, changed, seq in rows:
        rec.stamp("ingest", device, received)
        if changed is not None:
            rec.stamp("change", device, changed)
            rec.change_seq[device] = int(seq)
        if alert_id is not None and alert_id in rec.notify_at:
            rec.stamp("notify", device, rec.notify_at[alert_id])


def _ms(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0}
    a = np.asarray(values) * 1000
    p50, p95, p99 = np.percentile(a, [50, 95, 99])
    return {"n": len(values), "p50_ms": round(float(p50), 2), "p95_ms": round(float(p95), 2),
            "p99_ms": round(float(p99), 2), "max_ms": round(float(a.max()), 2)}


def analyse(phase: Phase, rec: Recorder, sched: SchedProbe) -> dict[str, Any]:
    """Latency figures, per-hop medians and cumulative p50/p99 per stage of one phase."""
    uids = [uid for _, _, uid in phase.presses]
    st = rec.stamps

    def deltas(a: str, b: str) -> list[float]:
        return [st[b][u] - st[a][u] for u in uids if u in st[a] and u in st[b]]

    lost = [u for u in uids if u not in st["ws"]]
    latency = _ms(deltas("press", "ws"))
    hops = {f"{a}->{b}": round(float(np.median(d)) * 1000, 2)
            for a, b in [*itertools.pairwise(CHAIN), ("publish", "puback")]
            if (d := deltas(a, b))}
    cumulative = {s: {k: v for k, v in _ms(deltas("press", s)).items() if k != "n"}
                  for s in STAGES[1:]}
    reached = {s: rec.seen(s, lost) for s in STAGES} if lost else {}
    skipped = sum(1 for u in lost if _skipped(rec, u))
    return {"n": len(uids), "lost": len(lost), **{k: v for k, v in latency.items() if k != "n"},
            "hops_median_ms": hops, "since_press_ms": cumulative, "lost_reached": reached,
            "lost_skipped_by_cursor": skipped,
            "cpu_pct_of_core": phase.cpu, "wakeup_late": sched.late_ms(phase.started, phase.ended),
            "seconds": round(phase.ended - phase.started, 1)}


def _skipped(rec: Recorder, uid: str) -> bool:
    """Whether the feed passed this press's change: never sent, though a higher seq was (the
    feed sends in seq order, so it committed after the cursor had moved beyond it)."""
    seq = rec.change_seq.get(uid)
    sent = {s for _, s in rec.ws_seqs}
    return seq is not None and seq not in sent and bool(sent) and seq < max(sent)


def raw_stamps(phase: Phase, rec: Recorder) -> list[dict[str, Any]]:
    """Per press: its gateway, button, press time and ms since the press of every stage."""
    out = []
    for home, _, uid in phase.presses:
        t0 = rec.stamps["press"][uid]
        out.append({"gateway": home.spec.gateway, "device": uid, "press": t0,
                    "seq": rec.change_seq.get(uid),
                    **{s: round((rec.stamps[s][uid] - t0) * 1000, 3)
                       for s in STAGES[1:] if uid in rec.stamps[s]}})
    return out


def telemetry_stats(conninfo: str, sent_acc: int, timeout: float) -> dict[str, Any]:
    """What the ingest stored of the background, and its publish → ingest-receive lag."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(conninfo, autocommit=True) as conn:
        while True:
            row = conn.execute("SELECT count(*) FROM acc_blocks").fetchone()
            stored = int(row[0]) if row else 0
            if stored >= sent_acc or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        lag = conn.execute(
            "SELECT percentile_cont(ARRAY[0.5, 0.99]) WITHIN GROUP "
            "(ORDER BY extract(epoch FROM received_at - t0)) FROM acc_blocks").fetchone()
        vitals = conn.execute("SELECT count(*) FROM vitals").fetchone()
    p50, p99 = (lag[0] if lag and lag[0] else [None, None])
    return {"acc_rows_stored": stored, "vitals_rows_stored": int(vitals[0]) if vitals else 0,
            "acc_publish_to_ingest_receive_ms": {
                "p50": None if p50 is None else round(p50 * 1000, 1),
                "p99": None if p99 is None else round(p99 * 1000, 1)}}



def log_warnings(text: str, top: int = 8) -> dict[str, int]:
    """The server's (and its workers') WARNING/ERROR lines, counted by message shape."""
    shapes: Counter[str] = Counter()
    for line in text.splitlines():
        found = re.search(r" (WARNING|ERROR) +(.*)", line)
        if found:
            shapes[re.sub(r"\d+", "N", found.group(2))[:160]] += 1
    return dict(shapes.most_common(top))


def summary(setup: dict[str, Any], r: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The JSON figures (``n``, ``p50_ms`` … ``lost``: the loaded phase) and the text report."""
    b, lo, bg = r["baseline"], r["loaded"], r["background"]
    result = {"n": lo["n"], "p50_ms": lo.get("p50_ms"), "p95_ms": lo.get("p95_ms"),
              "p99_ms": lo.get("p99_ms"), "max_ms": lo.get("max_ms"), "lost": lo["lost"],
              "lost_skipped_by_cursor": lo["lost_skipped_by_cursor"],
              "target_met": lo["lost"] == 0 and (lo.get("p99_ms") or 1e9) < TARGET_P99_MS,
              "baseline": {k: b.get(k) for k in ("n", "p50_ms", "p95_ms", "p99_ms", "max_ms",
                                                  "lost", "lost_skipped_by_cursor")},
              "hops_median_ms": {"baseline": b["hops_median_ms"],
                                 "loaded": lo["hops_median_ms"]},
              "since_press_ms": {"baseline": b["since_press_ms"],
                                 "loaded": lo["since_press_ms"]},
              "cpu_pct_of_core": {"baseline": b["cpu_pct_of_core"],
                                  "loaded": lo["cpu_pct_of_core"]},
              "wakeup_late_ms": {"baseline": b["wakeup_late"], "loaded": lo["wakeup_late"]},
              "background": bg, **setup, "ws_changes": r["ws_changes"],
              "server_log_warnings": r["server_log_warnings"],
              "gateway_publish_failures": r["gateway_publish_failures"],
              "probe_errors": r["probe_errors"], "machine": r["machine"],
              "load_1m": r["machine"]["loadavg_after"][0]}
    pub = bg["publisher"]
    lines = [
        f"alarm latency: pty → gateway → Mosquitto → server ({setup['ingest_workers']} ingest "
        f"workers) → WebSocket; {setup['homes']} homes, {setup['presses_per_s']:g} presses/s; "
        f"broker {setup['broker']}",
        f"{'':34}{'baseline':>14}{'loaded':>14}",
        _row("presses (lost)", f"{b['n']} ({b['lost']})", f"{lo['n']} ({lo['lost']})"),
        *[_row(f"{k[:-3]} ms", b.get(k), lo.get(k)) for k in ("p50_ms", "p95_ms", "p99_ms",
                                                                "max_ms")],
        "per hop, median ms:",
        *[_row(f"  {h}", b["hops_median_ms"].get(h), lo["hops_median_ms"].get(h))
          for h in lo["hops_median_ms"]],
        "since press, p99 ms:",
        *[_row(f"  {s}", b["since_press_ms"][s].get("p99_ms"),
               lo["since_press_ms"][s].get("p99_ms")) for s in STAGES[1:]],
        _row("1 ms sleep wakes late, p50 ms", b["wakeup_late"].get("p50_ms"),
             lo["wakeup_late"].get("p50_ms")),
        _row("1 ms sleep wakes late, p99 ms", b["wakeup_late"].get("p99_ms"),
             lo["wakeup_late"].get("p99_ms")),
        "CPU, % of one core:",
        *[_row(f"  {k}", b["cpu_pct_of_core"].get(k), lo["cpu_pct_of_core"].get(k))
          for k in lo["cpu_pct_of_core"]],
        f"background: {bg['wearables']} wearables on {bg['gateways']} gateways, "
        f"{pub['msgs_per_s']} msg/s offered ({pub['sent']}), {pub['acked']} PUBACKed, "
        f"publisher lag max {pub['lag_max_ms']} ms; stored {bg['acc_rows_stored']} acc blocks, "
        f"{bg['vitals_rows_stored']} vital readings; acc publish → ingest receive "
        f"p50 {bg['acc_publish_to_ingest_receive_ms']['p50']} ms, "
        f"p99 {bg['acc_publish_to_ingest_receive_ms']['p99']} ms",
        f"lost presses got as far as: baseline {b['lost_reached'] or '-'}, "
        f"loaded {lo['lost_reached'] or '-'}; of them, skipped by the feed's cursor (their "
        f"change committed after a higher seq was sent): baseline "
        f"{b['lost_skipped_by_cursor']}, loaded {lo['lost_skipped_by_cursor']}",
        f"server log warnings/errors by shape: {r['server_log_warnings'] or 'none'}",
        f"machine: {r['machine']['cores']} cores, load average {r['machine']['loadavg_before']}"
        f" before, {r['machine']['loadavg_after']} after (other jobs share it)",
        f"target p99 < {TARGET_P99_MS:g} ms and lost 0 under load: "
        f"{'met' if result['target_met'] else 'NOT met'}",
    ]
    return result, lines


def _row(label: str, a: object, b: object) -> str:
    return f"{label:<34}{'-' if a is None else a!s:>14}{'-' if b is None else b!s:>14}"


