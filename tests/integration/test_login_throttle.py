"""Login protection: limits per account and per source address that hold under concurrency,
an exponential wait instead of a hard lock, and lockouts a supervisor can see and clear."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from kernel.contract import Topics
from kernel.services.broker import BrokerAddress
from server.auth.throttle import LoginLimits, Subject
from tests.fixtures.stack import Stack, running_stack
from tests.fixtures.staff import Staff, bearer
from tests.fixtures.world import PASSWORD, World

TRIES = 30
# Long enough that no wait can end while the test runs: what passes is what the limit lets pass.
LONG: dict[str, Any] = {"login_first_delay": timedelta(minutes=10), "db_pool_max": 10}


@pytest.fixture
def slow_stack(world: World, mqtt_broker: BrokerAddress, topics: Topics) -> Iterator[Stack]:
    with running_stack(world, mqtt_broker, topics, ingest=False, **LONG) as s:
        yield s


def _login(client: httpx.Client | TestClient, username: str,
           password: str = "wrong password!") -> Any:
    return client.post("/api/auth/login", json={"username": username, "password": password})


def _at_once(stack: Stack, usernames: list[str]) -> list[httpx.Response]:
    """One sign-in attempt per name, all sent at the same time over separate connections."""
    clients = [stack.client() for _ in usernames]
    with ThreadPoolExecutor(len(usernames)) as pool:
        return list(pool.map(_login, clients, usernames))


def _throttle(world: World, kind: Subject, subject: str) -> tuple[Any, ...] | None:
    with world.connect() as conn:
        return conn.execute("SELECT failures, coalesce(next_allowed_at > now(), false) "
                            "FROM login_throttle "
                            "WHERE kind = %s AND subject = %s", (kind.value, subject)).fetchone()


def _time_passes(world: World) -> None:
    """Every wait is over (as if its time had passed)."""
    with world.connect() as conn:
        conn.execute("UPDATE login_throttle SET next_allowed_at = now()")


@pytest.mark.slow
def test_30_concurrent_wrong_passwords_get_exactly_the_limit_answered(
        slow_stack: Stack, world: World) -> None:
    answers = _at_once(slow_stack, ["alice"] * TRIES)
    assert Counter(r.status_code for r in answers) == {401: 5, 429: TRIES - 5}
    waits = {int(r.headers["retry-after"]) for r in answers if r.status_code == 429}
    assert waits
    assert all(540 < w <= 600 for w in waits), waits
    assert _throttle(world, Subject.ACCOUNT, "alice") == (5, True), "refused tries not counted"


@pytest.mark.slow
def test_one_address_trying_30_user_names_is_limited_too(slow_stack: Stack,
                                                         world: World) -> None:
    names = ["alice", "bob", "olga", "sam"] + [f"guess{n}" for n in range(TRIES - 4)]
    answers = _at_once(slow_stack, names)
    assert Counter(r.status_code for r in answers) == {401: 20, 429: TRIES - 20}
    assert _throttle(world, Subject.ADDRESS, "127.0.0.1") == (20, True)
    with world.connect() as conn:  # each name failed at most once: no account limit reached
        assert conn.execute("SELECT max(failures) FROM login_throttle "
                            "WHERE kind = 'account'").fetchone() == (1,)
    r = _login(slow_stack.client(), "alice", PASSWORD)
    assert r.status_code == 429, "the address waits, whatever the account"


def test_the_wait_doubles_and_the_right_password_works_whenever_allowed(
        client: TestClient, world: World) -> None:
    for _ in range(5):
        assert _login(client, "alice").status_code == 401
    waits = []
    for _ in range(3):
        r = _login(client, "alice", PASSWORD)  # during the wait: refused, not counted
        assert r.status_code == 429
        assert "try again in" in r.json()["error"]["message"]
        waits.append(int(r.headers["retry-after"]))
        _time_passes(world)
        assert _login(client, "alice").status_code == 401
    r = _login(client, "alice", PASSWORD)
    assert r.status_code == 429
    waits.append(int(r.headers["retry-after"]))
    assert waits == [2, 4, 8, 16]
    assert _throttle(world, Subject.ACCOUNT, "alice") == (8, True), "5 + 3 failures, no more"

    _time_passes(world)
    r = _login(client, "alice", PASSWORD)
    assert r.status_code == 200, "no hard lock: the owner gets in as soon as a try is allowed"
    assert _throttle(world, Subject.ACCOUNT, "alice") is None, "the account starts afresh"
    assert _throttle(world, Subject.ADDRESS, "testclient") == (8, False), \
        "the address keeps the wrong ones, not the right one"
    for _ in range(5):  # five free failures again
        assert _login(client, "alice").status_code == 401


def test_failures_are_forgotten_after_an_hour(client: TestClient, world: World) -> None:
    for _ in range(5):
        assert _login(client, "alice").status_code == 401
    with world.connect() as conn:
        conn.execute("UPDATE login_throttle SET last_failure = now() - interval '61 minutes', "
                     "next_allowed_at = now() - interval '61 minutes'")
    assert _login(client, "alice").status_code == 401
    assert _throttle(world, Subject.ACCOUNT, "alice") == (1, False)


def test_a_supervisor_sees_and_clears_a_lockout(client: TestClient, world: World,
                                                staff: Staff) -> None:
    for _ in range(6):
        _login(client, "alice")
    sam = bearer(world, world.supervisor)
    (lock,) = [x for x in client.get("/api/lockouts", headers=sam).json()
               if x["kind"] == "account"]
    assert (lock["subject"], lock["failures"], lock["display_name"]) == ("alice", 5, "Alice")
    assert 0 < lock["wait_s"] <= 2
    assert client.get("/api/lockouts", headers=bearer(world, world.operator)).status_code == 403
    assert client.get("/api/lockouts", headers=bearer(world, staff.auditor)).status_code == 403
    assert client.delete("/api/lockouts/account/alice",
                         headers=bearer(world, world.operator)).status_code == 403

    assert client.delete("/api/lockouts/account/alice", headers=sam).status_code == 204
    assert _login(client, "alice", PASSWORD).status_code == 200, "at once"
    assert client.delete("/api/lockouts/account/alice", headers=sam).status_code == 404
    assert client.delete("/api/lockouts/address/testclient", headers=sam).status_code == 204
    assert client.delete("/api/lockouts/nonsense/x", headers=sam).status_code == 422
    audit = client.get("/api/audit/users", headers=bearer(world, staff.auditor)).json()
    assert [(a["action"], a["actor"], a["data"]) for a in audit] == [
        ("lockout_cleared", "Sam", {"kind": "address", "subject": "testclient"}),
        ("lockout_cleared", "Sam", {"kind": "account", "subject": "alice"})]
    assert audit[1]["target_id"] == world.operator.id


def test_the_limits_must_fit_together() -> None:
    with pytest.raises(ValueError, match="first_delay <= max_delay"):
        LoginLimits(max_delay=timedelta(hours=2))
    assert [LoginLimits().delay_s(Subject.ACCOUNT, n) for n in (4, 5, 6, 7, 100)] == [
        0, 2, 4, 8, 900]
