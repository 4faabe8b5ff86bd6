"""The report opened in a REAL headless Chromium (Debian's chromium + chromium-driver, driven by selenium):
a screenshot is taken, every <img> has loaded (naturalWidth > 0), and no request leaves the page.

Provisioned by ``.ci/provision-browser.sh`` (called from ``scripts/test.sh``); skips, saying why, when
the browser is not installed."""
from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path

import pytest

from hyperspark.ops.report import build_report

CHROMIUM = Path(os.environ.get("HYPERSPARK_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("HYPERSPARK_CHROMEDRIVER", "/usr/bin/chromedriver"))
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1280,2400"]


@pytest.fixture
def browser(tmp_path: Path):
    if not CHROMIUM.exists() or not CHROMEDRIVER.exists():
        pytest.skip(f"no headless browser: {CHROMIUM} or {CHROMEDRIVER} is missing "
                    "(.ci/provision-browser.sh installs Debian's chromium and chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e .[dev])")
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        opts.add_argument(flag)
    profile = tmp_path / "chromium-profile"
    opts.add_argument(f"--user-data-dir={profile}")
    opts.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    service = Service(executable_path=str(CHROMEDRIVER), log_output=str(tmp_path / "chromedriver.log"))
    driver = webdriver.Chrome(service=service, options=opts)
    try:
        yield driver
    finally:
        driver.quit()  # stops chromedriver, which stops its chromium
        shutil.rmtree(profile, ignore_errors=True)


def _requests(driver) -> list[str]:
    urls = []
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg.get("method") == "Network.requestWillBeSent":
            urls.append(msg["params"]["request"]["url"])
    return urls


def test_report_renders_in_headless_chromium(browser, grid_run, tmp_path: Path) -> None:
    from PIL import Image

    rows, summary = grid_run
    res = build_report(rows, summary, tmp_path / "report")
    browser.get("about:blank")
    browser.get_log("performance")  # drop the start page's own chrome:// loads: only the report's count
    browser.get(res.html.as_uri())
    images = browser.execute_script(
        "return Array.from(document.images).map(i => [i.id, i.complete, i.naturalWidth, i.naturalHeight]);")
    assert {i[0] for i in images} == {f"img-{name}" for name in res.images}
    for img_id, complete, width, height in images:
        assert complete and width > 0 and height > 0, (img_id, width, height)
    assert browser.title == f"HyperSpark run {summary.run_id}"
    shot = tmp_path / "screenshot.png"
    assert browser.save_screenshot(str(shot))
    with Image.open(io.BytesIO(shot.read_bytes())) as im:
        assert im.size[0] >= 800
        lo, hi = im.convert("L").getextrema()
        assert lo < hi, "a blank screenshot"
    urls = _requests(browser)
    assert urls, "performance log recorded no request at all (the page itself should be one)"
    leaving = [u for u in urls if not (u.startswith("file://") or u.startswith("data:"))]
    assert leaving == [], f"requests left the page: {leaving[:5]}"
