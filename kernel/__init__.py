"""The kernel of 平安铃: what every part uses, importing nothing else of the project.

The gateway ⇄ server contract (topics, payloads), backoff, task supervision and the bootstrap of
the services the platform needs (an MQTT broker, a PostgreSQL database). Hardware, analytics,
the simulator, the gateway, the server and the app (``pinganling``) build on it; it builds on
none of them (``tests/unit/test_layers.py`` checks).
"""

__version__ = "0.1.0"
