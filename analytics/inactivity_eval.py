"""Evaluate inactivity alarms on a simulated month of many residents.

    python -m analytics.inactivity_eval [--residents N] [--days D] [--seed S] [--json]

Residents and emergencies come from :mod:`analytics.inactivity_sim`. A resident answers a
pre-warning that is not an emergency with a button press 1-10 minutes later (probability 0.8
awake, 0.3 asleep), which cancels it. Reported per method: emergencies detected within 24 h,
median / p90 detection delay, false alarms, pre-warnings and cancels per resident-day.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace

import numpy as np

from analytics.inactivity import (
    InactivityEvent,
    InactivityRules,
    Minutes,
    Outcome,
    evaluate_learned,
    evaluate_rules,
    fit_learned,
)
from analytics.inactivity_sim import EMERGENCY_MIN, Simulation, simulate

Method = Callable[[Minutes], list[InactivityEvent]]
ANSWER_AWAKE, ANSWER_ASLEEP = 0.8, 0.3


@dataclass(frozen=True, slots=True)
class MethodResult:
    method: str
    emergencies: int
    detected: int
    median_delay_min: float | None
    p90_delay_min: float | None
    false_alarms_per_resident_day: float
    prewarnings_per_resident_day: float
    cancelled_per_resident_day: float
    not_worn_per_resident_day: float
    device_silent_per_resident_day: float


def run_with_answers(sim: Simulation, method: Method, seed: int) -> list[InactivityEvent]:
    """Evaluate, let residents answer pre-warnings, and re-evaluate until nothing changes."""
    rng = np.random.default_rng(seed)
    button = np.zeros_like(sim.month.button)
    answered: set[tuple[int, int]] = set()
    for _ in range(6):
        m = replace(sim.month, button=button)
        events = method(m)
        new = 0
        for e in events:
            c = e.minute - m.start
            if e.outcome is not Outcome.PREWARN or (e.resident, c) in answered:
                continue
            answered.add((e.resident, c))
            if _in_emergency(sim, e.resident, c):
                continue
            p = ANSWER_ASLEEP if sim.asleep[e.resident, c] else ANSWER_AWAKE
            if rng.random() < p:
                at = c + int(rng.integers(1, 11))
                if at < button.shape[1]:
                    button[e.resident, at] = True
                    new += 1
        if new == 0:
            return events
    return events


def _in_emergency(sim: Simulation, resident: int, column: int) -> bool:
    o = int(sim.onset[resident])
    return o >= 0 and o <= column < o + EMERGENCY_MIN


def score(sim: Simulation, name: str, events: list[InactivityEvent]) -> MethodResult:
    k, n = sim.month.wear.shape
    resident_days = k * n / 1440
    delays: list[float] = []
    first: dict[int, int] = {}
    false_alarms = 0
    for e in events:
        if e.outcome is not Outcome.ALARM:
            continue
        c = e.minute - sim.month.start
        if _in_emergency(sim, e.resident, c):
            first.setdefault(e.resident, c - int(sim.onset[e.resident]))
        else:
            false_alarms += 1
    delays = [float(v) for v in first.values()]

    def per_day(outcome: Outcome) -> float:
        n = sum(1 for e in events if e.outcome is outcome and e.active)
        return round(float(n / resident_days), 4)

    return MethodResult(
        method=name,
        emergencies=int((sim.onset >= 0).sum()),
        detected=len(delays),
        median_delay_min=float(np.median(delays)) if delays else None,
        p90_delay_min=float(np.percentile(delays, 90)) if delays else None,
        false_alarms_per_resident_day=round(false_alarms / resident_days, 4),
        prewarnings_per_resident_day=per_day(Outcome.PREWARN),
        cancelled_per_resident_day=per_day(Outcome.CANCELLED),
        not_worn_per_resident_day=per_day(Outcome.NOT_WORN),
        device_silent_per_resident_day=per_day(Outcome.DEVICE_SILENT),
    )


def methods(sim: Simulation) -> dict[str, Method]:
    rules = InactivityRules()
    out: dict[str, Method] = {}
    for rule in rules.rules:
        out[f"rule:{rule.name}"] = _rules_method(replace(rules, rules=(rule,)))
    out["rules:any"] = _rules_method(rules)
    learned = fit_learned(sim.history)
    out["learned"] = lambda m: evaluate_learned(m, learned)
    return out


def _rules_method(rules: InactivityRules) -> Method:
    def run(m: Minutes) -> list[InactivityEvent]:
        return evaluate_rules(m, rules)

    return run


def format_table(results: Sequence[MethodResult]) -> str:
    lines = ["method                      detected   med_min  p90_min  FA/res-day  prewarn/d "
             " cancel/d"]
    for r in results:
        med = "   -   " if r.median_delay_min is None else f"{r.median_delay_min:7.0f}"
        p90 = "   -   " if r.p90_delay_min is None else f"{r.p90_delay_min:7.0f}"
        lines.append(
            f"{r.method:<27} {r.detected:3d}/{r.emergencies:<4d} {med}  {p90}  "
            f"{r.false_alarms_per_resident_day:10.4f}  {r.prewarnings_per_resident_day:8.4f} "
            f"{r.cancelled_per_resident_day:9.4f}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m analytics.inactivity_eval",
                                 description=__doc__.split("\n")[0])
    ap.add_argument("--residents", type=int, default=200)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--history-days", type=int, default=28)
    ap.add_argument("--seed", type=int, default=2)
    ap.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = ap.parse_args(argv)
    sim = simulate(args.residents, args.days, args.history_days, seed=args.seed)
    results = [score(sim, name, run_with_answers(sim, fn, args.seed))
               for name, fn in methods(sim).items()]
    print(f"{args.residents} simulated residents, {args.days} days after {args.history_days} days "
          f"of history, seed {args.seed}; emergencies last 24 h")
    print(format_table(results))
    if args.json:
        print(json.dumps({"residents": args.residents, "days": args.days,
                          "results": [asdict(r) for r in results]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
