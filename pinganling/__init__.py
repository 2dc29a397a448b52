"""平安铃 (pinganling), the app at the top: the ``pinganling`` command line, the demo and the
monitor. It wires the server, the gateway and the simulator together; nothing imports it."""
