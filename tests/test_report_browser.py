"""report.html opens in a real browser, from a file, and shows its tables and images.

Headless Chromium (Debian's ``chromium`` package; ``.ci/run`` installs it where apt can)
loads a copy of the page with a small script appended that, once the page has loaded,
writes what it sees into the DOM; ``--dump-dom`` hands that back.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from suite import report

FIXTURE = Path(__file__).resolve().parent.parent / "results" / "fixtures" / "report-smoke"
CHECK = """<script>
window.addEventListener("load", () => {
  const images = Array.from(document.images);
  const seen = {
    tables: document.querySelectorAll("table").length,
    rows: document.querySelectorAll("table tbody tr").length,
    images: images.length,
    drawn: images.filter((image) => image.complete && image.naturalWidth > 0).length,
    headings: Array.from(document.querySelectorAll("h2")).map((h) => h.textContent),
  };
  const out = document.createElement("pre");
  out.id = "render-check";
  out.textContent = JSON.stringify(seen);
  document.body.appendChild(out);
});
</script>"""


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if path := shutil.which(name):
            return path
    pytest.skip("chromium not found: install Debian's chromium package (apt-get install chromium) to run this test")


def test_report_html_shows_its_tables_and_images_in_chromium(tmp_path):
    browser = chromium()
    folder = tmp_path / "report-smoke"
    shutil.copytree(FIXTURE, folder)
    page = report.write_report(folder)[0]
    checked = tmp_path / "checked.html"
    checked.write_text(page.read_text().replace("</body>", CHECK + "</body>"))
    done = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",  # root in containers and CI
            "--disable-gpu",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=10000",
            "--dump-dom",
            checked.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    found = re.search(r'<pre id="render-check">(.*?)</pre>', done.stdout, re.S)
    assert found, f"chromium printed no check (exit {done.returncode}): {done.stderr[-2000:]}"
    seen = json.loads(found.group(1))
    pngs = list((folder / "charts").rglob("*.png"))
    assert seen["images"] == len(pngs) > 10
    assert seen["drawn"] == seen["images"], "some embedded image did not decode"
    assert seen["tables"] >= 8 and seen["rows"] > 40
    assert seen["headings"] == [
        "Environment",
        "Charts",
        "Tables",
        "Failed cases",
        "Missing data",
        "How the numbers were measured",
    ]
