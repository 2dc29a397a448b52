"""Shared fixtures: brokers (fixtures/broker.py) and databases (fixtures/database.py)."""

pytest_plugins = [
    "pytester", "tests.fixtures.broker", "tests.fixtures.database", "tests.fixtures.world",
]
