"""Gateway access: register, claim, rotate, revoke; each a transaction, each audited.

A gateway's access goes ``unclaimed`` (registered for a home, a claim code issued) → ``active``
(the box traded the code for its credentials) ⇄ ``rotating`` (a new identity sent, the old one
kept until the gateway is online under the new) → ``revoked`` (its identities deleted: live
connections cut, logins refused). A new claim code can be issued in any state (a replaced box);
when it is claimed, every identity the gateway had before is deleted.

Passwords are generated here, given to the broker, handed out once (the claim's answer, the
rotation command) and never stored or logged. Claim codes are stored as hashes
(``server.enrol.codes``); wrong ones are counted per client address (``claim_failures``).
Writes are confined to the actor's regions: a gateway at a home outside them is "not found".
"""

from __future__ import annotations

import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from kernel.services.dynsec import Login
from server.auth.users import User
from server.directory.records import fetch
from server.enrol import codes
from server.enrol.broker import BrokerAccess
from server.errors import Conflict, NotFound
from server.scope import Scope
from server.settings import Settings

log = logging.getLogger(__name__)

CLAIM_WINDOW = "10 minutes"  # wrong claim codes are counted over this window


class TooManyClaims(Exception):
    """This client address sent too many wrong claim codes lately: wait, then try again."""


@dataclass(frozen=True, slots=True)
class _Registration:
    gateway_id: str
    home_id: int


@dataclass(frozen=True, slots=True)
class GatewayAccess:
    """A gateway, where it is, whether it is online, and the state of its broker identity."""

    gateway_id: str
    home_id: int | None
    address: str | None
    online: str
    last_seen: datetime | None
    access: str  # none (never registered) | unclaimed | active | rotating | revoked
    username: str | None
    pending_username: str | None
    claim_expires_at: datetime | None
    claimed_at: datetime | None
    rotated_at: datetime | None
    revoked_at: datetime | None
    devices: Any  # the last heartbeat's devices


@dataclass(frozen=True, slots=True)
class ClaimCode:
    code: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Bundle:
    """What a gateway needs to reach the broker as itself (the claim's one answer)."""

    gateway: str
    host: str
    port: int
    tls: bool
    ca_pem: str | None
    username: str
    password: str
    root: str

    def json(self) -> dict[str, Any]:
        return {"gateway": self.gateway, "mqtt": {
            "host": self.host, "port": self.port, "tls": self.tls, "ca_pem": self.ca_pem,
            "username": self.username, "password": self.password, "root": self.root}}

    def __repr__(self) -> str:
        return f"Bundle({self.gateway!r}, {self.username!r}, password=…)"


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    gateway_id: str
    ts: datetime
    actor: str
    action: str
    detail: Any


_ACCESS = sql.SQL(
    "SELECT g.id AS gateway_id, g.home_id, h.address, g.state AS online, g.last_seen, "
    "coalesce(c.state, 'none') AS access, c.username, c.pending_username, "
    "c.claim_expires_at, c.claimed_at, c.rotated_at, c.revoked_at, "
    "coalesce(g.last_heartbeat->'devices', '[]') AS devices "
    "FROM gateways g LEFT JOIN homes h ON h.id = g.home_id "
    "LEFT JOIN gateway_credentials c ON c.gateway_id = g.id WHERE {} ")


def list_access(conn: psycopg.Connection[Any], scope: Scope) -> list[GatewayAccess]:
    """Gateways in scope (and those at no home yet), with their access, by id."""
    return fetch(conn, GatewayAccess, _ACCESS.format(scope.where("h.region_id", unplaced=True))
                 + sql.SQL("ORDER BY g.id"))


def get_access(conn: psycopg.Connection[Any], scope: Scope, gateway: str) -> GatewayAccess:
    found = fetch(conn, GatewayAccess, _ACCESS.format(scope.where("h.region_id", unplaced=True))
                  + sql.SQL("AND g.id = %s"), (gateway,))
    if not found:
        raise NotFound(f"no gateway {gateway!r}")
    return found[0]


@dataclass(frozen=True, slots=True)
class HomeChoice:
    """A home a gateway can be registered for, and the gateways it already has."""

    id: int
    address: str
    region: str
    gateways: list[str]


def homes(conn: psycopg.Connection[Any], scope: Scope) -> list[HomeChoice]:
    """Homes in scope, by address (the console's choice when registering a gateway)."""
    return fetch(conn, HomeChoice, sql.SQL(
        "SELECT h.id, h.address, r.name AS region, coalesce(array_agg(g.id ORDER BY g.id) "
        "FILTER (WHERE g.id IS NOT NULL), '{{}}') AS gateways FROM homes h "
        "JOIN regions r ON r.id = h.region_id LEFT JOIN gateways g ON g.home_id = h.id "
        "WHERE {} GROUP BY h.id, r.name ORDER BY h.address").format(scope.where("h.region_id")))


def audit_log(conn: psycopg.Connection[Any], scope: Scope, gateway: str,
              limit: int = 50) -> list[AuditEntry]:
    get_access(conn, scope, gateway)  # in scope, or NotFound
    return fetch(conn, AuditEntry, sql.SQL(
        "SELECT id, gateway_id, ts, actor, action, detail FROM gateway_access_audit "
        "WHERE gateway_id = %s ORDER BY id DESC LIMIT %s"), (gateway, limit))


# ---------------------------------------------------------------------------------- writes


def _audit(conn: psycopg.Connection[Any], gateway: str, actor: User | str, action: str,
           **detail: Any) -> None:
    who, uid = (actor.username, actor.id) if isinstance(actor, User) else (actor, None)
    conn.execute("INSERT INTO gateway_access_audit (gateway_id, actor_id, actor, action, detail) "
                 "VALUES (%s, %s, %s, %s, %s)", (gateway, uid, who, action, Jsonb(detail)))
    log.info("gateway %s: %s by %s %s", gateway, action, who, detail or "")


def _locked(conn: psycopg.Connection[Any], scope: Scope, gateway: str) -> dict[str, Any]:
    """The gateway's credential row, locked; NotFound outside the actor's regions."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(sql.SQL(
            "SELECT c.* FROM gateway_credentials c JOIN gateways g ON g.id = c.gateway_id "
            "LEFT JOIN homes h ON h.id = g.home_id WHERE c.gateway_id = %s AND {} "
            "FOR UPDATE OF c").format(scope.where("h.region_id")), (gateway,)).fetchone()
    if row is None:
        raise NotFound(f"no registered gateway {gateway!r}", field="gateway_id")
    return row


def _new_code(conn: psycopg.Connection[Any], gateway: str, settings: Settings) -> ClaimCode:
    code = codes.new_code()
    row = conn.execute(
        "UPDATE gateway_credentials SET claim_hash = %s, claim_expires_at = now() + %s, "
        "updated_at = now() WHERE gateway_id = %s RETURNING claim_expires_at",
        (codes.code_hash(code), settings.claim_ttl, gateway)).fetchone()
    assert row is not None
    return ClaimCode(code, row[0])


def register(conn: psycopg.Connection[Any], broker: BrokerAccess, settings: Settings,
             actor: User, gateway: str, home_id: int) -> tuple[GatewayAccess, ClaimCode]:
    """Register a gateway for a home in the actor's regions (creating it when new): its broker
    role is made, and a claim code issued (the only time the code is shown)."""
    scope = Scope.of(actor)
    reg = _Registration(gateway, home_id)
    with conn.transaction():
        home = conn.execute(sql.SQL("SELECT h.id FROM homes h WHERE h.id = %s AND {}").format(
            scope.where("h.region_id")), (reg.home_id,)).fetchone()
        if home is None:
            raise NotFound(f"no home {reg.home_id}", field="home_id")
        existing = conn.execute(
            "SELECT g.home_id, c.state FROM gateways g LEFT JOIN gateway_credentials c "
            "ON c.gateway_id = g.id WHERE g.id = %s FOR UPDATE OF g", (reg.gateway_id,)).fetchone()
        if existing is not None and existing[1] is not None:
            raise Conflict(f"gateway {reg.gateway_id} is already registered; issue a new claim "
                           "code for it instead", field="gateway_id")
        if existing is not None and existing[0] not in (None, reg.home_id):
            raise Conflict(f"gateway {reg.gateway_id} belongs to another home",
                           field="gateway_id")
        conn.execute("INSERT INTO gateways (id, home_id, mqtt_username) VALUES (%s, %s, NULL) "
                     "ON CONFLICT (id) DO UPDATE SET home_id = EXCLUDED.home_id",
                     (reg.gateway_id, reg.home_id))
        conn.execute("INSERT INTO gateway_credentials (gateway_id, state) VALUES (%s, "
                     "'unclaimed')", (reg.gateway_id,))
        broker.ensure_gateway(reg.gateway_id)
        code = _new_code(conn, reg.gateway_id, settings)
        _audit(conn, reg.gateway_id, actor, "register", home_id=reg.home_id)
    return get_access(conn, scope, reg.gateway_id), code


def issue_code(conn: psycopg.Connection[Any], settings: Settings, actor: User,
               gateway: str) -> ClaimCode:
    """A new claim code (an expired one, a replaced box): the previous code stops working.
    Whoever claims it becomes the gateway; its earlier identities are deleted then."""
    with conn.transaction():
        _locked(conn, Scope.of(actor), gateway)
        code = _new_code(conn, gateway, settings)
        _audit(conn, gateway, actor, "claim_code")
    return code


def _too_many(conn: psycopg.Connection[Any], client: str, attempts: int) -> bool:
    row = conn.execute("SELECT count(*) FROM claim_failures WHERE client = %s "
                       f"AND ts > now() - interval '{CLAIM_WINDOW}'", (client,)).fetchone()
    return bool(row and row[0] >= attempts)


def _failed(conn: psycopg.Connection[Any], client: str) -> None:
    with conn.transaction():
        conn.execute("INSERT INTO claim_failures (client) VALUES (%s)", (client,))
        conn.execute("DELETE FROM claim_failures WHERE ts < now() - interval '1 day'")


def claim(conn: psycopg.Connection[Any], broker: BrokerAccess, settings: Settings, code: str,
          client: str) -> Bundle:
    """Trade a claim code for the gateway's credentials: a new identity is made in the broker,
    every earlier one deleted, the code used up. NotFound for a wrong or expired code (counted
    against ``client``); TooManyClaims after ``settings.claim_attempts`` of them."""
    if _too_many(conn, client, settings.claim_attempts):
        raise TooManyClaims("too many wrong claim codes from this address; wait 10 minutes")
    normal = codes.normalize(code)
    with conn.transaction():
        row = None
        if normal is not None:
            with conn.cursor(row_factory=dict_row) as cur:
                row = cur.execute(
                    "SELECT * FROM gateway_credentials WHERE claim_hash = %s "
                    "AND claim_expires_at > now() FOR UPDATE",
                    (codes.code_hash(normal),)).fetchone()
        if row is not None:
            return _claimed(conn, broker, settings, row, client)
    _failed(conn, client)
    log.warning("a wrong or expired claim code from %s", client)
    raise NotFound("no such claim code, or it has expired or been used", field="code")


def _claimed(conn: psycopg.Connection[Any], broker: BrokerAccess, settings: Settings,
             row: dict[str, Any], client: str) -> Bundle:
    gateway, generation = row["gateway_id"], row["generation"] + 1
    login = Login(broker.gateway_username(gateway, generation), secrets.token_urlsafe(24))
    broker.issue(gateway, login)
    broker.revoke(*{row["username"], row["pending_username"]} - {login.username})
    conn.execute("UPDATE gateway_credentials SET state = 'active', generation = %s, "
                 "username = %s, pending_username = NULL, claim_hash = NULL, "
                 "claim_expires_at = NULL, claimed_at = now(), revoked_at = NULL, "
                 "updated_at = now() WHERE gateway_id = %s", (generation, login.username, gateway))
    _audit(conn, gateway, "gateway", "claim", username=login.username, client=client)
    ca = settings.mqtt_ca_file
    return Bundle(gateway, settings.mqtt_public_host or settings.mqtt_host,
                  settings.mqtt_public_port or settings.mqtt_port, settings.mqtt_tls,
                  Path(ca).read_text() if ca else None, login.username, login.password,
                  settings.mqtt_root)


def rotate(conn: psycopg.Connection[Any], broker: BrokerAccess, settings: Settings,
           actor: User, gateway: str) -> GatewayAccess:
    """Send the gateway a new identity (``rotate_credentials`` on its ``down/cmd``); the old
    one is deleted when the gateway is online under the new (``confirm_login``). A command that
    cannot be sent is BrokerUnavailable, the gateway left ``rotating`` (rotating again sends a
    new identity; the unused one is deleted)."""
    scope = Scope.of(actor)
    with conn.transaction():
        row = _locked(conn, scope, gateway)
        if row["state"] not in ("active", "rotating"):
            raise Conflict(f"gateway {gateway} has no identity in use to rotate "
                           f"({row['state']})")
        generation = row["generation"] + 1
        login = Login(broker.gateway_username(gateway, generation), secrets.token_urlsafe(24))
        broker.issue(gateway, login)
        broker.revoke(row["pending_username"])  # an earlier rotation never confirmed
        conn.execute("UPDATE gateway_credentials SET state = 'rotating', generation = %s, "
                     "pending_username = %s, rotated_at = now(), updated_at = now() "
                     "WHERE gateway_id = %s", (generation, login.username, gateway))
        _audit(conn, gateway, actor, "rotate", username=login.username)
    rotating = get_access(conn, scope, gateway)
    # sent once committed: the gateway may be online as the new identity at once
    broker.send_rotation(gateway, f"rotate-{uuid.uuid4().hex[:12]}", login,
                         int(settings.claim_ttl.total_seconds()))
    return rotating


def confirm_login(conn: psycopg.Connection[Any], broker: BrokerAccess, gateway: str,
                  username: str) -> bool:
    """The gateway is online as ``username``: if that is its pending identity, the rotation is
    done and the old identity deleted. True when it was."""
    with conn.transaction():
        row = conn.execute(
            "SELECT username FROM gateway_credentials WHERE gateway_id = %s AND state = "
            "'rotating' AND pending_username = %s FOR UPDATE", (gateway, username)).fetchone()
        if row is None:
            return False
        broker.revoke(row[0])
        conn.execute("UPDATE gateway_credentials SET state = 'active', username = %s, "
                     "pending_username = NULL, updated_at = now() WHERE gateway_id = %s",
                     (username, gateway))
        _audit(conn, gateway, "gateway", "rotated", username=username, revoked=row[0])
    return True


def revoke(conn: psycopg.Connection[Any], broker: BrokerAccess, actor: User,
           gateway: str) -> GatewayAccess:
    """Lock the gateway out at once (a stolen or replaced box): its identities deleted (live
    connections cut, logins refused), any claim code void, its retained status cleared and
    the gateway recorded offline. A new claim code brings it (or its replacement) back."""
    scope = Scope.of(actor)
    with conn.transaction():
        row = _locked(conn, scope, gateway)
        broker.revoke(row["username"], row["pending_username"])
        conn.execute("UPDATE gateway_credentials SET state = 'revoked', username = NULL, "
                     "pending_username = NULL, claim_hash = NULL, claim_expires_at = NULL, "
                     "revoked_at = now(), updated_at = now() WHERE gateway_id = %s", (gateway,))
        _audit(conn, gateway, actor, "revoke",
               usernames=[u for u in (row["username"], row["pending_username"]) if u])
    broker.clear_status(gateway)
    return get_access(conn, scope, gateway)
