"""Shared fixtures: brokers (fixtures/broker.py), databases (fixtures/database.py), the
world's staff (fixtures/staff.py) and the app in-process (fixtures/api.py: ``client``)."""

pytest_plugins = [
    "pytester", "tests.fixtures.broker", "tests.fixtures.database", "tests.fixtures.world",
    "tests.fixtures.staff", "tests.fixtures.api",
]
