"""Browser tests: Debian's Chromium, headless, driven by Playwright's Python package.

The browser is never downloaded: it is ``/usr/bin/chromium`` (``scripts/setup --dev``). Tests
that need it are skipped, with the reason, where it is missing. A failing test leaves a
screenshot of its page in ``test-artifacts/``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import (
    Browser,
    Page,
    Playwright,
    ViewportSize,
    expect,
    sync_playwright,
)

from tests.fixtures.stack import full_stack, home_gateway, stack

__all__ = ["full_stack", "home_gateway", "stack"]  # the whole platform, for these tests

CHROMIUM = os.environ.get("PINGANLING_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
VIEWPORT: ViewportSize = {"width": 1366, "height": 768}
# expect() returns as soon as its condition holds; the limit only matters on a loaded machine
# (the suite shares 2 cores with a database, a broker and the browser)
expect.set_options(timeout=15_000)


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    if not shutil.which(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(
        executable_path=CHROMIUM,
        args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
    yield browser
    browser.close()


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item,
                              call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    """Remember whether a test's body failed, so its page can be photographed."""
    report = yield
    if report.when == "call":
        item.stash[FAILED] = report.failed
    return report


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest, artifacts: Path) -> Iterator[Page]:
    """A fresh browser context (its own cookies) at 1366×768, zh-CN, China time. Script
    errors in the page fail the test; a failed test leaves ``test-artifacts/failed-<name>.png``."""
    context = browser.new_context(viewport=VIEWPORT, locale="zh-CN",
                                  timezone_id="Asia/Shanghai")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    yield page
    if request.node.stash.get(FAILED, False):
        page.screenshot(path=artifacts / f"failed-{request.node.name}.png")
    context.close()
    # Chromium logs every non-2xx response (a 409 the console shows, a 401 that signs out)
    # as "Failed to load resource"; anything else logged as an error is a bug
    assert not [e for e in errors if "Failed to load resource" not in e], errors
