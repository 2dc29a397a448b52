"""No secret in any log line or API response after the one that created it.

A whole provisioning life runs with every log at DEBUG, as the demo would run it: register a
gateway (its claim code), provision it with the real command, run it as a real process,
issue a second claim code, rotate its credentials, revoke them. Everything written is
gathered: the server's log records, its ingest worker processes' output, the provisioning
command's and the gateway process's output, the broker's own log, and the body of every API
response. Each secret (claim codes, the gateway's passwords before and after rotation, the
services' and the administrator's broker passwords, session tokens) may appear only in the
response that handed it out.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.credentials import CredentialsFile
from kernel.contract import Topics
from tests.fixtures.access import add_technician, secured
from tests.fixtures.broker import start_private_broker
from tests.fixtures.gateway import GatewayProcess
from tests.fixtures.stack import Stack, running_stack
from tests.fixtures.waiting import eventually_sync
from tests.fixtures.world import GATEWAY, World


def gateway_row(tech: httpx.Client) -> dict[str, Any]:
    rows = tech.get("/api/enrol/gateways").json()
    found: dict[str, Any] = next(r for r in rows if r["gateway_id"] == GATEWAY)
    return found


@pytest.mark.slow
def test_a_provisioning_life_logs_no_secret(world: World, topics: Topics, tmp_path: Path,
                                            caplog: pytest.LogCaptureFixture,
                                            capfd: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG)
    # the wire trace of the test's own HTTP client (the console's part: it holds its session
    # cookie) is not a platform log; the provisioning command's is scanned, at DEBUG
    caplog.set_level(logging.INFO, "httpcore")
    broker = start_private_broker(tmp_path / "broker", superuser=False,
                                  extra=("log_type information", "log_type subscribe"))
    identities = secured(broker.address.as_user(broker.admin), topics)
    responses: list[tuple[str, str]] = []  # (what, body) of every API response

    def record(response: httpx.Response) -> None:
        response.read()
        responses.append((f"{response.request.method} {response.request.url.path}",
                          response.text))

    try:
        with running_stack(world, broker.address, topics, ingest=True, **identities) as stack:
            for name in ("uvicorn", "uvicorn.access", "uvicorn.error"):
                logging.getLogger(name).setLevel(logging.DEBUG)
            tech = stack.client(add_technician(world))
            tech.event_hooks["response"].append(record)
            outputs, secrets = _life(stack, tech, tmp_path, responses)
            secrets["session token"] = tech.headers["authorization"].removeprefix("Bearer ")
    finally:
        broker.stop()
    secrets |= {"admin password": broker.admin.password,
                **{k: v for k, v in identities.items() if k.endswith("_password") and v}}
    captured = capfd.readouterr()
    written = {"server log records": caplog.text, "ingest workers and stdout": captured.out,
               "stderr": captured.err, **outputs,
               "broker log": (tmp_path / "broker" / "mosquitto.log").read_text()}
    assert "ingest" in captured.err + captured.out + caplog.text, "the workers' logs are here"
    creations = {secrets["claim code 1"]: "POST /api/enrol/gateways",
                 secrets["claim code 2"]: f"POST /api/enrol/gateways/{GATEWAY}/claim-code"}
    for what, secret in secrets.items():
        assert secret, what
        for where, text in written.items():
            assert secret not in text, f"the {what} is in the {where}"
        shown = [route for route, body in responses if secret in body]
        assert shown == ([creations[secret]] if secret in creations else []), what


def _life(stack: Stack, tech: httpx.Client, tmp_path: Path,
          responses: list[tuple[str, str]]) -> tuple[dict[str, str], dict[str, str]]:
    """Register, provision, run, a second code, rotate, revoke. Returns what the processes
    wrote, and the secrets handed out on the way."""
    r = tech.post("/api/enrol/gateways", json={"gateway_id": GATEWAY,
                                               "home_id": stack.world.home})
    assert r.status_code == 201, r.text
    code = r.json()["claim_code"]
    state = tmp_path / "gw"
    env = {**os.environ, "PINGANLING_LOG_LEVEL": "DEBUG"}
    provisioned = subprocess.run(
        [sys.executable, "-m", "pinganling.cli", "gateway", "provision", "--server", stack.url,
         "--code", code, "--state-dir", str(state)],
        capture_output=True, text=True, timeout=60, check=False, env=env)
    assert provisioned.returncode == 0, provisioned.stdout + provisioned.stderr
    first = CredentialsFile(state / "credentials.toml").read()[0]
    process = GatewayProcess(state / "gateway.toml")
    process.env["PINGANLING_LOG_LEVEL"] = "DEBUG"
    process.start()
    try:
        eventually_sync(lambda: gateway_row(tech)["online"] == "online", 30,
                        "the gateway online", every=0.2)
        second = tech.post(f"/api/enrol/gateways/{GATEWAY}/claim-code").json()["claim_code"]
        rotated = tech.post(f"/api/enrol/gateways/{GATEWAY}/rotate").json()["pending_username"]
        eventually_sync(lambda: gateway_row(tech)["username"] == rotated, 30,
                        "the rotation finished", every=0.2)
        new = CredentialsFile(state / "credentials.toml").read()[0]
        assert (new.username, first.username) != (first.username, new.username)
        assert tech.post(f"/api/enrol/gateways/{GATEWAY}/revoke").status_code == 200
        eventually_sync(lambda: process.logged("Not authorized"), 30, "a refused login")
        tech.get(f"/api/enrol/gateways/{GATEWAY}/audit")
    finally:
        process.stop()
    assert len(responses) > 8
    outputs = {"provision command": provisioned.stdout + provisioned.stderr,
               "gateway process": process.log.read_text()}
    return outputs, {"claim code 1": code, "claim code 2": second,
                     "gateway password": first.password, "rotated password": new.password}
