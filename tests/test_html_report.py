"""report.html renders in a real browser (Debian's headless Chromium)."""

from __future__ import annotations

import os
import shutil
import subprocess

import cv2
import pytest
from click.testing import CliRunner

from deid.cli import main

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium (Debian) must be installed in CI")
        pytest.skip("chromium not installed")
    return path


def test_scan_html_report_renders(corpus, tmp_path):
    browser = chromium()
    report_dir = tmp_path / "report"
    result = CliRunner().invoke(
        main, ["scan", str(corpus / "input" / "identified"), "--report-dir", str(report_dir)]
    )
    assert result.exit_code == 1
    page = report_dir / "report.html"
    html = page.read_text()
    assert "<script" not in html and "http" not in html.split("</style>")[1], "self-contained"
    assert "QUIXOTE" not in html, "evidence is redacted by default"
    common = [browser, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run(
        [*common, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120
    )
    assert "Data-set re-identification risk" in dom.stdout
    assert "header.name" in dom.stdout
    shot = tmp_path / "shot.png"
    subprocess.run(
        [*common, "--window-size=1280,1200", f"--screenshot={shot}", page.as_uri()],
        capture_output=True,
        timeout=120,
        check=True,
    )
    image = cv2.imread(str(shot))
    assert image is not None and image.shape[:2] == (1200, 1280)
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    dark = (gray < 128).mean()
    assert 0.005 < dark < 0.5, f"page looks blank or broken ({dark:.3%} dark pixels)"
    red = ((image[:, :, 2] > 150) & (image[:, :, 1] < 80) & (image[:, :, 0] < 80)).sum()
    assert red > 50, "the high-severity badges are drawn"
