"""A gateway's devices, the server's list (``server.devices``): pair, unpair, replace and
relabel (each a new config revision, published retained to the gateway), send the config
again, open the pairing window, and the panel: devices, config state, heard-not-paired.

Technicians, supervisors and admins, within their regions (another region's gateway is 404).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import Field

from server.alerts.model import Role
from server.api.deps import Db, require
from server.api.enrol_routes import Config, GatewayId
from server.api.errors import RESPONSES
from server.auth.users import User
from server.devices import config, heard, pairing
from server.directory.records import Input
from server.scope import Scope

router = APIRouter(prefix="/api/gateway-devices", tags=["devices"], responses=RESPONSES)
Installer = Annotated[User, Depends(require(Role.TECHNICIAN, Role.SUPERVISOR))]


class Window(Input):
    seconds: int = Field(default=heard.DEFAULT_WINDOW_S, ge=0, le=heard.MAX_WINDOW_S,
                         description="how long from now; 0 closes the window")


def _changed(conn: Db, settings: Config, gateway: str, rev: int) -> dict[str, Any]:
    return {"rev": rev, "published": config.publish(conn, settings, gateway)}


@router.get("/{gateway_id}")
def devices(gateway_id: GatewayId, user: Installer, conn: Db) -> dict[str, Any]:
    """The gateway's paired devices, its config state (none | unsent | pending | applied),
    its pairing window and the devices it hears but has not paired."""
    return asdict(heard.gateway_devices(conn, Scope.of(user), gateway_id))


@router.post("/{gateway_id}/pair")
def pair(gateway_id: GatewayId, body: pairing.Pair, user: Installer, conn: Db,
         settings: Config) -> dict[str, Any]:
    """Pair a device (a catalogue model; 409 when it is paired already)."""
    return _changed(conn, settings, gateway_id, pairing.pair(conn, user, gateway_id, body))


@router.post("/{gateway_id}/unpair")
def unpair(gateway_id: GatewayId, body: pairing.Unpair, user: Installer, conn: Db,
           settings: Config) -> dict[str, Any]:
    return _changed(conn, settings, gateway_id, pairing.unpair(conn, user, gateway_id, body))


@router.post("/{gateway_id}/relabel")
def relabel(gateway_id: GatewayId, body: pairing.Relabel, user: Installer, conn: Db,
            settings: Config) -> dict[str, Any]:
    return _changed(conn, settings, gateway_id, pairing.relabel(conn, user, gateway_id, body))


@router.post("/{gateway_id}/replace")
def replace(gateway_id: GatewayId, body: pairing.Replace, user: Installer, conn: Db,
            settings: Config) -> dict[str, Any]:
    """A new device in the old one's place (its label and resident); the old one's history
    is kept."""
    return _changed(conn, settings, gateway_id, pairing.replace(conn, user, gateway_id, body))


@router.post("/{gateway_id}/publish")
def publish(gateway_id: GatewayId, user: Installer, conn: Db,
            settings: Config) -> dict[str, Any]:
    """Send the current config again (after the broker missed it: the state "unsent"); 409
    for a gateway the server never configured."""
    found = heard.gateway_devices(conn, Scope.of(user), gateway_id)
    return _changed(conn, settings, gateway_id, found.desired_rev)


@router.post("/{gateway_id}/window")
def pairing_window(gateway_id: GatewayId, body: Window, user: Installer,
                   conn: Db) -> dict[str, Any]:
    """Open the pairing window (default 120 s): devices heard in it are marked in the panel."""
    return {"pairing_until": heard.open_window(conn, Scope.of(user), gateway_id, body.seconds)}
