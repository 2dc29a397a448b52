"""Gateway configuration: frozen, typed models built once at start-up from a TOML file and flags.

Example ``gateway.toml``::

    id = "gw-home-0001"
    state_dir = "/var/lib/pinganling/gw-home-0001"
    serial = ["/dev/ttyUSB0"]            # any pyserial URL: a path, loop://, socket://host:port
    ble = "bleak"                        # "bleak" (real adapter), "none", or "sim" (scenario)
    [mqtt]
    host = "mqtt.example.org"
    port = 8883
    tls = true
    ca_file = "/var/lib/pinganling/gw-home-0001/ca.pem"
    credentials_file = "/var/lib/pinganling/gw-home-0001/credentials.toml"

``pinganling gateway provision`` writes such a file (and the credentials, 0600) from the claim
code a technician was given; ``username`` and ``password_file`` (or ``password``, in code) name
an identity by hand instead.

``load`` reads the file, lets each flag given override its key, and validates the whole: every
bad or unknown key is one line naming where it came from and the key, e.g.
``gateway.toml: mqtt.port: Input should be a valid integer``. The file and the flags are the only
inputs (no environment variables but ``PINGANLING_STATE_DIR`` for the default ``state_dir``), so
a ``GatewaySettings`` built in code means exactly what it says.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from gateway.credentials import Credential, CredentialsFile
from kernel.contract import DEFAULT_ROOT, GATEWAY_ID_RE
from kernel.services.broker import BrokerAddress


class SettingsError(ValueError):
    """The gateway configuration is invalid; the message says which key and why."""


BleBackend = Literal["bleak", "sim", "none"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MqttSettings(_Frozen):
    """The broker, and who the gateway is there: ``credentials_file`` (written by
    ``pinganling gateway provision``, rotated by the server), else ``username`` with
    ``password_file`` or ``password``. ``tls``: verify the broker against ``ca_file`` (None:
    the system's trusted CAs)."""

    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    password_file: Path | None = None
    credentials_file: Path | None = None
    tls: bool = False
    ca_file: Path | None = None
    root: str = Field(default=DEFAULT_ROOT, min_length=1)
    keepalive_s: int = Field(default=30, ge=1)
    session_expiry_s: int = Field(default=7 * 24 * 3600, ge=0)

    @field_validator("password_file", "credentials_file", "ca_file")
    @classmethod
    def _expand(cls, path: Path | None) -> Path | None:
        return path.expanduser() if path else None

    def credentials(self) -> CredentialsFile | None:
        return CredentialsFile(self.credentials_file) if self.credentials_file else None

    def login(self) -> Credential | None:
        """The identity given by hand (``username`` and its password), if any."""
        if not self.username:
            return None
        if self.password is not None:
            return Credential(self.username, self.password.get_secret_value())
        secret = self.password_file.read_text().strip() if self.password_file else ""
        return Credential(self.username, secret)

    def address(self, login: Credential | None) -> BrokerAddress:
        """The broker, logged in as ``login``."""
        return BrokerAddress(self.host, self.port, login.username if login else None,
                             login.password if login else None, self.tls, self.ca_file)


class GatewaySettings(_Frozen):
    """Everything one gateway process needs; see README, 'Gateway configuration'."""

    id: str
    state_dir: Path
    mqtt: MqttSettings = MqttSettings()
    serial: tuple[str, ...] = ()
    baudrate: int = Field(default=115200, gt=0)
    ble: BleBackend = "none"
    scenario: Path | None = None  # ble="sim": the simulator scenario whose wearables are hosted
    heartbeat_s: float = Field(default=30.0, gt=0)
    max_telemetry_rows: int = Field(default=50_000, ge=1)
    resend_initial_s: float = Field(default=2.0, gt=0)
    resend_max_s: float = Field(default=60.0, gt=0)
    inflight: int = Field(default=100, ge=1)
    vitals_flush_s: float = Field(default=5.0, gt=0)
    acc_block_s: float = Field(default=1.0, gt=0)
    rf_dedupe_s: float = Field(default=10.0, ge=0)
    edge_falls: bool = False  # run the fall detector here too (homes whose link drops)
    fall_cancel_s: float = Field(default=30.0, gt=0, le=300)  # edge falls: the wearer may cancel

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not GATEWAY_ID_RE.match(value):
            raise ValueError(f"{value!r}: 3-32 characters, lowercase letters, digits and '-' "
                             "(it is the MQTT username and a topic level)")
        return value

    @field_validator("serial", mode="before")
    @classmethod
    def _one_serial(cls, value: object) -> object:
        return (value,) if isinstance(value, str) else value

    @field_validator("state_dir", "scenario")
    @classmethod
    def _expand(cls, path: Path | None) -> Path | None:
        return path.expanduser() if path else None

    @model_validator(mode="after")
    def _sim_needs_a_scenario(self) -> GatewaySettings:
        if self.ble == "sim" and self.scenario is None:
            raise ValueError("ble = 'sim' needs scenario = <a simulator scenario name or path>")
        return self

    @property
    def db_path(self) -> Path:
        return self.state_dir / "gateway.sqlite3"


def load(path: Path | None = None, **flags: Any) -> GatewaySettings:
    """Read ``path`` (TOML) if given, then let each flag that is not None override its key
    (``mqtt_port`` → ``[mqtt] port``); raise SettingsError naming every bad key."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(path.read_text())
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise SettingsError(f"{path}: {exc}") from None
    given = {k: v for k, v in flags.items() if v is not None}
    from_flags = {k.removeprefix("mqtt_") for k in given if k.startswith("mqtt_")}
    mqtt = {k.removeprefix("mqtt_"): v for k, v in given.items() if k.startswith("mqtt_")}
    data.update({k: v for k, v in given.items() if not k.startswith("mqtt_")})
    if mqtt:
        file_mqtt = data.get("mqtt", {})
        data["mqtt"] = {**file_mqtt, **mqtt} if isinstance(file_mqtt, dict) else file_mqtt
    if "id" not in data:
        raise SettingsError("the gateway needs an id (config 'id = ...' or --id)")
    data.setdefault("state_dir", os.environ.get("PINGANLING_STATE_DIR", ".pinganling") +
                    f"/gateway/{data['id']}")
    try:
        return GatewaySettings.model_validate(data)
    except ValidationError as exc:
        file = str(path) if path is not None else "settings"
        lines = [_line(e, file, set(given) - {"mqtt"}, from_flags) for e in exc.errors()]
        raise SettingsError("\n".join(lines)) from None


def _line(error: ErrorDetails, file: str, top_flags: set[str], mqtt_flags: set[str]) -> str:
    """``<file or "command line">: <dotted key>: <what is wrong>``."""
    loc = tuple(str(part) for part in error["loc"])
    flagged = bool(loc) and (loc[0] in top_flags or (loc[0] == "mqtt" and len(loc) > 1
                                                    and loc[1] in mqtt_flags))
    where = "command line" if flagged else file
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        known = MqttSettings.model_fields if loc[:1] == ("mqtt",) else GatewaySettings.model_fields
        message = f"unknown key (known: {', '.join(known)})"
    return f"{where}: {'.'.join(loc)}: {message}" if loc else f"{where}: {message}"
