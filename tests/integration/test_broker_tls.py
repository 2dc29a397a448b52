"""TLS when certificates are configured: a broker that speaks only TLS, an HTTPS server, and a
gateway provisioned over HTTPS that connects over TLS with the CA its bundle carried; the
wrong CA is refused, at the broker and at the server. Certificates are made for the test."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiomqtt
import pytest

from gateway.app import Gateway
from gateway.settings import load
from kernel.contract import Topics
from kernel.services.broker import BrokerAddress, BrokerTls, PrivateBroker
from tests.fixtures.access import add_technician, register, secured
from tests.fixtures.broker import start_private_broker
from tests.fixtures.gateway import running
from tests.fixtures.stack import Stack, running_stack
from tests.fixtures.tls import Ca, make_ca
from tests.fixtures.waiting import eventually
from tests.fixtures.world import GATEWAY, World


@dataclass
class Tls:
    ca: Ca
    other_ca: Ca  # a CA nobody here trusts
    broker: PrivateBroker
    stack: Stack


@pytest.fixture
def tls(world: World, topics: Topics, tmp_path: Path) -> Iterator[Tls]:
    ca, other = make_ca(tmp_path / "pki", "pal-test-ca"), make_ca(tmp_path / "pki", "stranger")
    cert, key = ca.issue(tmp_path / "pki", "server")
    broker = start_private_broker(tmp_path / "broker", superuser=False, plain=False,
                                  tls=BrokerTls(cert, key))
    assert broker.tls_port is not None
    address = BrokerAddress("127.0.0.1", broker.tls_port, tls=True, ca_file=ca.cert)
    try:
        with running_stack(world, address, topics, ingest=False, http_ca=ca.cert,
                           http_tls_cert=cert, http_tls_key=key,
                           **secured(address.as_user(broker.admin), topics)) as stack:
            yield Tls(ca, other, broker, stack)
    finally:
        broker.stop()


def provision(stack: Stack, code: str, state: Path, *extra: str) -> subprocess.CompletedProcess[
        str]:
    return subprocess.run(
        [sys.executable, "-m", "pinganling.cli", "gateway", "provision", "--server", stack.url,
         "--code", code, "--state-dir", str(state), *extra],
        capture_output=True, text=True, timeout=60, check=False, env=os.environ)


# paho-mqtt leaves the socket of a failed TLS handshake to the garbage collector
@pytest.mark.filterwarnings("ignore:unclosed <ssl.SSLSocket:ResourceWarning")
async def test_a_gateway_provisioned_over_https_connects_over_tls(
        world: World, tls: Tls, tmp_path: Path) -> None:
    assert tls.stack.url.startswith("https://")
    tech = tls.stack.client(add_technician(world))
    code = register(tech, GATEWAY, world.home)
    state = tmp_path / "gw"
    untrusted = provision(tls.stack, code, state)  # the system's CAs do not know ours
    assert untrusted.returncode == 2
    assert "CERTIFICATE_VERIFY_FAILED" in untrusted.stdout
    done = provision(tls.stack, code, state, "--ca", str(tls.ca.cert))
    assert done.returncode == 0, done.stdout + done.stderr
    settings = load(state / "gateway.toml")
    assert settings.mqtt.tls
    assert settings.mqtt.ca_file == state / "ca.pem"
    assert (state / "ca.pem").read_text() == tls.ca.cert.read_text()  # from the bundle
    gw = Gateway(settings)
    async with running(gw):
        assert gw.uplink.identity is not None
    # the same gateway, trusting another CA: the broker's certificate is refused
    wrong = settings.model_copy(update={"mqtt": settings.mqtt.model_copy(
        update={"ca_file": tls.other_ca.cert})})
    gw = Gateway(wrong)
    async with running(gw, wait_connected=False):
        await eventually(lambda: gw.counters["mqtt_disconnects"] >= 2, 20, "failed handshakes")
        assert not gw.uplink.connected.is_set()
        assert gw.counters["mqtt_connects"] == 0


async def test_plain_mqtt_gets_nowhere_on_the_tls_listener(tls: Tls) -> None:
    """Even with a good login: without TLS the listener does not speak MQTT."""
    assert tls.broker.tls_port is not None
    admin = tls.broker.admin
    with pytest.raises(aiomqtt.MqttError):
        async with aiomqtt.Client("127.0.0.1", tls.broker.tls_port, username=admin.username,
                                  password=admin.password, timeout=5):
            pass
