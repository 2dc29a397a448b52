"""Maintenance over ``server.maintenance``: device and gateway health (with the "needs
attention" filters), installation tests, remote gateway commands and their results, work orders.

Technicians, supervisors and admins, within their regions (elsewhere: 404); operators 403.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import Field, model_validator
from starlette.requests import HTTPConnection

from kernel.contract import CommandOp
from server.alerts.model import Role
from server.api.deps import Db, require
from server.api.errors import RESPONSES
from server.api.types import Id, Text
from server.auth.users import User
from server.directory.records import Input
from server.maintenance import commands, health, installation, work_orders
from server.scope import Scope
from server.settings import Settings

router = APIRouter(prefix="/api/maintenance", tags=["maintenance"], responses=RESPONSES)
Technician = Annotated[User, Depends(require(Role.TECHNICIAN, Role.SUPERVISOR))]
GatewayId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{2,31}$")]
DeviceUid = Annotated[Text, Field(min_length=3, max_length=64)]
ConsoleOp = Literal["status", "scan", "test_alarm", "restart_uplink"]


def settings(conn: HTTPConnection) -> Settings:
    found: Settings = conn.app.state.settings
    return found


Config = Annotated[Settings, Depends(settings)]


@router.get("/devices")
def devices(user: Technician, conn: Db, config: Config,
            gateway: Annotated[GatewayId | None, Query()] = None,
            filter: Annotated[Text | None, Query(max_length=40)] = None
            ) -> list[dict[str, Any]]:
    """Paired devices' health; ``filter``: ``attention`` or one reason (``low_battery``,
    ``silent``, ``weak_signal``, ``failed_test``, ``self_test_missed``, ``open_order``)."""
    return [asdict(d) for d in health.devices(conn, config, Scope.of(user), gateway=gateway,
                                              only=filter)]


@router.get("/filters")
def filters(user: Technician, config: Config) -> list[str]:
    """The reasons a device may need attention (the device list's filters)."""
    return list(health.flags(config))


@router.get("/gateways")
def gateways(user: Technician, conn: Db, config: Config) -> list[dict[str, Any]]:
    """Gateways' health: state, last seen, uptime, outbox, devices needing attention."""
    return [asdict(g) for g in health.gateways(conn, config, Scope.of(user))]


@router.get("/gateways/{gateway_id}/presence")
def presence(gateway_id: GatewayId, user: Technician, conn: Db) -> list[dict[str, Any]]:
    """The gateway's online history, newest first."""
    return [asdict(p) for p in health.presence(conn, Scope.of(user), gateway_id)]


class CommandInput(Input):
    """A command for the gateway; ``device`` only for ``test_alarm`` (default: the gateway)."""

    op: ConsoleOp
    device: DeviceUid | None = None


@router.post("/gateways/{gateway_id}/commands", status_code=201)
def send_command(gateway_id: GatewayId, body: CommandInput, user: Technician, conn: Db,
                 config: Config) -> dict[str, Any]:
    """Send the command; it is ``pending`` until its result (or timeout)."""
    params: dict[str, str | int | float | bool] = {}
    if body.device is not None:
        params["device"] = body.device
    return asdict(commands.send(conn, config, user, gateway_id, CommandOp(body.op), params))


@router.get("/gateways/{gateway_id}/commands")
def command_history(gateway_id: GatewayId, user: Technician, conn: Db) -> list[dict[str, Any]]:
    """The gateway's console commands and their results, newest first."""
    return [asdict(c) for c in commands.history(conn, Scope.of(user), gateway_id)]


class InstallationInput(Input):
    """One device, or every alarm button of a gateway."""

    device: DeviceUid | None = None
    gateway_id: GatewayId | None = None

    @model_validator(mode="after")
    def _one(self) -> InstallationInput:
        if (self.device is None) == (self.gateway_id is None):
            raise ValueError("name either a device or a gateway")
        return self


@router.post("/tests", status_code=201)
def start_test(body: InstallationInput, user: Technician, conn: Db,
               config: Config) -> list[dict[str, Any]]:
    """Open installation tests: each passes on a press of its device within the window."""
    return [asdict(t) for t in installation.start(conn, config, user, device=body.device,
                                                   gateway=body.gateway_id)]


@router.get("/tests")
def installation_tests(user: Technician, conn: Db,
                       gateway: Annotated[GatewayId | None, Query()] = None,
                       device: Annotated[DeviceUid | None, Query()] = None
                       ) -> list[dict[str, Any]]:
    """Installation tests, newest first (of a gateway, a device, or all in reach)."""
    return [asdict(t) for t in installation.recent(conn, Scope.of(user), gateway=gateway,
                                                   device=device)]


@router.get("/work-orders")
def orders(user: Technician, conn: Db,
           state: Annotated[Literal["open", "claimed", "closed"] | None, Query()] = None
           ) -> list[dict[str, Any]]:
    """Work orders: open and claimed first (earliest due first), then closed."""
    return [asdict(w) for w in work_orders.listing(conn, Scope.of(user), state=state)]


@router.get("/work-orders/{order_id}/audit")
def order_audit(order_id: Id, user: Technician, conn: Db) -> list[dict[str, Any]]:
    """Who opened, claimed and closed the order."""
    return work_orders.history(conn, Scope.of(user), order_id)


@router.post("/work-orders/{order_id}/claim")
def claim(order_id: Id, user: Technician, conn: Db) -> dict[str, Any]:
    return asdict(work_orders.claim(conn, user, order_id))


class Closing(Input):
    note: Text = Field(min_length=1, max_length=2000, description="what was done")


@router.post("/work-orders/{order_id}/close")
def close(order_id: Id, body: Closing, user: Technician, conn: Db) -> dict[str, Any]:
    """Close the order with what was done (audited)."""
    return asdict(work_orders.close(conn, user, order_id, body.note))
