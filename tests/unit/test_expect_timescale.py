"""CI's TimescaleDB run: where TimescaleDB is expected, a ``timescale`` test may not skip."""

from __future__ import annotations

import pytest

from tests.fixtures.database import EXPECT_TIMESCALE_ENV

TESTS = """
import pytest

@pytest.mark.timescale
def test_needs_timescaledb():
    pytest.skip("no TimescaleDB here")

def test_something_else():
    pytest.skip("unrelated")
"""


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest('pytest_plugins = ["tests.fixtures.database"]')
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n"
                     "markers =\n    timescale: needs TimescaleDB\n")
    pytester.makepyfile(TESTS)
    return pytester


def test_timescale_tests_skip_where_timescaledb_is_not_expected(
        suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(EXPECT_TIMESCALE_ENV, raising=False)
    suite.runpytest().assert_outcomes(skipped=2)


def test_a_skipped_timescale_test_fails_where_timescaledb_is_expected(
        suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(EXPECT_TIMESCALE_ENV, "1")
    result = suite.runpytest()
    result.assert_outcomes(failed=1, skipped=1)
    result.stdout.fnmatch_lines([f"*{EXPECT_TIMESCALE_ENV} is set*no TimescaleDB here*"])
