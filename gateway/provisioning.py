"""What the server wants this gateway to be: its retained desired config (by revision) and the
pairing commands, applied to the registry without a restart; the BLE streams follow the pairing.

The one writer of pairing and of the settings the server may change at run time
(``heartbeat_s``); ``config_rev`` is the revision applied (kept in the registry's state),
reported in every heartbeat. A config with a lower revision than the one applied is ignored
(``config_stale``); one naming a model the catalogue does not have is refused whole
(``config_refused``): both are logged, and the gateway keeps what it has. A malformed payload
never reaches here (the uplink counts it as ``bad_downlink_<reason>``).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable

from gateway.registry import Device, Registry
from hardware.catalog import MODELS
from kernel.contract import GatewayConfig

log = logging.getLogger(__name__)


class Provisioning:
    """Applies desired config and pairing; ``on_devices_changed`` after each pairing change."""

    def __init__(self, registry: Registry, counters: Counter[str], *, heartbeat_s: float,
                 on_devices_changed: Callable[[], None],
                 on_applied: Callable[[], None] = lambda: None) -> None:
        self.registry = registry
        self.counters = counters
        self.heartbeat_s = heartbeat_s
        self.on_devices_changed = on_devices_changed
        self.on_applied = on_applied  # e.g. a heartbeat now: the server sees the revision sooner

    @property
    def config_rev(self) -> int:
        return self.registry.config_rev

    async def apply_config(self, config: GatewayConfig) -> None:
        """Apply the retained desired config; an older revision than the applied one, or one
        naming an unknown model, is counted, logged and ignored."""
        if config.rev < self.config_rev:
            self.counters["config_stale"] += 1
            log.warning("ignoring config rev %d < applied %d", config.rev, self.config_rev)
            return
        unknown = sorted({d.model for d in config.devices or () if d.model not in MODELS})
        if unknown:
            self.counters["config_refused"] += 1
            log.warning("refusing config rev %d: unknown model(s) %s; keeping rev %d",
                        config.rev, ", ".join(unknown), self.config_rev)
            return
        if config.heartbeat_s is not None:
            self.heartbeat_s = config.heartbeat_s
        if config.devices is not None:
            added, removed = self.registry.replace_all(config.devices)
            log.info("config rev %d: paired %s, unpaired %s", config.rev, added, removed)
            self.on_devices_changed()
        self.registry.set_config_rev(config.rev)
        self.counters["config_applied"] += 1
        self.on_applied()

    def pair(self, uid: str, model_id: str, label: str = "") -> Device:
        """Pair (or re-pair) ``uid``; raises ``UnknownModel`` for a model not in the catalogue."""
        device = self.registry.pair(uid, model_id, label)
        self.on_devices_changed()
        return device

    def unpair(self, uid: str) -> bool:
        removed = self.registry.unpair(uid)
        self.on_devices_changed()
        return removed
