"""The technician's gateway access in a real Chromium: register a gateway, read its claim code,
provision a real gateway process with it (``pinganling gateway provision --run``), see it
online; revoke it: offline, and the broker refuses it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import sign_in
from tests.fixtures.access import add_technician, secured_server
from tests.fixtures.process import ManagedProcess
from tests.fixtures.stack import Stack
from tests.fixtures.waiting import eventually_sync
from tests.fixtures.world import World

pytestmark = pytest.mark.e2e
__all__ = ["secured_server"]

NEW = "gw-new-0001"


def test_register_provision_online_then_revoke(secured_server: Stack, page: Page,
                                               world: World, tmp_path: Path,
                                               artifacts: Path) -> None:
    stack = secured_server
    sign_in(page, stack, add_technician(world))
    page.get_by_test_id("tab-provisioning").click()
    view = page.get_by_test_id("provisioning")
    expect(view).to_contain_text("网关接入")
    view.get_by_test_id("prov-gateway-id").fill(NEW)
    view.get_by_test_id("prov-home").select_option(str(world.home))
    view.get_by_test_id("prov-submit").click()
    box = view.get_by_test_id("claim-box")
    expect(box).to_be_visible()
    code = view.get_by_test_id("claim-code").inner_text().strip()
    expect(view.get_by_test_id("claim-command")).to_have_text(
        f"pinganling gateway provision --server {stack.url} --code {code}")
    row = view.get_by_test_id(f"prov-row-{NEW}")
    expect(row).to_have_attribute("data-access", "unclaimed")
    page.screenshot(path=artifacts / "console-provisioning-code.png")

    gateway = ManagedProcess(["pinganling.cli", "gateway", "provision", "--server", stack.url,
                              "--code", code, "--state-dir", str(tmp_path / "gw"), "--run"],
                             tmp_path / "gateway.log", {"PINGANLING_LOG_LEVEL": "INFO"})
    gateway.start()
    try:
        expect(row).to_have_attribute("data-online", "online", timeout=30_000)
        expect(row).to_have_attribute("data-access", "active")
        expect(row.get_by_test_id("prov-access")).to_have_text("已接入")
        view.get_by_role("button", name="已记下").click()
        expect(box).to_be_hidden()
        page.screenshot(path=artifacts / "console-provisioning-online.png")

        revoke = row.get_by_test_id("prov-revoke")
        revoke.click()
        expect(revoke).to_have_text("确认吊销？")
        revoke.click()
        expect(row).to_have_attribute("data-access", "revoked")
        expect(row).to_have_attribute("data-online", "offline", timeout=20_000)
        eventually_sync(lambda: gateway.logged("Not authorized"), 20, "a refused login")
        page.get_by_test_id("lang").click()
        expect(row.get_by_test_id("prov-access")).to_have_text("revoked")
        page.screenshot(path=artifacts / "console-provisioning-revoked.png")
    finally:
        gateway.stop()
    assert gateway.proc is not None
    assert gateway.proc.returncode in (0, -15), subprocess.list2cmdline([sys.executable])
