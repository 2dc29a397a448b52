"""Commands from the detectors to a home's gateway (``Down.CMD``): the one function that sends
them (a fall's "alert the wearer", its withdrawal, an inactivity pre-warning).

Each command is one short MQTT connection (QoS 1, waiting for the broker's PUBACK) until the
server has a persistent publisher of its own; then this function is what changes.
"""

from __future__ import annotations

import logging

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from kernel.contract import Command, Down, dump
from server.settings import Settings

log = logging.getLogger(__name__)
PUBACK_TIMEOUT_S = 5.0


def send_command(settings: Settings, gateway: str, command: Command) -> bool:
    """Publish ``command`` to ``gateway``; False (logged) when the broker did not take it."""
    client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    if settings.mqtt_username:
        client.username_pw_set(settings.mqtt_username, settings.mqtt_password)
    try:
        client.connect(settings.mqtt_host, settings.mqtt_port, keepalive=10)
        client.loop_start()
        info = client.publish(settings.topics().down(gateway, Down.CMD), dump(command), qos=1)
        info.wait_for_publish(PUBACK_TIMEOUT_S)
        sent = info.is_published()
    except (OSError, RuntimeError, ValueError) as exc:
        log.warning("command %s (%s) to %s not sent: %s", command.id, command.op.value, gateway,
                    exc)
        return False
    finally:
        client.disconnect()
        client.loop_stop()
    if not sent:
        log.warning("command %s (%s) to %s not sent: no PUBACK within %.0f s", command.id,
                    command.op.value, gateway, PUBACK_TIMEOUT_S)
    return sent
