"""Schema-driven API testing: requests generated from the OpenAPI spec, 0 server errors.

Schemathesis reads the app's own ``/openapi.json`` and generates, for every operation, requests
that fit the schema (positive) and requests that break it (negative: wrong types, missing or
extra fields, numbers out of range, strings the pattern refuses, bodies that are not JSON).
They go in-process to the real app on a migrated schema holding a small world with two open
alerts, signed in as an admin and as an operator. Every response must be below 500 and
conform to the schema: a documented status code, content type and body.

Bounded and derandomized (the same requests on every run); rows the requests create stay, which
is harmless: only the status codes and bodies are checked.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from pydantic import SecretStr
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.python import asgi

from kernel.contract import EventType, Topics
from kernel.services.broker import BrokerAddress
from server.alerts import engine
from server.alerts.model import Role
from server.app import create_app
from server.auth.sessions import open_session
from server.auth.users import create_user, get_user
from server.settings import Settings
from server.store import insert_events
from tests.fixtures.broker import server_broker
from tests.fixtures.ingest import make_event
from tests.fixtures.world import BUTTON, GATEWAY, PASSWORD, World

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
# The operator first: the admin's requests may deactivate her, reset her password, end sessions.
USERS = {"operator": "alice", "admin": "ada"}
# Examples per operation and mode: the admin reaches every write; the operator mostly meets
# 403 and region checks. Signing in or creating a user costs an argon2 hash (0.1-0.4 s here).
EXAMPLES = {"admin": 15, "operator": 6}
SLOW = {"POST /api/auth/login": 3, "POST /api/users": 3, "POST /api/auth/password": 3,
        "POST /api/users/{user_id}/reset": 3}


@pytest.fixture
def api(world: World, mqtt_broker: BrokerAddress, mqtt_admin: BrokerAddress,
        topics: Topics) -> Iterator[Any]:
    """The OpenAPI schema of the running app; its lifespan (started by schemathesis on the
    first request) is ended here, before the world's schema is dropped."""
    with world.connect() as conn:
        create_user(conn, USERS["admin"], "Ada", Role.ADMIN, PASSWORD)
        for n, kind in enumerate((EventType.PRESS, EventType.FALL), start=1):
            event = make_event(GATEWAY, n, kind, BUTTON)
            with conn.transaction():
                insert_events(conn, [event], time.time())
                engine.on_events(conn, [event])
    settings = Settings(database_url=world.schema.conninfo, **server_broker(mqtt_broker),
                        mqtt_admin_username=mqtt_admin.username,
                        mqtt_admin_password=SecretStr(mqtt_admin.password or ""),  # enrolment
                        mqtt_root=topics.root, detectors=False)
    try:
        yield schemathesis.openapi.from_asgi("/openapi.json", create_app(settings, ingest=False))
    finally:
        asgi.shutdown_lifespans()


def _sign_in(api: Any, username: str) -> dict[str, str]:
    with asgi.get_client(api.app) as client:
        r = client.post("/api/auth/login", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"authorization": f"Bearer {r.json()['token']}"}


def _new_session(world: World, username: str) -> dict[str, str]:
    """A fresh session (no password check): one operation's requests that end sessions (a
    reset, ending all of a user's sessions) cost only the rest of that operation's examples."""
    with world.connect() as conn:
        row = conn.execute("SELECT id FROM users WHERE username = %s", (username,)).fetchone()
        user = get_user(conn, row[0]) if row else None
        assert user is not None, f"{username} was deactivated"
        return {"authorization": f"Bearer {open_session(conn, user)}"}


def _failure(operation: Any, mode: GenerationMode, headers: dict[str, str],
             examples: int) -> str | None:
    """Generate and send this operation's cases; the first failure found (shrunk), or None."""

    @settings(max_examples=min(examples, SLOW.get(operation.label, examples)), derandomize=True,
              database=None, deadline=None, suppress_health_check=list(HealthCheck),
              phases=[Phase.explicit, Phase.generate, Phase.shrink])
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        case.validate_response(case.call(headers=headers), checks=CHECKS)

    try:
        run()
    except Unsatisfiable:  # negative mode of an operation without parameters: nothing to break
        return None
    except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - collected for the report
        return f"{operation.label} [{mode.value}]: {exc}"
    return None


@pytest.mark.slow
def test_generated_requests_never_get_a_server_error(api: Any, world: World) -> None:
    failures, operations = [], 0
    for role, username in USERS.items():  # in one test: the app starts once (~5 s here)
        _sign_in(api, username)
        for result in api.get_all_operations():
            operation = result.ok()
            headers = _new_session(world, username)
            # signing out with our token would end the session every other request uses
            sent = {} if operation.path == "/api/auth/logout" else headers
            operations += 1
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                failure = _failure(operation, mode, sent, EXAMPLES[role])
                if failure:
                    failures.append(f"as {role}: {failure}")
    assert operations >= 2 * 25, "the schema lost operations"
    assert not failures, "\n\n".join(failures)
