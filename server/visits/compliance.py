"""Compliance with the visiting policy: for a month, how many residents were due a visit (they
have a plan task in it) and how many were visited at home at least once that month, per
community and rolled up to its street and district, and per care tag; against the 100 %
monthly target. The overdue list is ``tasks.list_tasks(overdue=True)``."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import psycopg
from psycopg import sql

from server.directory.regions import list_regions
from server.scope import Scope
from server.visits.tasks import first_of

TARGET = 1.0  # every special-hardship elder visited every month


@dataclass
class Share:
    due: int = 0
    done: int = 0

    @property
    def rate(self) -> float | None:
        return round(self.done / self.due, 4) if self.due else None

    def as_dict(self) -> dict[str, Any]:
        return {"due": self.due, "done": self.done, "rate": self.rate}


@dataclass
class Compliance:
    month: date
    total: Share = field(default_factory=Share)
    regions: list[dict[str, Any]] = field(default_factory=list)
    tags: dict[str, dict[str, Any]] = field(default_factory=dict)
    not_home: int = 0  # visits that found nobody
    overdue: int = 0  # open tasks of the month past their day

    def as_dict(self) -> dict[str, Any]:
        return {"month": self.month.isoformat()[:7], "target": TARGET,
                "total": self.total.as_dict(), "regions": self.regions, "tags": self.tags,
                "not_home": self.not_home, "overdue": self.overdue}


def compliance(conn: psycopg.Connection[Any], scope: Scope, month: date,
               today: date | None = None) -> Compliance:
    month = first_of(month)
    rows = conn.execute(sql.SQL(
        "WITH due AS (SELECT DISTINCT resident_id FROM visit_tasks WHERE kind = 'plan' "
        "AND month = %(m)s), seen AS (SELECT DISTINCT resident_id FROM visits WHERE at_home "
        "AND arrived_at >= %(m)s AND arrived_at < %(m)s::date + interval '1 month') "
        "SELECT h.region_id, r.care_tags, s.resident_id IS NOT NULL FROM due d "
        "JOIN residents r ON r.id = d.resident_id JOIN homes h ON h.id = r.home_id "
        "LEFT JOIN seen s ON s.resident_id = d.resident_id WHERE {}").format(
        scope.where("h.region_id")), {"m": month}).fetchall()
    out = Compliance(month)
    by_region: dict[int, Share] = defaultdict(Share)
    by_tag: dict[str, Share] = defaultdict(Share)
    names = {r.id: r for r in list_regions(conn)}
    parents = {rid: r.parent_id for rid, r in names.items()}
    for region_id, tags, visited in rows:
        shares = [out.total, *(by_tag[t] for t in tags)]
        region: int | None = region_id
        while region is not None:  # the community, its street, its district
            shares.append(by_region[region])
            region = parents.get(region)
        for share in shares:
            share.due += 1
            share.done += int(visited)
    out.regions = [{"region_id": rid, "name": names[rid].name, "level": names[rid].level,
                    "parent_id": names[rid].parent_id, **share.as_dict()}
                   for rid, share in sorted(by_region.items())]
    out.tags = {tag: share.as_dict() for tag, share in sorted(by_tag.items())}
    counts = conn.execute(sql.SQL(
        "SELECT (SELECT count(*) FROM visits v JOIN residents r ON r.id = v.resident_id "
        "JOIN homes h ON h.id = r.home_id WHERE NOT v.at_home AND v.arrived_at >= %(m)s AND "
        "v.arrived_at < %(m)s::date + interval '1 month' AND {scope}), (SELECT count(*) FROM "
        "visit_tasks t JOIN residents r ON r.id = t.resident_id JOIN homes h ON "
        "h.id = r.home_id WHERE t.month = %(m)s AND t.status = 'open' AND t.due_on < %(today)s "
        "AND {scope})").format(scope=scope.where("h.region_id")),
        {"m": month, "today": today or date.today()}).fetchone()
    assert counts is not None
    out.not_home, out.overdue = int(counts[0]), int(counts[1])
    return out
