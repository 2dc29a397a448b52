"""The pure parts of gateway access: claim codes, the provisioning command's checks and files,
the credentials file, the broker's configuration, the grants, the server's identities."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from pydantic import SecretStr

from gateway import enrol
from gateway.credentials import Credential, CredentialsError, CredentialsFile
from gateway.settings import load
from kernel.contract import DEFAULT_ROOT, Access, Service, Topics
from kernel.services.broker import BrokerAddress, BrokerOptions, BrokerTls, broker_conf
from kernel.services.dynsec import Login, admin_acls, initial_config
from server.enrol import codes
from server.settings import Settings


def test_claim_codes_are_short_unambiguous_and_typed_any_way() -> None:
    made = {codes.new_code() for _ in range(200)}
    assert len(made) == 200
    for code in made:
        assert len(code) == 9 and code[4] == "-"  # noqa: PT018
        assert not set(code) & set("0O1IL5S2ZUV")
    code = next(iter(made))
    assert codes.normalize(code.lower().replace("-", " ")) == code.replace("-", "")
    assert codes.code_hash(code.lower()) == codes.code_hash(code) != codes.code_hash(
        codes.new_code())
    assert code not in codes.code_hash(code)
    for bad in ("", "ABCD-EFG", "ABCD-EFGHJ", "ABCD-EFG0", "ABCD-EFGI", "ABCD_EFGH"):
        assert codes.normalize(bad) is None, bad


@pytest.mark.parametrize(("url", "insecure", "ok"), [
    ("https://pal.example.org", False, True), ("http://127.0.0.1:8080/", False, True),
    ("http://localhost:8080", False, True), ("http://[::1]:8080", False, True),
    ("http://192.168.1.10:8080", False, False), ("http://pal.example.org", False, False),
    ("http://192.168.1.10:8080", True, True), ("ftp://pal.example.org", True, False),
    ("pal.example.org", False, False)])
def test_a_claim_code_never_crosses_a_network_in_clear(url: str, insecure: bool,
                                                       ok: bool) -> None:
    if ok:
        assert enrol.check_server(url, insecure) == url.rstrip("/")
    else:
        with pytest.raises(enrol.EnrolError):
            enrol.check_server(url, insecure)


def test_install_writes_private_files_and_keeps_the_technicians_keys(tmp_path: Path) -> None:
    state = tmp_path / "gw"
    state.mkdir()
    (state / "gateway.toml").write_text('id = "gw-old-0001"\nserial = ["/dev/ttyUSB0"]\n'
                                        'ble = "bleak"\n[mqtt]\nhost = "old"\n')
    bundle = enrol.Bundle(gateway="gw-home-0001", mqtt=enrol.MqttBundle(
        host="mqtt.example.org", port=8883, tls=True, ca_pem="-----BEGIN CERTIFICATE-----\n",
        username="gw-home-0001.1", password='p"w\\d', root="pal/v1"))
    config = enrol.install(bundle, state)
    assert "p\"w" not in repr(bundle)
    settings = load(config)
    assert (settings.id, settings.serial, settings.ble) == ("gw-home-0001", ("/dev/ttyUSB0",),
                                                           "bleak")
    assert (settings.mqtt.host, settings.mqtt.port, settings.mqtt.tls) == (
        "mqtt.example.org", 8883, True)
    assert settings.mqtt.ca_file == state.resolve() / "ca.pem"
    assert CredentialsFile(state / "credentials.toml").read() == (
        Credential("gw-home-0001.1", 'p"w\\d'), None)
    for path in (state / "credentials.toml", config):
        assert path.stat().st_mode & 0o077 == 0
    assert 'p"w' not in config.read_text()


def test_the_credentials_file_rotates_and_falls_back(tmp_path: Path) -> None:
    file = CredentialsFile.create(tmp_path / "c.toml", Credential("gw.1", "one"))
    file.stage(Credential("gw.2", "two"))
    assert file.read() == (Credential("gw.1", "one"), Credential("gw.2", "two"))
    file.discard_next()
    assert file.read() == (Credential("gw.1", "one"), None)
    file.stage(Credential("gw.3", "three"))
    file.promote()
    assert file.read() == (Credential("gw.3", "three"), None)
    assert "three" not in repr(file.read())
    (tmp_path / "c.toml").write_text("username = 1\n")
    with pytest.raises(CredentialsError, match=r"c\.toml: KeyError"):
        file.read()


def test_the_private_broker_is_closed_and_speaks_tls_when_given(tmp_path: Path) -> None:
    conf = broker_conf(1884, tmp_path, BrokerOptions(tls=BrokerTls(tmp_path / "c", tmp_path /
                                                                   "k")), tls_port=8883)
    lines = conf.splitlines()
    assert "allow_anonymous false" in lines
    assert "listener 1884 127.0.0.1" in lines and "listener 8883 127.0.0.1" in lines  # noqa: PT018
    assert f"certfile {tmp_path / 'c'}" in lines
    assert any(line.startswith("plugin ") and "dynamic_security" in line for line in lines)
    tls_only = broker_conf(1884, tmp_path, BrokerOptions(plain=False, tls=BrokerTls(
        tmp_path / "c", tmp_path / "k")), tls_port=8883).splitlines()
    assert "listener 1884 127.0.0.1" not in tls_only
    assert "allow_anonymous true" in broker_conf(1884, tmp_path, BrokerOptions(
        dynsec=False, anonymous=True)).splitlines()


def test_the_administrator_may_only_use_the_control_topic() -> None:
    config = initial_config(Login("admin", "pw"))
    (admin,) = config["clients"]
    assert admin["username"] == "admin" and "pw" not in str(admin)  # noqa: PT018
    topics = {a.topic for a in admin_acls()}
    assert all(t.startswith("$CONTROL/dynamic-security/v1") for t in topics)
    assert config["defaultACLAccess"] == {"publishClientSend": False,
                                          "publishClientReceive": False, "subscribe": False,
                                          "unsubscribe": True}


def test_grants_confine_each_identity() -> None:
    t = Topics()
    grants = {(g.access, g.topic) for g in t.gateway_grants("gw-a-0001")}
    assert grants == {(Access.PUBLISH, "pal/v1/gw/gw-a-0001/up/#"),
                      (Access.SUBSCRIBE, "pal/v1/gw/gw-a-0001/down/#"),
                      (Access.RECEIVE, "pal/v1/gw/gw-a-0001/down/#")}
    everything = [g for s in Service for g in t.service_grants(s)]
    assert not [g for g in everything if g.topic in ("#", "pal/v1/#")]
    assert not [g for g in t.service_grants(Service.INGEST) if g.access == Access.SUBSCRIBE
                and not g.topic.startswith("$share/")]
    assert Topics("t-1/v1").broker_name("x") == "t-1/v1:x"
    assert Topics(DEFAULT_ROOT).broker_name("x") == "x"


def test_each_server_part_logs_in_as_itself_or_the_shared_identity() -> None:
    s = Settings(mqtt_username="shared", mqtt_password=SecretStr("s"),
                 mqtt_ingest_username="ing", mqtt_ingest_password=SecretStr("x-secret-x"),
                 mqtt_tls=True, mqtt_ca_file=Path("/etc/ca.pem"))
    assert s.broker("ingest") == BrokerAddress("127.0.0.1", 1883, "ing", "x-secret-x", True,
                                               Path("/etc/ca.pem"))
    assert s.broker("presence").username == "shared"
    assert s.broker().username == "shared"  # the API's, here the shared one
    assert s.broker("admin").username is None
    assert s.broker_admin() is None
    assert set(s.service_logins()) == {Service.INGEST}
    assert "x-secret-x" not in repr(s.broker("ingest")) + repr(s)


def test_the_config_written_is_toml_the_gateway_reads(tmp_path: Path) -> None:
    text = enrol.dump_toml({"id": "gw-a-0001", "serial": ["loop://", "/dev/x"], "heartbeat_s":
                            15.0, "edge_falls": True, "mqtt": {"port": 1883, "host": "h\"x"}})
    assert tomllib.loads(text) == {"id": "gw-a-0001", "serial": ["loop://", "/dev/x"],
                                   "heartbeat_s": 15.0, "edge_falls": True,
                                   "mqtt": {"port": 1883, "host": 'h"x'}}
