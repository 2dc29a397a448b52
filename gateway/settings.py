"""Gateway configuration: a frozen dataclass built once at start-up from a TOML file and flags.

Example ``gateway.toml``::

    id = "gw-home-0001"
    state_dir = "/var/lib/pinganling/gw-home-0001"
    serial = ["/dev/ttyUSB0"]            # any pyserial URL: a path, loop://, socket://host:port
    ble = "bleak"                        # "bleak" (real adapter), "none", or "sim" (scenario)
    [mqtt]
    host = "mqtt.example.org"
    port = 1883
    username = "gw-home-0001"
    password_file = "/etc/pinganling/gw-home-0001.secret"
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

from kernel.contract import DEFAULT_ROOT, GATEWAY_ID_RE


class SettingsError(ValueError):
    """The gateway configuration is invalid; the message says which key and why."""


BleBackend = Literal["bleak", "sim", "none"]


@dataclass(frozen=True, slots=True)
class MqttSettings:
    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password_file: Path | None = None
    root: str = DEFAULT_ROOT
    keepalive_s: int = 30
    session_expiry_s: int = 7 * 24 * 3600

    def password(self) -> str | None:
        return self.password_file.read_text().strip() if self.password_file else None


@dataclass(frozen=True, slots=True)
class GatewaySettings:
    """Everything one gateway process needs; see README, 'Gateway configuration'."""

    id: str
    state_dir: Path
    mqtt: MqttSettings = field(default_factory=MqttSettings)
    serial: tuple[str, ...] = ()
    baudrate: int = 115200
    ble: BleBackend = "none"
    scenario: Path | None = None  # ble="sim": the firmware_sim scenario whose wearables we host
    heartbeat_s: float = 30.0
    max_telemetry_rows: int = 50_000
    resend_initial_s: float = 2.0
    resend_max_s: float = 60.0
    inflight: int = 100
    vitals_flush_s: float = 5.0
    acc_block_s: float = 1.0
    rf_dedupe_s: float = 10.0
    edge_falls: bool = False  # run the fall detector here too (homes whose link drops)

    def __post_init__(self) -> None:
        if not GATEWAY_ID_RE.match(self.id):
            raise SettingsError(
                f"id {self.id!r}: 3-32 characters, lowercase letters, digits and '-' "
                "(it is the MQTT username and a topic level)"
            )
        if self.ble == "sim" and self.scenario is None:
            raise SettingsError("ble = 'sim' needs scenario = <path to a firmware_sim scenario>")
        if self.heartbeat_s <= 0 or self.inflight < 1 or self.max_telemetry_rows < 1:
            raise SettingsError("heartbeat_s, inflight and max_telemetry_rows must be positive")

    @property
    def db_path(self) -> Path:
        return self.state_dir / "gateway.sqlite3"


def _build(cls: type[Any], data: dict[str, Any], where: str) -> Any:
    known = {f.name: f for f in fields(cls)}
    unknown = set(data) - set(known)
    if unknown:
        raise SettingsError(f"{where}: unknown key(s) {sorted(unknown)}")
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key == "mqtt":
            value = _build(MqttSettings, value, f"{where}.mqtt")
        elif key in ("state_dir", "scenario", "password_file"):
            value = Path(value).expanduser()
        elif key == "serial":
            value = (value,) if isinstance(value, str) else tuple(value)
        values[key] = value
    try:
        return cls(**values)
    except TypeError as exc:
        raise SettingsError(f"{where}: {exc}") from None


def load(path: Path | None = None, **overrides: Any) -> GatewaySettings:
    """Read ``path`` (TOML) if given, then apply non-None overrides (from command-line flags)."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise SettingsError(f"{path}: {exc}") from None
    mqtt_over = {k[5:]: v for k, v in overrides.items() if k.startswith("mqtt_") and v is not None}
    top_over = {k: v for k, v in overrides.items() if not k.startswith("mqtt_") and v is not None}
    data.update(top_over)
    if mqtt_over:
        data["mqtt"] = {**data.get("mqtt", {}), **mqtt_over}
    data.setdefault("state_dir", os.environ.get("PINGANLING_STATE_DIR", ".pinganling") +
                    f"/gateway/{data.get('id', 'unnamed')}")
    if "id" not in data:
        raise SettingsError("the gateway needs an id (config 'id = ...' or --id)")
    built: GatewaySettings = _build(GatewaySettings, data, str(path or "settings"))
    return built


def with_mqtt(settings: GatewaySettings, **changes: Any) -> GatewaySettings:
    return replace(settings, mqtt=replace(settings.mqtt, **changes))
