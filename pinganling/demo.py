"""``pinganling demo``: the whole platform on one machine, with three simulated homes.

Database (the local PostgreSQL, or a private cluster), broker (the local Mosquitto, or a private
one), the server (API, console, ingest workers, alerts), and for each home a simulator writing the
RF dongle's bytes to a real pty that an in-process gateway reads with pyserial. Prints the console
URL and generated logins.

In the first minutes a newcomer sees, besides presses, a pull cord and a fall: a fall its wearer
cancels (李爷爷's band alerts him, he presses the bedside button: the fall is in the queue at P2,
"cancelled by the wearer"), and an inactivity pre-warning he answers (the gateway prints the
prompt, his press answers it: nothing in the queue, the answered pre-warning in History). The
pre-warning is sent by the demo at a scripted time through the detectors' own path.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import uvicorn

from firmware_sim.link import PtyLink
from firmware_sim.routine import parse_clock
from firmware_sim.scenarios import Report, Scenario, ScenarioRunner, find_scenario
from gateway.app import Gateway
from gateway.prompts import LogAnnouncer, PrintAnnouncer
from gateway.settings import GatewaySettings, MqttSettings
from gateway.transports.ble import MemoryBle
from kernel.backoff import stop_if_cancelled
from kernel.services.broker import BrokerAddress, local_or_private
from kernel.services.system import free_port, reachable
from kernel.tasks import until_first_ends
from pinganling.demo_world import HOMES, HomeProfile, device_uid, resident_id, seed
from pinganling.gateway_cli import hear_writes
from server.app import create_app
from server.detect.prompts import Prewarning, prewarn_command
from server.detect.send import send_command
from server.settings import Settings

log = logging.getLogger(__name__)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, help="console/API port (default 8080, else a free one)")
    parser.add_argument("--state-dir", type=Path,
                        default=Path(os.environ.get("PINGANLING_STATE_DIR", ".pinganling")),
                        help="generated logins, gateway outboxes, private services (default "
                             ".pinganling/)")
    parser.add_argument("--speed", type=float, help="simulated seconds per real second (default "
                        "1; wearable streams are only realistic at 1)")
    parser.add_argument("--quiet", action="store_true", help="do not print what devices send")
    parser.add_argument("--exit-after", type=float, metavar="S", help="stop after S seconds")


def run(args: argparse.Namespace) -> int:
    with contextlib.suppress(asyncio.CancelledError, KeyboardInterrupt):
        asyncio.run(_demo(args))
    return 0


async def _demo(args: argparse.Namespace) -> None:
    state = args.state_dir.resolve()
    state.mkdir(parents=True, exist_ok=True)
    broker, private_broker = local_or_private(state / "mosquitto")
    port = args.port or (8080 if not reachable("127.0.0.1", 8080) else free_port())
    settings = Settings(data_dir=state, mqtt_host=broker.host, mqtt_port=broker.port,
                        http_port=port, ingest_workers=1)
    app = create_app(settings)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    try:
        async with asyncio.TaskGroup() as tg:
            serving = tg.create_task(server.serve(), name="http")
            while not server.started:
                if serving.done():
                    return
                await asyncio.sleep(0.05)
            scenarios = {h.scenario: find_scenario(h.scenario) for h in HOMES}
            logins = await asyncio.to_thread(_seed, app.state.conninfo, scenarios,
                                             state / "credentials.json")
            for home in HOMES:
                tg.create_task(_home(home, scenarios[home.scenario], broker, settings, state,
                                     args, app.state.conninfo), name=home.gateway)
            _banner(port, broker, private_broker is not None, state, logins)
            if args.exit_after:
                tg.create_task(_stop_after(args.exit_after, server))
            await serving
            raise _Stop
    except* _Stop:
        pass
    finally:
        if private_broker:
            private_broker.stop()


class _Stop(Exception):
    """The HTTP server has stopped (Ctrl-C): stop the homes too."""


async def _stop_after(seconds: float, server: uvicorn.Server) -> None:
    await asyncio.sleep(seconds)
    server.should_exit = True


def _seed(conninfo: str, scenarios: dict[str, Scenario],
          credentials: Path) -> dict[str, dict[str, str]]:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        return seed(conn, scenarios, credentials)


async def _home(home: HomeProfile, scenario: Scenario, broker: BrokerAddress,
                settings: Settings, state: Path, args: argparse.Namespace,
                conninfo: str) -> None:
    """One simulated home, restarted (after a pause) if it fails: the others carry on."""
    while True:
        try:
            await _play_home(home, scenario, broker, settings, state, args, conninfo)
        except Exception:  # a home's outer edge: say which home and why
            log.exception("simulated home %s failed; restarting it in 5 s", home.gateway)
        stop_if_cancelled()
        await asyncio.sleep(5)


async def _play_home(home: HomeProfile, scenario: Scenario, broker: BrokerAddress,
                     settings: Settings, state: Path, args: argparse.Namespace,
                     conninfo: str) -> None:
    """Its devices on a pty and in-memory BLE, its gateway; the scenario plays in a loop."""
    pty, ble = PtyLink(), MemoryBle()
    gw_settings = GatewaySettings(
        id=home.gateway, state_dir=state / "gateway" / home.gateway, serial=(pty.path,),
        mqtt=MqttSettings(host=broker.host, port=broker.port, root=settings.mqtt_root))
    announcer = LogAnnouncer(home.gateway) if args.quiet else \
        PrintAnnouncer(f"  {home.gateway} gateway says: ")
    gateway = Gateway(gw_settings, ble, announcer=announcer)
    for d in scenario.device:
        gateway.registry.pair(device_uid(d), d.model, d.name)

    def show(report: Report) -> None:
        if report.notable and not args.quiet:
            print(f"  {home.gateway} {report}", flush=True)

    async def play() -> None:
        await gateway.uplink.connected.wait()
        await gateway.serial[0].connected.wait()  # pyserial drops what came before it opened
        while True:  # in real time: wearables stream as they do on a wrist
            runner = ScenarioRunner(scenario, link=pty, ble_sink=ble.notify,
                                    speed=args.speed or 1.0, start=parse_clock(home.start),
                                    on_report=show)
            hear_writes(ble, runner)
            scripted = asyncio.create_task(_prewarn(home, scenario, runner, settings, conninfo,
                                                    show))
            try:
                await runner.run()
            finally:
                scripted.cancel()

    try:
        await until_first_ends(asyncio.create_task(gateway.run(), name=home.gateway),
                               asyncio.create_task(play(), name=f"{home.gateway} devices"))
    finally:
        pty.close()


async def _prewarn(home: HomeProfile, scenario: Scenario, runner: ScenarioRunner,
                   settings: Settings, conninfo: str, show: Callable[[Report], None]) -> None:
    """The home's scripted pre-warning: when the scenario's clock reaches it, sent as the
    detectors send one (``server.detect``), with a two-minute window."""
    if home.prewarn is None:
        return
    at, who = parse_clock(home.prewarn[0]), home.prewarn[1]
    if not runner.start <= at < runner.until:
        return
    await runner.reached(at)

    def send() -> bool:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            resident = resident_id(conn, home, scenario, who)
            if resident is None:
                return False
            command = prewarn_command(conn, Prewarning(home.gateway, resident, "demo", 0, 2))
        return send_command(settings, home.gateway, command)

    show(Report(at, f"server: sends {who} an inactivity pre-warning (scripted for the demo; "
                    "the detector sends one 15 min before an inactivity alarm)"))
    if not await asyncio.to_thread(send):
        show(Report(at, f"server: the pre-warning for {who} was NOT sent"))


def _banner(port: int, broker: BrokerAddress, private: bool, state: Path,
            logins: dict[str, Any]) -> None:
    where = "private, started for this demo" if private else "local"
    rows = "\n".join(f"    {role:<11} {v['username']:<11} {v['password']}"
                     for role, v in logins.items())
    print(f"""
平安铃 demo is running
  console   http://127.0.0.1:{port}/console/     (API docs: http://127.0.0.1:{port}/docs)
  logins    (generated at first run, kept in {state / 'credentials.json'})
{rows}
  broker    {broker.url} ({where}); watch it: mosquitto_sub -p {broker.port} -v -t 'pal/v1/#'
  homes     {', '.join(f'{h.gateway} ({h.scenario})' for h in HOMES)}: simulated devices on real
            ptys → gateways → broker → server. Ctrl-C stops everything.
""", file=sys.stdout, flush=True)
