"""平安铃 (pinganling): shared contract, command line and service bootstrap."""

__version__ = "0.1.0"
