"""A gateway's desired config: built from the server's device list at its revision, published
retained on ``down/config`` (QoS 1) as the API's broker identity.

``gateways.desired_rev`` grows by one with every change of the gateway's devices (in the
change's transaction); ``published_rev`` is the last revision the broker took; ``config_rev``
is the one the gateway reports applied (its heartbeat). Publishing holds the gateway's row
lock while it reads the list and sends it, so two changes publish in order and the retained
message is always the newest revision.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

import psycopg

from kernel.contract import Down, GatewayConfig, PairedDevice, dump
from kernel.services.broker import publish_once
from server.errors import Conflict
from server.settings import Settings

log = logging.getLogger(__name__)
PUBACK_TIMEOUT_S = 5.0

ConfigState = Literal["none", "unsent", "pending", "applied"]


def config_state(desired: int, published: int, applied: int) -> ConfigState:
    """``none``: the server never configured it; ``unsent``: the broker has not taken the
    newest revision; ``pending``: sent, not yet applied; ``applied``: the gateway has it."""
    if desired == 0:
        return "none"
    if published < desired:
        return "unsent"
    return "applied" if applied >= desired else "pending"


def bump(conn: psycopg.Connection[Any], gateway: str) -> int:
    """A new revision for ``gateway`` (in the caller's transaction); the gateway's row stays
    locked until it commits."""
    row = conn.execute("UPDATE gateways SET desired_rev = desired_rev + 1 WHERE id = %s "
                       "RETURNING desired_rev", (gateway,)).fetchone()
    assert row is not None, gateway
    return int(row[0])


def build(conn: psycopg.Connection[Any], gateway: str) -> GatewayConfig:
    """The config of the gateway's current revision: every device paired to it, by uid."""
    row = conn.execute("SELECT desired_rev FROM gateways WHERE id = %s", (gateway,)).fetchone()
    assert row is not None, gateway
    devices = [PairedDevice(device=uid, model=model, label=label) for uid, model, label in
               conn.execute("SELECT uid, model, label FROM devices WHERE gateway_id = %s "
                            "AND unpaired_at IS NULL ORDER BY uid", (gateway,))]
    return GatewayConfig(rev=int(row[0]), devices=devices)


def publish(conn: psycopg.Connection[Any], settings: Settings, gateway: str) -> bool:
    """Publish the gateway's current config, retained; False (logged) when the broker did not
    take it (``published_rev`` then stays behind: the console offers to send it again).
    Conflict for a gateway the server never configured (revision 0 would unpair all)."""
    with conn.transaction():
        conn.execute("SELECT 1 FROM gateways WHERE id = %s FOR UPDATE", (gateway,))
        config = build(conn, gateway)
        if config.rev == 0:
            raise Conflict(f"the server has not configured gateway {gateway} yet")
        try:
            publish_once(settings.broker("api"), settings.topics().down(gateway, Down.CONFIG),
                         dump(config), qos=1, retain=True, timeout=PUBACK_TIMEOUT_S)
        except ConnectionError as exc:
            log.warning("config rev %d of gateway %s not published: %s", config.rev, gateway,
                        exc)
            return False
        conn.execute("UPDATE gateways SET published_rev = greatest(published_rev, %s) "
                     "WHERE id = %s", (config.rev, gateway))
    log.info("config rev %d of gateway %s published (%d devices)", config.rev, gateway,
             len(config.devices or ()))
    return True


def publish_unsent(conn: psycopg.Connection[Any], settings: Settings) -> int:
    """Send again every config the broker has not taken (it was down when the change was
    made): the ``device-config`` job, so no change waits for a technician's "send again".
    How many were taken now."""
    unsent = [gw for (gw,) in conn.execute(
        "SELECT id FROM gateways WHERE desired_rev > 0 AND published_rev < desired_rev "
        "ORDER BY id")]
    return sum(publish(conn, settings, gw) for gw in unsent)
