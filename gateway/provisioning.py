"""What the server wants this gateway to be: its retained desired config (by revision) and the
pairing commands, applied to the registry without a restart; the BLE streams follow the pairing.

The one writer of pairing and of the settings the server may change at run time
(``heartbeat_s``); ``config_rev`` is the revision applied, reported in every heartbeat.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable

from gateway.registry import Device, Registry
from kernel.contract import GatewayConfig

log = logging.getLogger(__name__)


class Provisioning:
    """Applies desired config and pairing; ``on_devices_changed`` after each pairing change."""

    def __init__(self, registry: Registry, counters: Counter[str], *, heartbeat_s: float,
                 on_devices_changed: Callable[[], None]) -> None:
        self.registry = registry
        self.counters = counters
        self.heartbeat_s = heartbeat_s
        self.on_devices_changed = on_devices_changed
        self.config_rev = 0

    async def apply_config(self, config: GatewayConfig) -> None:
        """Apply the retained desired config; an older revision than the current is ignored."""
        if config.rev < self.config_rev:
            log.info("ignoring config rev %d < current %d", config.rev, self.config_rev)
            return
        self.heartbeat_s = config.heartbeat_s
        if config.devices is not None:
            added, removed = self.registry.replace_all(config.devices)
            log.info("config rev %d: paired %s, unpaired %s", config.rev, added, removed)
            self.on_devices_changed()
        self.config_rev = config.rev
        self.counters["config_applied"] += 1

    def pair(self, uid: str, model_id: str, label: str = "") -> Device:
        """Pair (or re-pair) ``uid``; raises ``UnknownModel`` for a model not in the catalogue."""
        device = self.registry.pair(uid, model_id, label)
        self.on_devices_changed()
        return device

    def unpair(self, uid: str) -> bool:
        removed = self.registry.unpair(uid)
        self.on_devices_changed()
        return removed
