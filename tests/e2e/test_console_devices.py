"""The technician's device job in a real Chromium, against a real provisioned gateway process
reading a pty (the RF dongle; the simulator writes real frames to it): open the pairing
window, a device is heard, pair it with one click, see "pending" turn to "applied" (the gateway
held back meanwhile), relabel it, replace it, unpair the new one; after each step the gateway's
registry (its own CLI on its state) is the server's list."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from firmware_sim.link import PtyLink
from gateway import enrol
from hardware.frames import Frame, MsgType, encode_frame, input_data
from tests.e2e.helpers import assert_registry_in_step, gateway_registry, sign_in
from tests.fixtures.access import add_technician, register, secured_stack
from tests.fixtures.gateway import GatewayProcess
from tests.fixtures.stack import Stack
from tests.fixtures.world import World

pytestmark = pytest.mark.e2e
__all__ = ["secured_stack"]

GW = "gw-dev-0001"
PENDANT = "rf-0c0ffee1"
NEW = "rf-0c0ffee2"


def test_pair_a_heard_device_relabel_and_replace_it(secured_stack: Stack, page: Page,
                                                    world: World, tmp_path: Path,
                                                    artifacts: Path) -> None:
    stack = secured_stack
    tech = stack.client(add_technician(world))
    pty = PtyLink()
    bundle = enrol.claim(stack.url, register(tech, GW, world.home))
    # the default heartbeat (30 s): what the technician sees comes with the heartbeats a
    # gateway sends at once (a config applied, a device first heard)
    config = enrol.install(bundle, tmp_path / "gw", {"serial": [pty.path]})
    gateway = GatewayProcess(config)
    gateway.start()
    try:
        sign_in(page, stack, "tina")
        page.get_by_test_id("tab-provisioning").click()
        row = page.get_by_test_id(f"prov-row-{GW}")
        expect(row).to_have_attribute("data-online", "online", timeout=30_000)
        row.get_by_test_id("prov-devices").click()
        panel = page.get_by_test_id("dev-panel")
        expect(panel).to_have_attribute("data-config", "none")

        # the pairing window; the pendant is pressed and heard
        panel.get_by_test_id("dev-window").click()
        expect(panel.get_by_test_id("dev-window-bar")).to_have_attribute("data-open", "true")
        pty.write(encode_frame(Frame(MsgType.PRESS, int(PENDANT[3:], 16), 1, -57, 2980,
                                     input_data())))
        heard = panel.get_by_test_id(f"heard-row-{PENDANT}")
        expect(heard).to_have_attribute("data-in-window", "true", timeout=20_000)
        expect(heard.get_by_test_id("heard-model")).to_have_value("PB-433")
        expect(heard).to_contain_text("-57 dBm")
        expect(heard).to_contain_text("2980 mV")
        page.screenshot(path=artifacts / "console-devices-heard.png")

        # one click pairs it; the gateway is held back: pending until it applies the revision
        heard.get_by_test_id("heard-label").fill("卧室")
        assert gateway.proc is not None
        os.kill(gateway.proc.pid, signal.SIGSTOP)
        try:
            heard.get_by_test_id("heard-pair").click()
            expect(panel.get_by_test_id(f"dev-row-{PENDANT}")).to_be_visible()
            expect(panel).to_have_attribute("data-config", "pending")
            expect(panel.get_by_test_id("dev-config")).to_have_text("待网关生效")
        finally:
            os.kill(gateway.proc.pid, signal.SIGCONT)
        expect(panel).to_have_attribute("data-config", "applied", timeout=20_000)
        expect(panel.get_by_test_id("dev-config")).to_have_text("网关已生效")
        expect(panel.get_by_test_id(f"heard-row-{PENDANT}")).to_have_count(0)
        assert_registry_in_step(stack, GW, config)
        assert gateway_registry(config)["devices"] == [
            {"device": PENDANT, "model": "PB-433", "label": "卧室"}]

        # relabel
        paired = panel.get_by_test_id(f"dev-row-{PENDANT}")
        paired.get_by_test_id("dev-label").fill("床头")
        paired.get_by_test_id("dev-relabel").click()
        expect(panel.get_by_test_id("dev-revisions")).to_have_text("配置版本 2，网关已生效 2",
                                                                   timeout=20_000)
        assert_registry_in_step(stack, GW, config)
        assert gateway_registry(config)["devices"][0]["label"] == "床头"

        # replace the pendant with a new one: same place, the old one's history kept
        paired.get_by_test_id("dev-replace-uid").fill(NEW)
        paired.get_by_test_id("dev-replace").click()
        expect(panel.get_by_test_id(f"dev-row-{NEW}")).to_be_visible()
        expect(panel.get_by_test_id(f"dev-former-{PENDANT}")).to_contain_text(NEW)
        expect(panel.get_by_test_id("dev-revisions")).to_have_text("配置版本 3，网关已生效 3",
                                                                   timeout=20_000)
        assert_registry_in_step(stack, GW, config)
        assert gateway_registry(config)["devices"] == [
            {"device": NEW, "model": "PB-433", "label": "床头"}]
        page.get_by_test_id("lang").click()
        expect(panel.get_by_test_id("dev-config")).to_have_text("applied")
        page.screenshot(path=artifacts / "console-devices-replaced.png")

        # unpair (a second click confirms): the gateway forgets it
        unpair = panel.get_by_test_id(f"dev-row-{NEW}").get_by_test_id("dev-unpair")
        unpair.click()
        expect(unpair).to_have_text("Really unpair?")
        unpair.click()
        expect(panel.get_by_test_id(f"dev-row-{NEW}")).to_have_count(0)
        expect(panel.get_by_test_id("dev-revisions")).to_have_text(
            "config revision 4, applied by the gateway 4", timeout=20_000)
        assert_registry_in_step(stack, GW, config)
        assert gateway_registry(config)["devices"] == []
    finally:
        gateway.stop()
        pty.close()
