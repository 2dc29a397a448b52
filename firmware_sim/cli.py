"""``pinganling sim``: play scenarios, send one test frame, print example frames.

    pinganling sim run demo [--link pty|tcp://127.0.0.1:7000|loop://|/dev/ttyUSB1]
                            [--speed 60] [--start 09:55] [--until 10:30] [--verbose]
    pinganling sim press --port /dev/ttyUSB1 --device 0x0A1B2C3D [--long | --cancel]
    pinganling sim frames [--device 0x0A1B2C3D]
    pinganling sim scenarios
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import sys
from collections.abc import Sequence
from urllib.parse import urlsplit

from firmware_sim.button import PanicButton
from firmware_sim.errors import ScenarioError, SimError
from firmware_sim.link import Link, PtyLink, SerialLink, TcpLink
from firmware_sim.plan import describe
from firmware_sim.rf import RfDevice
from firmware_sim.routine import parse_clock
from firmware_sim.scenarios import Report, ScenarioRunner, builtin_scenarios, find_scenario
from hardware.catalog import DeviceKind, get_model
from hardware.errors import HardwareError
from hardware.frames import MsgType, encode_frame

DRAIN_TIMEOUT_S = 5.0


def _clock_arg(text: str) -> float:
    try:
        return parse_clock(text)
    except ScenarioError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _device_id(text: str) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"device id {text!r} is not a number "
                                         "(e.g. 0x0A1B2C3D)") from None
    if not 0 <= value <= 0xFFFF_FFFF:
        raise argparse.ArgumentTypeError(f"device id {text} does not fit 32 bits")
    return value


def _speed(text: str) -> float:
    try:
        value = math.inf if text in ("max", "inf") else float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"speed {text!r} must be a positive number or 'max'")
    return value


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``sim`` subcommands to ``parser``."""
    sub = parser.add_subparsers(dest="sim_command", metavar="COMMAND", required=True)
    run_p = sub.add_parser("run", help="play a scenario onto a serial link")
    run_p.add_argument("scenario", help="shipped name (demo, day, quiet) or a .toml path")
    run_p.add_argument("--link", default="pty",
                       help="pty (default), tcp://HOST:PORT, loop:// or a serial port / URL")
    run_p.add_argument("--speed", type=_speed, help="simulated seconds per second, or 'max'")
    run_p.add_argument("--start", type=_clock_arg, help="clock time to start at (HH:MM)")
    run_p.add_argument("--until", type=_clock_arg, help="clock time to stop at (HH:MM)")
    run_p.add_argument("-v", "--verbose", action="store_true",
                       help="also print heartbeats (supervision frames)")
    press_p = sub.add_parser("press", help="send one frame to a serial port (technician test)")
    press_p.add_argument("--port", required=True, help="serial port or pyserial URL")
    press_p.add_argument("--device", type=_device_id, required=True, help="RF device id")
    press_p.add_argument("--model", default="PB-433", help="device model (default PB-433)")
    kind = press_p.add_mutually_exclusive_group()
    kind.add_argument("--long", action="store_true", help="send LONG_PRESS")
    kind.add_argument("--cancel", action="store_true", help="send CANCEL")
    frames_p = sub.add_parser("frames", help="print an example frame of every type in hex")
    frames_p.add_argument("--device", type=_device_id, default=0x0A1B2C3D)
    sub.add_parser("scenarios", help="list the shipped scenarios")


def run(args: argparse.Namespace) -> int:
    """Run the chosen subcommand; errors are one line on stderr, never a traceback."""
    try:
        if args.sim_command == "run":
            return asyncio.run(_run(args))
        if args.sim_command == "press":
            return asyncio.run(_press(args))
        if args.sim_command == "frames":
            return _frames(args.device)
        return _scenarios()
    except (SimError, HardwareError, OSError) as exc:
        print(f"pinganling sim: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


async def _open_link(spec: str) -> Link:
    if spec == "pty":
        return PtyLink()
    if spec.startswith("tcp://"):
        parts = urlsplit(spec)
        if not parts.hostname or parts.port is None:
            raise SimError(f"--link {spec}: expected tcp://HOST:PORT")
        return await TcpLink.open(parts.hostname, parts.port)
    return SerialLink.open(spec)


async def _run(args: argparse.Namespace) -> int:
    scenario = find_scenario(args.scenario)
    link = await _open_link(args.link)

    def show(report: Report) -> None:
        if report.notable or args.verbose:
            print(report, flush=True)

    try:
        runner = ScenarioRunner(scenario, link=link, speed=args.speed, start=args.start,
                                until=args.until, on_report=show)
        head = scenario.scenario
        print(f"scenario {head.name}: {head.description}")
        print(f"serial link: {link.url}   (gateway: serial_for_url({link.url!r}))", flush=True)
        if runner.home.wearables:
            print(f"{len(runner.home.wearables)} wearable(s) are simulated only with an "
                  "in-process gateway (BLE does not travel over the serial link)")
        summary = await runner.run()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(link.drain(), DRAIN_TIMEOUT_S)
    finally:
        await link.aclose()
    sent = sum(summary.frames.values())
    unread = f", {link.pending} bytes never read by anyone" if link.pending else ""
    print(f"done: {sent} frames written, {summary.refused} refused{unread}")
    return 0


async def _press(args: argparse.Namespace) -> int:
    model = get_model(args.model)
    if model.kind not in (DeviceKind.PANIC_BUTTON, DeviceKind.PULL_CORD):
        raise SimError(f"--model {args.model} is not a button or pull cord")
    button = PanicButton(args.device, model_id=args.model)
    frame = (button.long_press(0.0) if args.long else button.cancel(0.0) if args.cancel
             else button.press(0.0))
    link = SerialLink.open(args.port)
    try:
        link.write(encode_frame(frame))
        try:
            await asyncio.wait_for(link.drain(), DRAIN_TIMEOUT_S)
        except TimeoutError:
            raise SimError(f"{args.port}: nobody took the frame in {DRAIN_TIMEOUT_S:g} s") \
                from None
    finally:
        link.close()
    print(f"sent {describe(frame)} to {args.port}: {encode_frame(frame).hex(' ')}")
    return 0


def _frames(device_id: int) -> int:
    device = RfDevice(device_id, get_model("PB-433"))
    examples = {MsgType.PRESS: b"\x00", MsgType.CANCEL: b"", MsgType.LONG_PRESS: b"\x01",
                MsgType.SUPERVISION: b"\x01\x04", MsgType.LOW_BATTERY: b"",
                MsgType.TAMPER: b"\x01", MsgType.MOTION: b"\x03", MsgType.DOOR: b"\x01"}
    for kind, data in examples.items():
        frame = device.frame(0.0, kind, data)
        print(f"{kind.name:<12} {encode_frame(frame).hex(' ')}   seq={frame.seq} "
              f"rssi={frame.rssi} battery={frame.battery_mv}mV data={data.hex() or '-'}")
    return 0


def _scenarios() -> int:
    for name in builtin_scenarios():
        head = find_scenario(name).scenario
        print(f"{name:<8} {head.description}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Standalone entry point: ``python -m firmware_sim.cli run demo``."""
    parser = argparse.ArgumentParser(prog="pinganling sim", description="平安铃 device simulator")
    configure(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
