"""Figures of ``bench/ingest.py``: a phase's numbers, their derived forms, the printed report."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ingest_sys import NCPU

OURS = ("mosquitto", "ingest workers", "naive subscribers", "load generator", "this script",
        "postgres (our backends)", "postgres (wal, checkpoints, …)")


@dataclass
class Phase:
    """Figures of one phase; rates are per second over its steady window."""

    name: str
    offered: dict[str, float]
    published: dict[str, int] = field(default_factory=dict)
    window_s: float = 0.0
    rate: dict[str, float] = field(default_factory=dict)
    series_acc: list[int] = field(default_factory=list)
    generator: dict[str, float] = field(default_factory=dict)
    cpu_pct: dict[str, float] = field(default_factory=dict)
    cpu_us_per_msg: dict[str, float] = field(default_factory=dict)
    backlog_at_end: int = 0
    drain: dict[str, float] = field(default_factory=dict)
    lost: dict[str, int] = field(default_factory=dict)
    worker_counters: dict[str, int] = field(default_factory=dict)
    profile: dict[str, object] = field(default_factory=dict)
    took_s: float = 0.0

    @property
    def acc_per_s(self) -> float:
        return self.rate.get("acc", 0.0)

    @property
    def messages_per_s(self) -> float:
        return sum(self.rate.values())


def per_message(phase: Phase) -> None:
    """CPU µs per message: the generator's and the broker's per message sent, the rest's per
    message committed (the same in a steady state; not when a backlog builds up)."""
    committed = max(phase.messages_per_s, 1.0)
    sent = max(phase.generator.get("sent_per_s", 0.0), committed)
    phase.cpu_us_per_msg = {
        k: round(v * 1e4 / (sent if k in ("mosquitto", "load generator") else committed), 1)
        for k, v in phase.cpu_pct.items() if k in OURS and v}


def describe(p: Phase) -> list[str]:
    lines = [f"  {p.name} ({p.took_s} s): {p.acc_per_s:,.0f} acc msg/s committed"
             f" ({p.acc_per_s * 50:,.0f} samples/s), {p.messages_per_s:,.0f} msg/s in all, over"
             f" {p.window_s} s; offered"
             f" {sum(p.offered.values()):,.0f} msg/s, sent {p.generator.get('sent_per_s', 0):,}"
             f" msg/s (up to {p.generator.get('behind_schedule_max_s', 0)} s behind schedule)",
             "    acc rows committed per second: "
             + " ".join(f"{x / 1000:.1f}k" for x in p.series_acc),
             f"    backlog when publishing ended: {p.backlog_at_end:,} acc blocks"]
    if p.drain:
        lines.append(f"    drained for {p.drain['seconds']} s at {p.drain['acc_per_s']:,} acc/s;"
                     f" not drained then (still queued for the workers):"
                     f" {p.drain['not_drained']:,}; lost {p.lost}")
    lines.append("    CPU, % of a core: " + ", ".join(f"{k} {v}" for k, v in p.cpu_pct.items()))
    lines.append("    CPU, µs per committed message: "
                 + ", ".join(f"{k} {v}" for k, v in p.cpu_us_per_msg.items()))
    odd = {k: v for k, v in p.worker_counters.items()
           if k.startswith(("rejected", "db_", "writer_", "telemetry_dropped"))}
    if odd:
        lines.append(f"    worker counters of note: {odd}")
    if p.profile:
        lines.append(f"    py-spy, one worker: {json.dumps(p.profile, ensure_ascii=False)}")
    return lines


def capacity(p: Phase, with_generator: bool) -> int:
    """Messages/s the box would carry at the measured CPU per message, were it ours alone."""
    used = sum(v for k, v in p.cpu_us_per_msg.items()
               if with_generator or k != "load generator")
    return round(NCPU * 1e6 / used) if used else 0


def header(wearables: int, quick: bool, backend: str, ceiling: dict[str, float]) -> str:
    return (f"ingest benchmark ({'quick' if quick else 'full'}): {wearables:,} wearables,"
            f" storage backend {backend}, {NCPU} CPUs\n"
            f"  ceiling, generator vs broker alone: {ceiling['messages_per_s']:,} msg/s at"
            f" {ceiling['cpu_us_per_msg']} µs CPU/msg"
            + (f" (paho publisher, 1 process: {ceiling['paho_messages_per_s']:,} msg/s at"
               f" {ceiling['paho_cpu_us_per_msg']} µs/msg)" if "paho_messages_per_s" in ceiling
               else ""))


def report(wearables: int, quick: bool, ceiling: dict[str, float], phases: dict[str, Phase],
           backend: str) -> tuple[dict[str, Any], str]:
    """The JSON figures (the 2-worker phase against the 1-subscriber naive one) and a summary."""
    main, naive = phases["ingest_2w"], phases["naive"]
    checked = [p for p in phases.values() if p.lost]
    result: dict[str, Any] = {
        "messages_per_s": round(main.acc_per_s),
        "samples_per_s": round(main.acc_per_s * 50),
        "baseline_messages_per_s": round(naive.acc_per_s),
        "ratio": round(main.acc_per_s / naive.acc_per_s, 1) if naive.acc_per_s else None,
        "lost": sum(p.lost["acc"] + p.lost["event"] for p in checked),
        "not_drained": sum(p.drain["not_drained"] for p in checked),
        "events_without_app_ack": sum(p.lost["event_without_app_ack"] for p in checked),
        "all_messages_per_s": round(main.messages_per_s),
        "baseline_all_messages_per_s": round(naive.messages_per_s),
        "offered_messages_per_s": round(sum(main.offered.values())),
        "sustained": main.acc_per_s >= 0.97 * main.offered["acc"],
        "generator_ceiling_messages_per_s": ceiling["messages_per_s"],
        "production_broker_messages_per_s": round(phases["production_broker"].acc_per_s),
        "cpu_pct": main.cpu_pct,
        "cpu_us_per_msg": main.cpu_us_per_msg,
        "box_capacity_messages_per_s": capacity(main, True),
        "box_capacity_without_generator_messages_per_s": capacity(main, False),
        "quick": quick, "workers": 2, "wearables": wearables, "backend": backend,
    }
    if "paho_messages_per_s" in ceiling:
        result["paho_publisher_messages_per_s"] = ceiling["paho_messages_per_s"]
    if "naive_2" in phases:
        result["baseline_2_subscribers_messages_per_s"] = round(phases["naive_2"].acc_per_s)
    if "ingest_1w" in phases:
        result["one_worker_messages_per_s"] = round(phases["ingest_1w"].acc_per_s)
    if "capacity" in phases:  # offered beyond the target: what the box carries at most
        cap = phases["capacity"]
        result["capacity_offered_messages_per_s"] = round(cap.offered["acc"])
        result["capacity_messages_per_s"] = round(cap.acc_per_s)
        result["capacity_ratio"] = (round(cap.acc_per_s / naive.acc_per_s, 1)
                                    if naive.acc_per_s else None)
    for p in phases.values():
        if p.profile:
            result["worker_profile"] = p.profile
    return result, (
        f"  => {result['messages_per_s']:,} acc msg/s ({result['samples_per_s']:,} samples/s)"
        f" with 2 workers; naive {result['baseline_messages_per_s']:,}; ratio"
        f" {result['ratio']}x; lost {result['lost']}; at these CPU costs the box alone would"
        f" carry {result['box_capacity_messages_per_s']:,} msg/s"
        f" ({result['box_capacity_without_generator_messages_per_s']:,} with the gateways"
        " elsewhere)")
