"""``pinganling report``: the monthly service report as CSV, XLSX and printable HTML files,
read from the server's database (the same settings as ``pinganling server``)."""

from __future__ import annotations

import argparse
import re
import sys
from datetime import date
from pathlib import Path
from typing import Any

import psycopg

from server import database, monthly
from server.directory.regions import list_regions
from server.errors import NotFound
from server.scope import Scope
from server.settings import Settings


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--month", required=True, help="the month, YYYY-MM")
    parser.add_argument("--area", help="a region's name or id (default: every region)")
    parser.add_argument("--out", type=Path, default=Path("."),
                        help="the directory to write into (default: the current one)")


def run(args: argparse.Namespace) -> int:
    if not re.fullmatch(r"2[0-9]{3}-(0[1-9]|1[0-2])", args.month):
        print(f"pinganling report: --month {args.month!r} is not YYYY-MM", file=sys.stderr)
        return 2
    month = date.fromisoformat(f"{args.month}-01")
    settings = Settings()
    conninfo, cluster = database.resolve(settings)
    try:
        with database.connect(conninfo, connect_timeout=database.CONNECT_TIMEOUT_S) as conn:
            try:
                area = find_area(conn, args.area)
                report = monthly.monthly_report(conn, Scope.everywhere(), month, area)
            except NotFound as exc:
                print(f"pinganling report: {exc}", file=sys.stderr)
                return 2
    finally:
        if cluster is not None:
            cluster.stop()
    for path in write(report, args.out):
        print(path)
    return 0


def find_area(conn: psycopg.Connection[Any], name_or_id: str | None) -> int | None:
    """The region named ``name_or_id`` (or with that id); NotFound when none or several."""
    if not name_or_id:
        return None
    regions = list_regions(conn)
    if name_or_id.isdigit() and any(r.id == int(name_or_id) for r in regions):
        return int(name_or_id)
    named = [r for r in regions if r.name == name_or_id]
    if len(named) != 1:
        known = "several regions are" if named else "no region is"
        raise NotFound(f"{known} called {name_or_id!r} (give its id)", field="area")
    return named[0].id


def write(report: monthly.MonthlyReport, out: Path) -> list[Path]:
    """report-YYYY-MM.csv, .xlsx and .html in ``out`` (made if missing)."""
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"report-{report.month:%Y-%m}"
    files = {".csv": monthly.to_csv(report), ".xlsx": monthly.to_xlsx(report),
             ".html": monthly.to_html(report).encode("utf-8")}
    paths = []
    for suffix, data in files.items():
        path = stem.with_suffix(suffix)
        path.write_bytes(data)
        paths.append(path.resolve())
    return paths
