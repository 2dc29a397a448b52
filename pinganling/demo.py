"""``pinganling demo``: the whole platform on one machine, with three simulated homes.

Database (the local PostgreSQL, or a private cluster), a private Mosquitto closed to anonymous
clients (the server's parts and each gateway log in as themselves), the server (API, console,
ingest workers, alerts), and for each home a simulator writing the RF dongle's bytes to a real
pty that an in-process gateway reads with pyserial; each gateway provisioned with a claim code as
a technician's would be. A fourth home's gateway waits for a newcomer to provision it. Prints
the console URL, the generated logins, and that claim code with the command to use it.

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import uvicorn
from pydantic import SecretStr

from firmware_sim.link import PtyLink
from firmware_sim.routine import parse_clock
from firmware_sim.scenarios import Report, Scenario, ScenarioRunner, find_scenario
from gateway import enrol
from gateway import settings as gw_settings
from gateway.app import Gateway
from gateway.credentials import write_private
from gateway.prompts import LogAnnouncer, PrintAnnouncer
from gateway.transports.ble import MemoryBle
from kernel.backoff import stop_if_cancelled
from kernel.contract import Service
from kernel.services.broker import PrivateBroker
from kernel.services.system import free_port, reachable
from kernel.tasks import until_first_ends
from pinganling.demo_world import (
    ALL_HOMES,
    HOMES,
    HOMES_PEOPLE,
    NEW_HOME,
    HomeProfile,
    device_uid,
    resident_id,
    seed,
)
from pinganling.gateway_cli import hear_writes
from server.app import create_app
from server.auth.users import User, get_user
from server.detect.prompts import Prewarning, prewarn_command
from server.detect.send import send_command
from server.enrol.broker import BrokerAccess
from server.enrol.service import ClaimCode, get_access, issue_code, register
from server.scope import Scope
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
    broker = _broker(state / "mosquitto")
    port = args.port or (8080 if not reachable("127.0.0.1", 8080) else free_port())
    settings = _settings(broker, state, port)
    app = create_app(settings)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    try:
        async with asyncio.TaskGroup() as tg:
            serving = tg.create_task(server.serve(), name="http")
            while not server.started:
                if serving.done():
                    return
                await asyncio.sleep(0.05)
            scenarios = {h.scenario: find_scenario(h.scenario) for h in ALL_HOMES}
            logins = await asyncio.to_thread(_seed, app.state.conninfo, scenarios,
                                             state / "credentials.json")
            url = f"http://127.0.0.1:{port}"
            enrolled = await asyncio.to_thread(
                _enrol, app.state.conninfo, app.state.broker_access, settings, url, state,
                logins["admin"]["username"])
            for home in HOMES:
                tg.create_task(_home(home, scenarios[home.scenario], enrolled.configs[home.gateway],
                                     args, settings, app.state.conninfo), name=home.gateway)
            _banner(url, broker, state, logins, enrolled)
            if args.exit_after:
                tg.create_task(_stop_after(args.exit_after, server))
            await serving
            raise _Stop
    except* _Stop:
        pass
    finally:
        broker.stop()


def _broker(data_dir: Path) -> PrivateBroker:
    """The demo's own Mosquitto, closed to anonymous clients (a machine's broker that lets
    anyone in is not used), on the same port as last time: provisioned gateways know it."""
    data_dir.mkdir(parents=True, exist_ok=True)
    saved = data_dir / "port"
    port = int(saved.read_text()) if saved.exists() else None
    if port is not None and reachable("127.0.0.1", port):
        port = None  # taken by something else now
    broker = PrivateBroker(data_dir, port)
    saved.write_text(str(broker.port))
    return broker.start()


def _settings(broker: PrivateBroker, state: Path, port: int) -> Settings:
    """The server's settings: each of its clients logs in as its own identity (generated at
    first run, kept in the broker's ``logins.json``), provisioning as the administrator."""
    identities: dict[str, Any] = {}
    for service in Service:
        login = broker.login(f"pal-{service.value}")
        identities |= {f"mqtt_{service.value}_username": login.username,
                       f"mqtt_{service.value}_password": login.password}
    write_private(state / "monitor.secret", broker.login("pal-monitor").password + "\n")
    return Settings(data_dir=state, mqtt_host="127.0.0.1", mqtt_port=broker.port,
                    mqtt_admin_username=broker.admin.username,
                    mqtt_admin_password=SecretStr(broker.admin.password), http_port=port,
                    ingest_workers=1,
                    **identities)


class _Stop(Exception):
    """The HTTP server has stopped (Ctrl-C): stop the homes too."""


async def _stop_after(seconds: float, server: uvicorn.Server) -> None:
    await asyncio.sleep(seconds)
    server.should_exit = True


def _seed(conninfo: str, scenarios: dict[str, Scenario],
          credentials: Path) -> dict[str, dict[str, str]]:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        return seed(conn, scenarios, credentials)


@dataclass(frozen=True)
class Enrolled:
    """The demo's gateways: the settings files of its homes' provisioned gateways, and the
    fourth home's claim code (None: already provisioned, from an earlier run)."""

    configs: dict[str, Path]
    new_home_code: ClaimCode | None


def _enrol(conninfo: str, access: BrokerAccess, settings: Settings, url: str, state: Path,
           admin: str) -> Enrolled:
    """Each home's gateway gets a real identity the way a technician's does: registered for its
    home (a claim code), the code traded at the server (``pinganling gateway provision``'s
    own code) for credentials stored beside its state. The fourth home's gateway is registered
    and its code kept for the newcomer."""
    configs = {}
    with psycopg.connect(conninfo, autocommit=True) as conn:
        row = conn.execute("SELECT id FROM users WHERE username = %s", (admin,)).fetchone()
        user = get_user(conn, row[0]) if row else None
        assert user is not None, "the demo's admin login"
        for home in HOMES:
            code = _claim_code(conn, access, settings, user, home.gateway)
            bundle = enrol.claim(url, code.code)
            configs[home.gateway] = enrol.install(bundle, state / "gateway" / home.gateway)
        new = get_access(conn, Scope.everywhere(), NEW_HOME.gateway)
        waiting = None if new.access == "active" else _claim_code(
            conn, access, settings, user, NEW_HOME.gateway)
    return Enrolled(configs, waiting)


def _claim_code(conn: psycopg.Connection[Any], access: BrokerAccess, settings: Settings,
                user: User, gateway: str) -> ClaimCode:
    found = get_access(conn, Scope.everywhere(), gateway)
    if found.access == "none":
        assert found.home_id is not None
        return register(conn, access, settings, user, gateway, found.home_id)[1]
    return issue_code(conn, settings, user, gateway)


async def _home(home: HomeProfile, scenario: Scenario, config: Path, args: argparse.Namespace,
                settings: Settings, conninfo: str) -> None:
    """One simulated home, restarted (after a pause) if it fails: the others carry on."""
    while True:
        try:
            await _play_home(home, scenario, config, args, settings, conninfo)
        except Exception:  # a home's outer edge: say which home and why
            log.exception("simulated home %s failed; restarting it in 5 s", home.gateway)
        stop_if_cancelled()
        await asyncio.sleep(5)


async def _play_home(home: HomeProfile, scenario: Scenario, config: Path,
                     args: argparse.Namespace, settings: Settings, conninfo: str) -> None:
    """Its devices on a pty and in-memory BLE, its gateway (as provisioned, reading the pty;
    saying its prompts to the elder on the terminal); the scenario plays in a loop."""
    pty, ble = PtyLink(), MemoryBle()
    announcer = LogAnnouncer(home.gateway) if args.quiet else \
        PrintAnnouncer(f"  {home.gateway} gateway says: ")
    gateway = Gateway(gw_settings.load(config, serial=[pty.path]), ble, announcer=announcer)
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


def _banner(url: str, broker: PrivateBroker, state: Path, logins: dict[str, Any],
            enrolled: Enrolled) -> None:
    residents = len(HOMES_PEOPLE)
    rows = "\n".join(f"    {role:<11} {v['username']:<11} {v['password']}"
                     for role, v in logins.items())
    here = _shown(state)
    new = NEW_HOME.gateway
    if enrolled.new_home_code is not None:
        code = enrolled.new_home_code
        until = f"{code.expires_at.astimezone():%Y-%m-%d %H:%M}"
        fourth = f"""  a 4th home  {NEW_HOME.address}: its gateway {new} is registered and waits. In
            another terminal, provision it with its claim code {code.code} (good until
            {until}, once) and run it with its wrist band simulated:

    pinganling gateway provision --server {url} --code {code.code} \\
        --state-dir {here / "gateway" / new} --run --ble sim --scenario {NEW_HOME.scenario}

            then sign in as technician: 网关接入 (Gateway access) shows {new} online and
            its band; the console registers more (Register a gateway) the same way."""
    else:
        fourth = f"""  a 4th home  {new} is provisioned; run it again with
    pinganling gateway run -c {here / "gateway" / new / "gateway.toml"}"""
    print(f"""
平安铃 demo is running
  console   {url}/console/     (API docs: {url}/docs)
  logins    (generated at first run, kept in {here / 'credentials.json'}; visitor-1/2 are
            grid workers: on a phone they see 探访 / Visits only)
{rows}
  history   three communities, {residents} residents; last month and this month so far: resolved
            alerts, visit plans and visits, care calls, a campaign (一屏 / Overview, 统计报表)
  broker    {broker.address.url} (private, started for this demo; no anonymous access: each
            gateway and server part logs in as itself). Watch it read-only:
    pinganling monitor --port {broker.port} --username pal-monitor \\
        --password-file {here / "monitor.secret"}
  homes     {', '.join(f'{h.gateway} ({h.scenario})' for h in HOMES)}: simulated devices on real
            ptys → gateways (provisioned with claim codes) → broker → server. Ctrl-C stops all.
{fourth}
""", file=sys.stdout, flush=True)


def _shown(path: Path) -> Path:
    """``path`` relative to the working directory when it is below it (shorter to type)."""
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path
