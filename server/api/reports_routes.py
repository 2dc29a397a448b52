"""Supervisor figures: how fast alarms were answered (share within 60 s / 180 s, p50 / p90),
over ``server.reports``; the monthly service report (JSON, CSV, XLSX, printable HTML), over
``server.monthly``."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.encoders import jsonable_encoder
from fastapi.responses import HTMLResponse, JSONResponse, Response

from server import monthly, reports
from server.alerts.model import Role
from server.api.deps import Db, require
from server.api.errors import RESPONSES
from server.api.types import Id, Instant, Month, month_start
from server.auth.users import User
from server.scope import Scope

router = APIRouter(prefix="/api/reports", tags=["reports"], responses=RESPONSES)
Supervisor = Annotated[User, Depends(require(Role.SUPERVISOR))]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@router.get("/answer-times")
def answer_times(user: Supervisor, conn: Db, since: Instant | None = None,
                 until: Instant | None = None) -> dict[str, Any]:
    """P1/P2 alarms opened in [since, until) (default: the last 24 h) against the industry
    target of 97.5 % answered within 60 s and 99 % within 180 s."""
    return asdict(reports.answer_times(conn, Scope.of(user), since, until))


@router.get("/monthly", response_model=None, responses={200: {"content": {
    "text/csv": {}, XLSX: {}, "text/html": {}}}})
def monthly_report(user: Supervisor, conn: Db, month: Month | None = None,
                   area: Annotated[Id | None, Query(description="a region id")] = None,
                   format: Literal["json", "csv", "xlsx", "html"] = "json") -> Response:
    """The month's service report (default: this month) beside the previous month, for a
    region and everything under it (default: all the caller's regions): alarms by type and
    outcome, answer times, escalations, false alarms per device kind, devices reporting,
    battery replacements, visits by care tag, care calls, new and ended services."""
    first = month_start(month)
    report = monthly.monthly_report(conn, Scope.of(user), first, area)
    name = f"report-{first:%Y-%m}"
    if format == "csv":
        return Response(monthly.to_csv(report), media_type="text/csv; charset=utf-8",
                        headers=_attachment(f"{name}.csv"))
    if format == "xlsx":
        return Response(monthly.to_xlsx(report), media_type=XLSX,
                        headers=_attachment(f"{name}.xlsx"))
    if format == "html":
        return HTMLResponse(monthly.to_html(report))
    return JSONResponse(jsonable_encoder(report.as_dict()))


def _attachment(filename: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{filename}"'}
