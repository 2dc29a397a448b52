"""Provisioning a gateway, end to end on the real server, broker and database: a technician
registers it for a home and gets a claim code; the box trades the code (once, before it
expires, with wrong guesses limited) for its credentials; rotation swaps them once the gateway
is online with the new; every step is audited, within the technician's regions."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gateway import enrol
from gateway.app import Gateway
from gateway.credentials import Credential, CredentialsFile
from kernel.contract import Topics
from kernel.services.broker import BrokerAddress
from server.alerts.model import Role
from server.auth.users import create_user
from tests.fixtures.access import (
    MqttProbe,
    add_second_home,
    add_technician,
    provision,
    register,
    secured,
    secured_server,
)
from tests.fixtures.gateway import running
from tests.fixtures.stack import Stack, running_stack
from tests.fixtures.waiting import eventually, eventually_sync
from tests.fixtures.world import GATEWAY, PASSWORD, World

__all__ = ["secured_server"]

CODE = re.compile(r"^[346789ABCDEFGHJKMNPQRTWXY]{4}-[346789ABCDEFGHJKMNPQRTWXY]{4}$")


def row(stack: Stack, username: str, gateway: str = GATEWAY) -> dict[str, object]:
    rows = stack.client(username).get("/api/enrol/gateways").json()
    found: dict[str, object] = next(r for r in rows if r["gateway_id"] == gateway)
    return found


def test_a_claim_code_is_good_once(world: World, secured_server: Stack) -> None:
    tech = secured_server.client(add_technician(world))
    code = register(tech, GATEWAY, world.home)
    assert CODE.match(code), code
    listed = row(secured_server, "tina")
    assert listed["access"] == "unclaimed"
    assert listed["claim_expires_at"] is not None
    assert code not in tech.get("/api/enrol/gateways").text

    typed = code.lower().replace("-", " ")  # read aloud, typed by hand
    bundle = enrol.claim(secured_server.url, typed)
    assert (bundle.gateway, bundle.mqtt.root) == (GATEWAY, secured_server.settings.mqtt_root)
    assert bundle.mqtt.username.endswith(f"{GATEWAY}.1")
    assert (bundle.mqtt.host, bundle.mqtt.port) == (secured_server.settings.mqtt_host,
                                                    secured_server.settings.mqtt_port)
    with pytest.raises(enrol.EnrolError, match=r"refused the claim \(404\)"):
        enrol.claim(secured_server.url, code)
    listed = row(secured_server, "tina")
    assert (listed["access"], listed["username"], listed["claim_expires_at"]) == (
        "active", bundle.mqtt.username, None)
    audit = tech.get(f"/api/enrol/gateways/{GATEWAY}/audit").json()
    assert [(a["actor"], a["action"]) for a in audit] == [("gateway", "claim"),
                                                          ("tina", "register")]
    # the gateway logs in with it, under its own client id
    probe = MqttProbe(BrokerAddress(bundle.mqtt.host, bundle.mqtt.port, bundle.mqtt.username,
                                    bundle.mqtt.password), client_id=GATEWAY).connect()
    eventually_sync(lambda: probe.connack is not None, 10, "the CONNACK")
    assert probe.accepted
    probe.close()


def test_a_new_code_voids_the_old_and_codes_expire(world: World, secured_server: Stack) -> None:
    tech = secured_server.client(add_technician(world))
    first = register(tech, GATEWAY, world.home)
    r = tech.post(f"/api/enrol/gateways/{GATEWAY}/claim-code")
    assert r.status_code == 201, r.text
    second = r.json()["claim_code"]
    with pytest.raises(enrol.EnrolError, match="404"):
        enrol.claim(secured_server.url, first)
    with world.connect() as conn:  # a day has passed
        conn.execute("UPDATE gateway_credentials SET claim_expires_at = now() - interval '1 s'")
    with pytest.raises(enrol.EnrolError, match="404"):
        enrol.claim(secured_server.url, second)
    third = tech.post(f"/api/enrol/gateways/{GATEWAY}/claim-code").json()["claim_code"]
    assert enrol.claim(secured_server.url, third).gateway == GATEWAY


def test_wrong_codes_are_limited_per_address(world: World, mqtt_broker: BrokerAddress,
                                            mqtt_admin: BrokerAddress, topics: Topics) -> None:
    with running_stack(world, mqtt_broker, topics, ingest=False, claim_attempts=3,
                       **secured(mqtt_admin, topics)) as stack:
        tech = stack.client(add_technician(world))
        code = register(tech, GATEWAY, world.home)
        for wrong in ("AAAA-AAAA", "not a code", "3333-3333"):
            with pytest.raises(enrol.EnrolError, match="404"):
                enrol.claim(stack.url, wrong)
        with pytest.raises(enrol.EnrolError, match=r"\(429\).*wait 10 minutes"):
            enrol.claim(stack.url, code)  # even the right one, for now
        assert row(stack, "tina")["access"] == "unclaimed"


def test_access_is_managed_within_the_actors_regions(world: World,
                                                     secured_server: Stack) -> None:
    with world.connect() as conn:
        create_user(conn, "otto", "Otto", Role.TECHNICIAN, PASSWORD,
                    regions=(world.other_community,))
    tech = secured_server.client(add_technician(world))
    register(tech, GATEWAY, world.home)
    other = secured_server.client("otto")
    r = other.post("/api/enrol/gateways", json={"gateway_id": "gw-else-0001",
                                                "home_id": world.home})
    assert r.status_code == 404
    assert r.json()["error"]["details"][0]["field"] == "home_id"
    for action in ("rotate", "revoke", "claim-code"):
        assert other.post(f"/api/enrol/gateways/{GATEWAY}/{action}").status_code == 404
    assert GATEWAY not in {g["gateway_id"] for g in other.get("/api/enrol/gateways").json()}
    operator = secured_server.client("alice")
    assert operator.get("/api/enrol/gateways").status_code == 403
    assert tech.post("/api/enrol/gateways", json={"gateway_id": GATEWAY,
                                                  "home_id": world.home}).status_code == 409


async def test_rotation_swaps_the_identity_once_the_gateway_is_online_with_it(
        world: World, secured_server: Stack, tmp_path: Path) -> None:
    tech = secured_server.client(add_technician(world))
    a = await asyncio.to_thread(provision, secured_server, tech, GATEWAY, world.home,
                                tmp_path / "a")
    old = a.bundle.mqtt.username
    gw = Gateway(a.settings())
    async with running(gw):
        r = await asyncio.to_thread(tech.post, f"/api/enrol/gateways/{GATEWAY}/rotate")
        assert r.status_code == 200, r.text
        new = r.json()["pending_username"]
        assert r.json()["access"] == "rotating"
        assert new != old

        def done() -> bool:
            got = row(secured_server, "tina")
            return got["access"] == "active" and got["username"] == new

        await eventually(done, 20, "the rotation finished")
        assert gw.uplink.identity == Credential(new, CredentialsFile(
            tmp_path / "a" / "credentials.toml").read()[0].password)
        assert gw.counters["credentials_rotated"] == 1
        current, nxt = CredentialsFile(tmp_path / "a" / "credentials.toml").read()
        assert (current.username, nxt) == (new, None)
    old_login = MqttProbe(BrokerAddress(a.bundle.mqtt.host, a.bundle.mqtt.port, old,
                                        a.bundle.mqtt.password), client_id=GATEWAY).connect()
    await eventually(lambda: old_login.connack is not None, 10, "the CONNACK")
    assert old_login.refused
    old_login.close()
    audit = (await asyncio.to_thread(tech.get, f"/api/enrol/gateways/{GATEWAY}/audit")).json()
    assert [a["action"] for a in audit][:2] == ["rotated", "rotate"]


async def test_a_next_identity_the_broker_refuses_is_dropped(
        world: World, secured_server: Stack, tmp_path: Path) -> None:
    tech = secured_server.client(add_technician(world))
    a = await asyncio.to_thread(provision, secured_server, tech, GATEWAY, world.home,
                                tmp_path / "a")
    file = CredentialsFile(tmp_path / "a" / "credentials.toml")
    file.stage(Credential("nobody-at-all", "not a password"))
    gw = Gateway(a.settings())
    async with running(gw):
        assert gw.counters["credentials_refused"] == 1
        assert gw.uplink.identity is not None
        assert gw.uplink.identity.username == a.bundle.mqtt.username
    assert file.read() == (Credential(a.bundle.mqtt.username, a.bundle.mqtt.password), None)


def test_the_provision_command_stores_the_bundle_privately(
        world: World, secured_server: Stack, tmp_path: Path) -> None:
    tech = secured_server.client(add_technician(world))
    home_b = add_second_home(world)
    code = register(tech, "gw-box-0007", home_b)
    state = tmp_path / "state"
    done = subprocess.run(
        [sys.executable, "-m", "pinganling.cli", "gateway", "provision", "--server",
         secured_server.url, "--code", code, "--state-dir", str(state), "--serial", "loop://"],
        capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "PINGANLING_LOG_LEVEL": "DEBUG"})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "gateway gw-box-0007 provisioned" in done.stdout
    password = CredentialsFile(state / "credentials.toml").read()[0].password
    assert password not in done.stdout + done.stderr
    for name in ("credentials.toml", "gateway.toml"):
        assert (state / name).stat().st_mode & 0o077 == 0, name
    assert state.stat().st_mode & 0o077 == 0
    config = (state / "gateway.toml").read_text()
    assert 'serial = ["loop://"]' in config
    assert f'credentials_file = "{state / "credentials.toml"}"' in config
    again = subprocess.run(
        [sys.executable, "-m", "pinganling.cli", "gateway", "provision", "--server",
         secured_server.url, "--code", code, "--state-dir", str(state)],
        capture_output=True, text=True, timeout=60, check=False)
    assert again.returncode == 2
    assert "refused the claim (404)" in again.stdout
    assert CredentialsFile(state / "credentials.toml").read()[0].password == password
