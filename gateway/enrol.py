"""``pinganling gateway provision``: trade a claim code for the gateway's broker identity.

The technician registers the gateway for a home in the console and gets a claim code
(``ABCD-EFGH``, good for a day, once). On the box::

    pinganling gateway provision --server https://pal.example.org --code ABCD-EFGH

posts the code to the server (``POST /api/enrol/claim``) over HTTPS (plain HTTP only to this
machine, for the demo, or with ``insecure_http``) and writes, in the state directory (0700):

- ``credentials.toml`` (0600): the broker username and password (``gateway.credentials``);
- ``ca.pem``: the CA that signed the broker's certificate, when the broker speaks TLS;
- ``gateway.toml`` (0600): the settings the gateway runs with (``pinganling gateway run -c``):
  its id, the broker, the files above; keys already in an earlier ``gateway.toml`` (serial
  ports, BLE) are kept.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import ssl
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gateway.credentials import Credential, CredentialsFile, write_private
from kernel.contract import GATEWAY_ID_RE

log = logging.getLogger(__name__)

CLAIM_PATH = "/api/enrol/claim"


class EnrolError(RuntimeError):
    """Provisioning did not happen; the message says why and what to do."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class MqttBundle(_Strict):
    host: str = Field(min_length=1)
    port: int = Field(ge=1, le=65535)
    tls: bool = False
    ca_pem: str | None = None
    username: str = Field(min_length=1)
    password: str = Field(min_length=1, repr=False)
    root: str = Field(min_length=1)


class Bundle(_Strict):
    """The server's answer to a claim."""

    gateway: str = Field(pattern=GATEWAY_ID_RE.pattern)
    mqtt: MqttBundle


def check_server(url: str, insecure_http: bool = False) -> str:
    """``url`` without a trailing slash, if it is HTTPS, or HTTP to this machine, or HTTP
    explicitly allowed; EnrolError otherwise (a claim code must not cross a network in clear)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise EnrolError(f"{url!r} is not an http(s):// URL of the server")
    if parts.scheme == "http" and not insecure_http and not _loopback(parts.hostname):
        raise EnrolError(f"refusing to send the claim code in clear to {parts.hostname}: use "
                         "https://, or --insecure-http on a network you trust")
    return url.rstrip("/")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def claim(server: str, code: str, *, ca: Path | None = None, insecure_http: bool = False,
          timeout: float = 30.0, transport: httpx.BaseTransport | None = None) -> Bundle:
    """Post the claim code; the bundle, or EnrolError saying why not."""
    base = check_server(server, insecure_http)
    verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=str(ca)) if ca else True
    try:
        with httpx.Client(verify=verify, timeout=timeout, transport=transport) as client:
            answer = client.post(base + CLAIM_PATH, json={"code": code})
    except httpx.HTTPError as exc:
        raise EnrolError(f"cannot reach {base}: {exc}") from None
    if answer.status_code != 200:
        raise EnrolError(_refusal(answer))
    try:
        return Bundle.model_validate(answer.json())
    except (ValueError, ValidationError) as exc:
        raise EnrolError(f"{base} answered something that is not a credential bundle: "
                         f"{type(exc).__name__}") from None


def _refusal(answer: httpx.Response) -> str:
    try:
        message = str(answer.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        message = answer.text[:200]
    hint = {404: "check the code (it is good once, for a limited time; ask for a new one)",
            429: "too many wrong codes from here: wait 10 minutes",
            503: "the server cannot reach its broker now: try again"}.get(answer.status_code, "")
    return f"the server refused the claim ({answer.status_code}): {message}" + (
        f"; {hint}" if hint else "")


def install(bundle: Bundle, state_dir: Path | None = None,
            extra: dict[str, Any] | None = None) -> Path:
    """Write the bundle into ``state_dir`` (default ``$PINGANLING_STATE_DIR/gateway/<id>``);
    returns the path of ``gateway.toml``. ``extra``: more settings for the file (serial, BLE)."""
    state = (state_dir or Path(os.environ.get("PINGANLING_STATE_DIR", ".pinganling"))
             / "gateway" / bundle.gateway).expanduser().resolve()
    state.mkdir(parents=True, exist_ok=True)
    state.chmod(0o700)
    m = bundle.mqtt
    mqtt: dict[str, Any] = {"host": m.host, "port": m.port, "root": m.root, "tls": m.tls,
                            "credentials_file": str(state / "credentials.toml")}
    if m.ca_pem:
        (state / "ca.pem").write_text(m.ca_pem)
        mqtt["ca_file"] = str(state / "ca.pem")
    CredentialsFile.create(state / "credentials.toml", Credential(m.username, m.password))
    config = state / "gateway.toml"
    kept = _read(config)
    kept.pop("mqtt", None)
    settings = {**kept, **(extra or {}), "id": bundle.gateway, "state_dir": str(state),
                "mqtt": mqtt}
    write_private(config, "# written by `pinganling gateway provision`; provisioning again "
                          "keeps your other keys\n" + dump_toml(settings))
    log.info("gateway %s provisioned: %s (broker %s:%d as %s%s)", bundle.gateway, config,
             m.host, m.port, m.username, ", TLS" if m.tls else "")
    return config


def _read(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return {}


def dump_toml(data: dict[str, Any]) -> str:
    """TOML for the gateway's settings: scalars and lists of scalars, and tables of them."""
    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int | float):
            return repr(v)
        if isinstance(v, list | tuple):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return json.dumps(str(v), ensure_ascii=False)

    lines = [f"{k} = {value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for table, items in ((k, v) for k, v in data.items() if isinstance(v, dict)):
        lines += ["", f"[{table}]", *(f"{k} = {value(v)}" for k, v in items.items())]
    return "\n".join(lines) + "\n"
