"""``pinganling`` command line: one entry point, a subcommand per process or tool."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from types import ModuleType

import firmware_sim.cli
import server.cli
import server.report_cli
from kernel.services.system import MissingDependency
from pinganling import demo, gateway_cli, monitor

# name → (module with configure(parser) and run(args) -> int, help, default log level)
COMMANDS: dict[str, tuple[ModuleType, str, str]] = {
    "demo": (demo, "run the whole platform locally with simulated homes", "WARNING"),
    "server": (server.cli, "the server: API, console, ingest, presence, housekeeping", "INFO"),
    "gateway": (gateway_cli, "the home gateway and its local device commands", "INFO"),
    "sim": (firmware_sim.cli, "simulated devices speaking the real wire bytes", "WARNING"),
    "monitor": (monitor, "print what gateways publish (and ack events)", "WARNING"),
    "report": (server.report_cli, "the monthly service report: CSV, XLSX, printable HTML",
               "WARNING"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pinganling", description="平安铃 home monitoring")
    parser.add_argument("-v", "--verbose", action="count", default=0)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, help_text, _) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        module.configure(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    module, _, default_level = COMMANDS[args.command]
    level: int | str = logging.getLevelName(default_level) - 10 * args.verbose
    logging.basicConfig(level=os.environ.get("PINGANLING_LOG_LEVEL", "").upper() or level,
                        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    try:
        return int(module.run(args))
    except MissingDependency as exc:
        print(f"pinganling {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
