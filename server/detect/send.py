"""Commands from the detectors to a home's gateway (``Down.CMD``): the one function that sends
them (a fall's "alert the wearer", its withdrawal, an inactivity pre-warning).

Each command is one short MQTT connection as the API's broker identity (QoS 1, waiting for the
broker's PUBACK), until the server's persistent downlink publisher takes them over; then this
function is what changes.
"""

from __future__ import annotations

import logging

from kernel.contract import Command, Down, dump
from kernel.services.broker import publish_once
from server.settings import Settings

log = logging.getLogger(__name__)
PUBACK_TIMEOUT_S = 5.0


def send_command(settings: Settings, gateway: str, command: Command) -> bool:
    """Publish ``command`` to ``gateway``; False (logged) when the broker did not take it."""
    try:
        publish_once(settings.broker("api"), settings.topics().down(gateway, Down.CMD),
                     dump(command), timeout=PUBACK_TIMEOUT_S)
    except ConnectionError as exc:
        log.warning("command %s (%s) to %s not sent: %s", command.id, command.op.value, gateway,
                    exc)
        return False
    return True
