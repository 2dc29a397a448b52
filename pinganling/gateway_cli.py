"""``pinganling gateway …``: the gateway's own command line, with one more BLE backend.

``--ble sim --scenario NAME`` hosts a simulator scenario's wearables in this process: their
notifications go through an in-memory BLE link (``MemoryBle``) that the gateway streams from as
from a real adapter, and what the gateway writes to them (the Immediate Alert of a prompt)
reaches them the same way; a gateway with no device paired yet gets them paired (a simulated
home just installed needs no pairing ceremony). The gateway package knows no simulator; the
app, which knows both, adds it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator

from firmware_sim.scenarios import Scenario, ScenarioRunner, find_scenario
from gateway import cli as gateway_cli
from gateway.registry import Registry
from gateway.settings import GatewaySettings
from gateway.transports.ble import BleLink, MemoryBle
from hardware.catalog import ble_uid

log = logging.getLogger(__name__)

configure = gateway_cli.configure


@contextlib.asynccontextmanager
async def simulated_ble(settings: GatewaySettings) -> AsyncIterator[BleLink | None]:
    """The in-memory air, with the scenario's wearables playing onto it while the block runs."""
    memory = MemoryBle()
    scenario = find_scenario(str(settings.scenario))
    _pair_wearables(settings, scenario)
    runner = ScenarioRunner(scenario, ble_sink=memory.notify)
    hear_writes(memory, runner)
    task = asyncio.create_task(runner.run(), name=f"simulated wearables ({settings.scenario})")
    task.add_done_callback(_report)
    try:
        yield memory
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def hear_writes(memory: MemoryBle, runner: ScenarioRunner) -> None:
    """The scenario's wearables receive what the gateway writes to them (and react)."""
    for wearable in runner.home.wearables.values():
        memory.on_write(wearable.address, functools.partial(runner.on_ble_write,
                                                            wearable.address))


def _pair_wearables(settings: GatewaySettings, scenario: Scenario) -> None:
    """A gateway with no device yet (a simulated home just installed) gets the scenario's
    wearables paired, before it opens its registry; one already paired keeps its choice."""
    registry = Registry(settings.db_path)
    try:
        if registry.devices:
            return
        for device in scenario.device:
            if device.address is not None:
                registry.pair(ble_uid(device.address), device.model, device.name)
    finally:
        registry.close()


def _report(task: asyncio.Task[object]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("%s failed; the gateway goes on without them", task.get_name(),
                  exc_info=task.exception())
    elif not task.cancelled():
        log.info("%s: the scenario ended", task.get_name())


def run(args: argparse.Namespace) -> int:
    return gateway_cli.run(args, {**gateway_cli.BLE_BACKENDS, "sim": simulated_ble})
