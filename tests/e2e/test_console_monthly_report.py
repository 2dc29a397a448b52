"""The monthly report in the console: a supervisor picks a month and an area in the Reports
view, the CSV and XLSX links download the files, and the printable report opens in a new tab;
its first page (A4 at 96 dpi) is kept as ``test-artifacts/monthly-report.png``."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from openpyxl import load_workbook
from playwright.sync_api import Page, ViewportSize, expect

from tests.e2e.helpers import sign_in
from tests.fixtures.stack import Stack
from tests.fixtures.world import World
from tests.integration.test_monthly_report import THIS, build, check_xlsx

pytestmark = pytest.mark.e2e
A4: ViewportSize = {"width": 794, "height": 1123}  # 210 × 297 mm at 96 dpi


def test_a_supervisor_downloads_and_prints_the_monthly_report(stack: Stack, page: Page,
                                                              world: World,
                                                              artifacts: Path) -> None:
    with world.connect() as conn:
        build(conn, world)
    sign_in(page, stack, "sam")
    page.get_by_test_id("tab-reports").click()
    monthly = page.get_by_test_id("monthly")
    expect(monthly).to_be_visible()
    page.get_by_test_id("monthly-month").fill(f"{THIS:%Y-%m}")
    page.get_by_test_id("monthly-month").dispatch_event("change")
    page.get_by_test_id("monthly-area").select_option(str(world.community))

    with page.expect_download() as download:
        page.get_by_test_id("monthly-xlsx").click()
    path = download.value.path()
    assert download.value.suggested_filename == f"report-{THIS:%Y-%m}.xlsx"
    with world.connect() as conn:
        check_xlsx(path.read_bytes(), conn, world.community)
    assert load_workbook(io.BytesIO(path.read_bytes())).sheetnames[0] == "概况"
    with page.expect_download() as download:
        page.get_by_test_id("monthly-csv").click()
    assert download.value.path().read_bytes().startswith(b"\xef\xbb\xbf")

    with page.context.expect_page() as opened:
        page.get_by_test_id("monthly-html").click()
    report = opened.value
    report.wait_for_load_state()
    title = f"平安铃 月度服务报告 {THIS.year}年{THIS.month:02d}月 幸福社区"
    expect(report.locator("h1")).to_have_text(title)
    expect(report.locator("svg")).to_have_count(2)
    report.set_viewport_size(A4)
    report.emulate_media(media="print")
    report.screenshot(path=artifacts / "monthly-report.png")
