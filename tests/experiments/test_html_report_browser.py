"""The HTML report in a real headless browser (Debian `chromium`): it loads, draws its charts, and is shot.

`make test` installs chromium when it is missing (see the Makefile's `browser` target); without it this test
fails rather than skips, since the charts are a feature.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
from PIL import Image

from experiments import html_report
from tests.experiments.report_fixture import sample_report

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--hide-scrollbars",
    "--window-size=1200,1800",
]


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "chromium is not installed: `make browser` (apt-get install chromium) installs it"
    return found


def test_report_page_draws_its_charts_in_chromium(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(html_report.render(sample_report()))
    dom = subprocess.run(
        [chromium(), *CHROMIUM_FLAGS, "--virtual-time-budget=5000", "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert 'data-charts-drawn="4"' in dom
    for chart in html_report.CHART_IDS:
        assert f'data-chart="{chart}"' in dom
    # What was drawn: a band and a line per arm, an always-valid lift band per arm against control, an
    # interval per lift, a bar per arm.
    assert len(re.findall(r'class="band"', dom)) == 2
    assert len(re.findall(r'class="series"', dom)) == 2
    assert len(re.findall(r'class="interval"', dom)) >= 1
    assert len(re.findall(r'class="bar"', dom)) == 2
    assert len(re.findall(r'class="band-always-valid"', dom)) == 1
    shot = tmp_path / "report.png"
    subprocess.run(
        [chromium(), *CHROMIUM_FLAGS, f"--screenshot={shot}", page.as_uri()],
        capture_output=True,
        timeout=120,
        check=True,
    )
    pixels = np.asarray(Image.open(shot).convert("RGB"))
    assert pixels.shape[0] >= 1000
    # The arms' colours are on the picture: the charts are drawn, not only in the DOM.
    blue = np.all(np.abs(pixels.astype(int) - [0x1F, 0x77, 0xB4]) < 30, axis=-1).sum()
    red = np.all(np.abs(pixels.astype(int) - [0xD6, 0x27, 0x28]) < 30, axis=-1).sum()
    assert blue > 500 and red > 500
