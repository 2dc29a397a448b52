"""Gateway settings: a typed, frozen model; a bad TOML key is one line naming the file and key."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from gateway.settings import GatewaySettings, MqttSettings, SettingsError, load
from pinganling.cli import main


def toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(text)
    return path


def test_a_file_is_read_into_typed_settings(tmp_path: Path) -> None:
    path = toml(tmp_path, 'id = "gw-home-0001"\nstate_dir = "~/gw"\nserial = "/dev/ttyUSB0"\n'
                          'heartbeat_s = 15\nedge_falls = true\n'
                          '[mqtt]\nhost = "mqtt.example.org"\nport = 8883\n')
    s = load(path)
    assert s == GatewaySettings(id="gw-home-0001", state_dir=Path.home() / "gw",
                                serial=("/dev/ttyUSB0",), heartbeat_s=15.0, edge_falls=True,
                                mqtt=MqttSettings(host="mqtt.example.org", port=8883))
    assert s.db_path == Path.home() / "gw" / "gateway.sqlite3"


def test_a_bad_value_names_the_file_and_the_key(tmp_path: Path) -> None:
    path = toml(tmp_path, 'id = "gw-home-0001"\n[mqtt]\nport = "eighty"\n')
    with pytest.raises(SettingsError) as caught:
        load(path)
    assert str(caught.value).startswith(f"{path}: mqtt.port: Input should be a valid integer")


def test_unknown_keys_are_refused_with_the_known_ones(tmp_path: Path) -> None:
    path = toml(tmp_path, 'id = "gw-home-0001"\nheartbeat = 5\n[mqtt]\nhots = "x"\n')
    with pytest.raises(SettingsError) as caught:
        load(path)
    lines = str(caught.value).splitlines()
    assert len(lines) == 2, "one line per bad key"
    assert lines[0].startswith(f"{path}: mqtt.hots: unknown key (known: host, port, ")
    assert lines[1].startswith(f"{path}: heartbeat: unknown key (known: id, state_dir, ")
    assert "heartbeat_s" in lines[1]


def test_rules_across_keys_and_ranges_are_checked(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"gateway\.toml: ble = 'sim' needs scenario"):
        load(toml(tmp_path, 'id = "gw-home-0001"\nble = "sim"\n'))
    with pytest.raises(SettingsError, match=r"gateway\.toml: ble: Input should be 'bleak', "):
        load(toml(tmp_path, 'id = "gw-home-0001"\nble = "bluez"\n'))
    with pytest.raises(SettingsError, match=r"gateway\.toml: inflight: Input should be greater "
                                            r"than or equal to 1"):
        load(toml(tmp_path, 'id = "gw-home-0001"\ninflight = 0\n'))
    with pytest.raises(SettingsError, match=r"gateway\.toml: id: 'GW 1': 3-32 characters"):
        load(toml(tmp_path, 'id = "GW 1"\n'))


def test_flags_override_the_file_and_their_errors_say_so(tmp_path: Path) -> None:
    path = toml(tmp_path, 'id = "gw-home-0001"\nserial = ["/dev/ttyUSB0"]\n'
                          '[mqtt]\nhost = "mqtt.example.org"\nport = 1883\n')
    s = load(path, id="gw-home-0002", serial=["loop://"], mqtt_port=1999, mqtt_host=None)
    assert (s.id, s.serial, s.mqtt.host, s.mqtt.port) == (
        "gw-home-0002", ("loop://",), "mqtt.example.org", 1999)
    with pytest.raises(SettingsError, match=r"^command line: mqtt\.port: Input should be less"):
        load(path, mqtt_port=70000)


def test_missing_id_and_broken_toml_are_clear(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"the gateway needs an id"):
        load(toml(tmp_path, "heartbeat_s = 5\n"))
    with pytest.raises(SettingsError, match=r"gateway\.toml: Expected '=' after a key"):
        load(toml(tmp_path, "id\n"))
    with pytest.raises(SettingsError, match=r"missing\.toml: \[Errno 2\]"):
        load(tmp_path / "missing.toml")


def test_settings_built_in_code_are_validated_and_frozen(tmp_path: Path) -> None:
    s = GatewaySettings(id="gw-home-0001", state_dir=tmp_path)
    with pytest.raises(ValidationError):
        s.heartbeat_s = 1.0
    with pytest.raises(ValidationError, match="heartbeat_s"):
        GatewaySettings(id="gw-home-0001", state_dir=tmp_path, heartbeat_s=0)
    with pytest.raises(ValidationError, match="unexpected"):
        GatewaySettings(id="gw-home-0001", state_dir=tmp_path, unexpected=1)  # type: ignore[call-arg]


def test_the_cli_prints_the_error_and_exits_2(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    path = toml(tmp_path, 'id = "gw-home-0001"\n[mqtt]\nport = "eighty"\n')
    assert main(["gateway", "devices", "-c", str(path)]) == 2
    assert f"{path}: mqtt.port: Input should be a valid integer" in capsys.readouterr().out


def test_the_gateway_alone_has_no_simulated_ble(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """``sim`` is the app's backend (``pinganling gateway``); the gateway package names what
    it has instead of importing the simulator."""
    from gateway import cli as gateway_cli
    from pinganling.cli import build_parser

    args = build_parser().parse_args(["gateway", "run", "--id", "gw-home-0001", "--state-dir",
                                      str(tmp_path), "--ble", "sim", "--scenario", "demo"])
    assert gateway_cli.run(args) == 2
    assert "ble = 'sim' is not available here (available: bleak, none)" in capsys.readouterr().out
