"""The technician's whole job in one walk, in a real Chromium against the real server, broker
and a gateway process provisioned from its own CLI (``pinganling gateway provision --run``)
reading a pty as its RF dongle: register the gateway for a home, provision it with the claim
code, open the pairing window, pair the pendant it hears, send a test alarm, press, see
"pass" (and nothing in the emergency queue), replace the pendant. After each device step the
gateway's registry (its own CLI on its state) is the server's list."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from firmware_sim.link import PtyLink
from hardware.frames import Frame, MsgType, encode_frame, input_data
from tests.e2e.helpers import assert_registry_in_step, sign_in
from tests.fixtures.access import add_technician, secured_stack
from tests.fixtures.process import ManagedProcess
from tests.fixtures.stack import Stack
from tests.fixtures.world import World

pytestmark = pytest.mark.e2e
__all__ = ["secured_stack"]

GW = "gw-walk-0001"
PENDANT = "rf-0d0ffee1"
NEW = "rf-0d0ffee2"


def press(pty: PtyLink, uid: str, seq: int) -> None:
    """The pendant's button: its radio frame, as the dongle hands it to the gateway."""
    pty.write(encode_frame(Frame(MsgType.PRESS, int(uid[3:], 16), seq, -61, 2950,
                                 input_data())))


def test_register_provision_pair_test_and_replace(secured_stack: Stack, page: Page,
                                                  world: World, tmp_path: Path,
                                                  artifacts: Path) -> None:
    stack = secured_stack
    technician = add_technician(world)
    sign_in(page, stack, technician)

    # register the gateway for the home: a claim code, and the command that uses it
    page.get_by_test_id("tab-provisioning").click()
    view = page.get_by_test_id("provisioning")
    view.get_by_test_id("prov-gateway-id").fill(GW)
    view.get_by_test_id("prov-home").select_option(str(world.home))
    view.get_by_test_id("prov-submit").click()
    code = view.get_by_test_id("claim-code").inner_text().strip()

    # on the box: provision with the code and run, the dongle on a pty
    pty = PtyLink()
    state = tmp_path / "gw"
    gateway = ManagedProcess(["pinganling.cli", "gateway", "provision", "--server", stack.url,
                              "--code", code, "--state-dir", str(state), "--serial", pty.path,
                              "--run"], tmp_path / "gateway.log",
                             {"PINGANLING_LOG_LEVEL": "INFO"})
    gateway.start()
    config = state / "gateway.toml"
    try:
        row = view.get_by_test_id(f"prov-row-{GW}")
        expect(row).to_have_attribute("data-online", "online", timeout=30_000)
        expect(row).to_have_attribute("data-access", "active")
        view.get_by_role("button", name="已记下").click()

        # the pairing window; the pendant is pressed, heard, paired with one click
        row.get_by_test_id("prov-devices").click()
        panel = page.get_by_test_id("dev-panel")
        panel.get_by_test_id("dev-window").click()
        expect(panel.get_by_test_id("dev-window-bar")).to_have_attribute("data-open", "true")
        press(pty, PENDANT, 1)
        heard = panel.get_by_test_id(f"heard-row-{PENDANT}")
        expect(heard).to_have_attribute("data-in-window", "true", timeout=20_000)
        heard.get_by_test_id("heard-label").fill("卧室")
        heard.get_by_test_id("heard-pair").click()
        expect(panel).to_have_attribute("data-config", "applied", timeout=20_000)
        assert_registry_in_step(stack, GW, config)

        # the installation test: send a test alarm, the elder's pendant is pressed: pass
        page.get_by_test_id("tab-maintenance").click()
        maint = page.get_by_test_id("maintenance")
        maint.get_by_test_id(f"maint-dev-{PENDANT}").get_by_test_id("maint-test-device").click()
        test = maint.get_by_test_id(f"maint-testrow-{PENDANT}")
        expect(test).to_have_attribute("data-state", "pending")
        press(pty, PENDANT, 2)
        expect(test).to_have_attribute("data-state", "pass", timeout=20_000)
        expect(test.get_by_test_id("maint-test-state")).to_have_text("通过")
        page.screenshot(path=artifacts / "technician-walk-test-passed.png")
        queue = stack.client(technician).get("/api/alerts",
                                             params={"include_test": "true"}).json()
        assert [a for a in queue if a.get("device") == PENDANT] == [], \
            "a passed installation test is no alarm"

        # replace the pendant: same place, the old one's history kept
        page.get_by_test_id("tab-provisioning").click()
        view.get_by_test_id(f"prov-row-{GW}").get_by_test_id("prov-devices").click()
        paired = panel.get_by_test_id(f"dev-row-{PENDANT}")
        paired.get_by_test_id("dev-replace-uid").fill(NEW)
        paired.get_by_test_id("dev-replace").click()
        expect(panel.get_by_test_id(f"dev-row-{NEW}")).to_be_visible()
        expect(panel.get_by_test_id("dev-revisions")).to_have_text("配置版本 2，网关已生效 2",
                                                                   timeout=20_000)
        assert_registry_in_step(stack, GW, config)
        page.screenshot(path=artifacts / "technician-walk-replaced.png")
    finally:
        gateway.stop()
        pty.close()
