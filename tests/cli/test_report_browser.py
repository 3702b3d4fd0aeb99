"""report.html and sweep.html from `enfo-owner evaluate`, opened in a real (headless) Chromium.

Each page must render every image (``naturalWidth > 0``) and ask for nothing but its own
``data:`` images: the browser runs with no DNS and a dead proxy, and the DevTools network
log lists every request the page makes. The report's screenshot goes to the test's temporary
folder, or, with ``ENFO_UPDATE_SCREENSHOT=1``, to docs/report-screenshot.png (the README shows
it; a test run never changes a tracked file unless asked). Skipped, with the reason, only where
Chromium cannot start (install Debian's ``chromium``; ``.ci/run`` does, and sets
``ENFO_REQUIRE_BROWSER=1`` to make a failed start an error).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from owner_cli.main import cli

from .conftest import tiny_contract, write_contract
from .headless import Browser, BrowserUnavailable, open_page, screenshot

PNG = b"\x89PNG\r\n\x1a\n"
DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.fixture(scope="module")
def browser():
    try:
        with Browser() as b:
            yield b
    except BrowserUnavailable as e:
        if os.environ.get("ENFO_REQUIRE_BROWSER"):  # set by .ci/run, which installs Chromium
            pytest.fail(f"ENFO_REQUIRE_BROWSER is set but headless Chromium cannot start: {e}")
        print(f"browser test skipped: {e}")
        pytest.skip(f"headless Chromium cannot start: {e}")


def _check_page(browser, page: Path, expected_images: int) -> None:
    html = page.read_text()
    assert len(re.findall(r"<img\b", html)) == expected_images
    seen = open_page(browser, page)
    assert len(seen["images"]) == expected_images, seen["images"]
    for img in seen["images"]:
        assert img["complete"] and img["naturalWidth"] > 0 and img["naturalHeight"] > 0, img
    network = [u for u in seen["requests"] if not u.startswith("data:image/png;base64,")]
    assert network == [], f"{page.name} made network requests: {network}"
    assert seen["failed"] == [], seen["failed"]


def test_report_renders_in_chromium_offline(browser, runner, forged, tmp_path):
    out = tmp_path / "eval"
    result = runner.invoke(cli, [
        "evaluate", "--contract", str(forged["contract"]), "--bundle", str(forged["bundle"]),
        "--out", str(out), "--sizes", "", "--external-rows", "100",
    ])
    assert result.exit_code == 0, result.output
    _check_page(browser, out / "report.html", expected_images=3)
    shot = screenshot(browser)
    assert shot.startswith(PNG) and len(shot) > 20_000  # a blank page is a few kB
    folder = DOCS if os.environ.get("ENFO_UPDATE_SCREENSHOT") else tmp_path
    tmp = folder / f".report-screenshot.{os.getpid()}.png"  # then a rename: never half a PNG
    tmp.write_bytes(shot)
    os.replace(tmp, folder / "report-screenshot.png")


def test_sweep_page_renders_in_chromium_offline(browser, runner, project, tmp_path):
    contract = write_contract(project, tiny_contract(forge={"rows": 20, "steps": 30, "mode": "rival"}))
    out = tmp_path / "s"
    result = runner.invoke(cli, ["evaluate", "--contract", str(contract), "--out", str(out),
                                 "--sweep", "alignment_weight=0,10", "--external-rows", "100"])
    assert result.exit_code == 0, result.output
    _check_page(browser, out / "sweep.html", expected_images=1)
    assert screenshot(browser).startswith(PNG)
