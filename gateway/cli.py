"""``pinganling gateway …``: run a gateway, and the technician's local device commands.

The BLE adapter is chosen by ``ble`` (file or ``--ble``) among ``BLE_BACKENDS``: each opens a
``BleLink`` for the gateway's lifetime. The app adds the simulator's (``sim``, see
``pinganling/gateway_cli.py``): this package knows no simulator.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import time
import typing
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from pathlib import Path

from gateway import doctor, enrol
from gateway import settings as gw_settings
from gateway.app import Gateway
from gateway.registry import Registry, UnknownModel
from gateway.settings import BleBackend, GatewaySettings, SettingsError
from gateway.transports.ble import BleakLink, BleLink

log = logging.getLogger(__name__)

OpenBle = Callable[[GatewaySettings], AbstractAsyncContextManager[BleLink | None]]
"""A BLE backend: the link the gateway streams from, open while the block runs (None: no BLE)."""


@contextlib.asynccontextmanager
async def _bleak(settings: GatewaySettings) -> AsyncIterator[BleLink | None]:
    yield BleakLink()


@contextlib.asynccontextmanager
async def _no_ble(settings: GatewaySettings) -> AsyncIterator[BleLink | None]:
    yield None


BLE_BACKENDS: Mapping[str, OpenBle] = {"bleak": _bleak, "none": _no_ble}


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="gateway_cmd", required=True, metavar="COMMAND")
    run = sub.add_parser("run", help="run the gateway (serial + BLE → outbox → MQTT)")
    _common(run)
    run.add_argument("--serial", action="append", metavar="URL",
                     help="serial link: a device path, a pty, socket://host:port or loop:// "
                          "(repeatable)")
    run.add_argument("--mqtt-host", dest="mqtt_host")
    run.add_argument("--mqtt-port", dest="mqtt_port", type=int)
    run.add_argument("--mqtt-username", dest="mqtt_username")
    run.add_argument("--mqtt-password-file", dest="mqtt_password_file", type=Path)
    run.add_argument("--root", dest="mqtt_root", help="topic root (default pal/v1)")
    run.add_argument("--ble", choices=typing.get_args(BleBackend))
    run.add_argument("--scenario", type=Path, help="with --ble sim: host this scenario's wearables")
    provision = sub.add_parser(
        "provision", help="trade a claim code for this gateway's broker identity",
        description="Post the claim code (from the console) to the server; store the "
                    "credentials (0600) and gateway.toml in the state directory.")
    provision.add_argument("--server", required=True, metavar="URL",
                           help="the server, https://… (http:// only to this machine)")
    provision.add_argument("--code", required=True, help="the claim code, e.g. ABCD-EFGH")
    provision.add_argument("--state-dir", dest="state_dir", type=Path,
                           help="default: $PINGANLING_STATE_DIR/gateway/<id>")
    provision.add_argument("--ca", type=Path, help="CA certificate to verify the server with")
    provision.add_argument("--insecure-http", action="store_true",
                           help="allow http:// to another machine (a network you trust)")
    provision.add_argument("--run", action="store_true", help="then run the gateway")
    provision.add_argument("--serial", action="append", metavar="URL",
                           help="serial link to keep in gateway.toml (repeatable)")
    provision.add_argument("--ble", choices=typing.get_args(BleBackend))
    provision.add_argument("--scenario", type=Path,
                           help="with --ble sim: host this scenario's wearables")
    devices = sub.add_parser("devices", help="list paired devices (and the config revision)")
    _common(devices)
    devices.add_argument("--json", action="store_true",
                         help='{"config_rev": N, "devices": [{device, model, label}, …]}')
    pair = sub.add_parser("pair", help="pair a device (also done remotely by provisioning)")
    _common(pair)
    pair.add_argument("device", help="device uid, e.g. rf-0a1b2c3d or ble-c47c8d6a1234")
    pair.add_argument("model", help="catalogue model, e.g. PB-433, WB-BLE")
    pair.add_argument("--label", default="")
    unpair = sub.add_parser("unpair", help="forget a paired device")
    _common(unpair)
    unpair.add_argument("device")
    heard = sub.add_parser("heard", help="devices heard on the air but not paired")
    _common(heard)
    doctor = sub.add_parser("doctor", help="check the field build on this box: what is wrong "
                                           "and how to fix it (hardware/FIELD.md)")
    _common(doctor)
    doctor.add_argument("--user", help="the gateway's service user (default: the User= of the "
                                       "installed unit, else pinganling)")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("-c", "--config", type=Path, help="gateway TOML file (see README)")
    p.add_argument("--id", help="gateway id, e.g. gw-home-0001")
    p.add_argument("--state-dir", dest="state_dir", type=Path)


def _settings(args: argparse.Namespace) -> GatewaySettings:
    keys = ("id", "state_dir", "serial", "ble", "scenario", "mqtt_host", "mqtt_port",
            "mqtt_username", "mqtt_password_file", "mqtt_root")
    over = {k: getattr(args, k, None) for k in keys}
    over = {("mqtt_" + k[5:] if k.startswith("mqtt_") else k): v for k, v in over.items()}
    return gw_settings.load(args.config, **over)


def run(args: argparse.Namespace, ble_backends: Mapping[str, OpenBle] = BLE_BACKENDS) -> int:
    if args.gateway_cmd == "doctor":  # reports a configuration that does not load as a check
        return doctor.main(args)
    if args.gateway_cmd == "provision":
        return _provision(args, ble_backends)
    try:
        settings = _settings(args)
    except SettingsError as exc:
        print(f"pinganling gateway: {exc}")
        return 2
    if args.gateway_cmd == "run":
        return _serve(settings, ble_backends)
    registry = Registry(settings.db_path)
    try:
        return _local(args, registry)
    finally:
        registry.close()


def _serve(settings: GatewaySettings, ble_backends: Mapping[str, OpenBle]) -> int:
    open_ble = ble_backends.get(settings.ble)
    if open_ble is None:
        print(f"pinganling gateway: ble = {settings.ble!r} is not available here "
              f"(available: {', '.join(ble_backends)})")
        return 2
    with contextlib.suppress(asyncio.CancelledError):
        asyncio.run(serve(settings, open_ble))
    return 0


def _provision(args: argparse.Namespace, ble_backends: Mapping[str, OpenBle]) -> int:
    extra = {k: v for k, v in (("serial", args.serial), ("ble", args.ble),
                               ("scenario", str(args.scenario) if args.scenario else None))
             if v is not None}
    try:
        bundle = enrol.claim(args.server, args.code, ca=args.ca,
                             insecure_http=args.insecure_http)
        config = enrol.install(bundle, args.state_dir, extra)
        settings = gw_settings.load(config)
    except (enrol.EnrolError, SettingsError) as exc:
        print(f"pinganling gateway provision: {exc}")
        return 2
    print(f"gateway {bundle.gateway} provisioned: broker {bundle.mqtt.host}:{bundle.mqtt.port}"
          f"{' (TLS)' if bundle.mqtt.tls else ''} as {bundle.mqtt.username}\n"
          f"  settings     {config}\n  credentials  {config.parent / 'credentials.toml'} (0600)"
          f"\n  run it with   pinganling gateway run -c {config}", flush=True)
    return _serve(settings, ble_backends) if args.run else 0


def _local(args: argparse.Namespace, registry: Registry) -> int:
    if args.gateway_cmd == "devices" and args.json:
        print(json.dumps({"config_rev": registry.config_rev, "devices": [
            {"device": d.uid, "model": d.model.id, "label": d.label}
            for d in sorted(registry.devices.values(), key=lambda d: d.uid)]},
            ensure_ascii=False))
    elif args.gateway_cmd == "devices":
        print(f"config revision {registry.config_rev}")
        for d in registry.devices.values():
            print(f"{d.uid:20} {d.model.id:8} {d.model.kind.value:13} {d.label}")
        if not registry.devices:
            print("no paired devices")
    elif args.gateway_cmd == "pair":
        try:
            d = registry.pair(args.device, args.model, args.label)
        except UnknownModel as exc:
            print(f"pinganling gateway pair: {exc}")
            return 2
        print(f"paired {d.uid} ({d.model.id}, {d.model.kind.value})")
    elif args.gateway_cmd == "unpair":
        if not registry.unpair(args.device):
            print(f"{args.device} was not paired")
            return 1
        print(f"unpaired {args.device}")
    elif args.gateway_cmd == "heard":
        rows = registry.heard()
        for uid, count, last, rssi in rows:
            ago = time.time() - last
            print(f"{uid:20} {count:6} frames, last {ago:7.0f} s ago, RSSI {rssi} dBm")
        if not rows:
            print("nothing heard from unpaired devices")
    return 0


def _stop(main: asyncio.Task[None], tries: int = 0) -> None:
    """Cancel the gateway; a cancellation swallowed inside a library (aiomqtt's connect on 3.11)
    is repeated, and after 10 s the process exits anyway: the outbox is durable."""
    if main.done():
        return
    if tries >= 4:
        log.error("gateway did not stop within 10 s of SIGTERM; exiting")
        os._exit(1)
    main.cancel()  # repeated only after the clean stop (offline status: ≤ 2 s) had its time
    asyncio.get_running_loop().call_later(3.0, _stop, main, tries + 1)


async def serve(settings: GatewaySettings, open_ble: OpenBle = _no_ble) -> None:
    """Run one gateway until SIGTERM or cancellation, its BLE backend open around it."""
    main = asyncio.current_task()
    assert main is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, lambda: _stop(main))
    async with open_ble(settings) as link:
        gateway = Gateway(settings, link)
        log.info("gateway %s (incarnation %s): serial %s, BLE %s, broker %s:%d", settings.id,
                 gateway.outbox.incarnation, settings.serial or "-", settings.ble,
                 settings.mqtt.host, settings.mqtt.port)
        await gateway.run()
