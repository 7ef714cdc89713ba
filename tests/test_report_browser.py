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

FIXTURES = Path(__file__).resolve().parent.parent / "results" / "fixtures"
CHECK = """<script>
window.addEventListener("load", () => {
  const images = Array.from(document.images);
  const seen = {
    tables: document.querySelectorAll("table").length,
    rows: document.querySelectorAll("table tbody tr").length,
    images: images.length,
    drawn: images.filter((image) => image.complete && image.naturalWidth > 0).length,
    headings: Array.from(document.querySelectorAll("h2")).map((h) => h.textContent),
    // Where the headline block sits against the first chart, in layout pixels (details opened first).
    headlineBottom: (() => {
      const block = document.getElementById("headline");
      return block ? block.getBoundingClientRect().bottom + window.scrollY : null;
    })(),
    firstImageTop: images.length ? images[0].getBoundingClientRect().top + window.scrollY : null,
    captions: images.filter((image) => {
      const figure = image.closest("figure");
      const caption = figure && figure.querySelector("figcaption");
      return caption && caption.textContent.trim().length > 20;
    }).length,
    // Every accuracy cell of the headline and of the tables, as the browser renders it.
    accuracyCells: Array.from(document.querySelectorAll("table")).flatMap((table) => {
      const heads = Array.from(table.querySelectorAll("thead th")).map((th) => th.textContent);
      const columns = heads.map((h, i) => [h, i]).filter(([h]) => /accuracy %/.test(h)).map(([, i]) => i);
      return Array.from(table.querySelectorAll("tbody tr")).flatMap((row) =>
        columns.map((i) => row.children[i] && row.children[i].textContent.trim()));
    }).filter((text) => text),
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


def seen_in_chromium(tmp_path: Path, fixture: str) -> dict:
    """Writes the report of a copy of ``fixture``, loads it in headless Chromium and returns what the page saw."""
    browser = chromium()
    folder = tmp_path / fixture
    shutil.copytree(FIXTURES / fixture, folder)
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
    return {**json.loads(found.group(1)), "folder": folder}


def test_report_html_shows_its_tables_and_images_in_chromium(tmp_path):
    seen = seen_in_chromium(tmp_path, "report-smoke")
    pngs = list((seen["folder"] / "charts").rglob("*.png"))
    assert seen["images"] == len(pngs) > 10
    assert seen["drawn"] == seen["images"], "some embedded image did not decode"
    assert seen["tables"] >= 8 and seen["rows"] > 40
    assert seen["headings"] == [
        "The answer",
        "Environment",
        "Charts",
        "Tables",
        "Failed cases",
        "Missing data",
        "How the numbers were measured",
    ]
    assert seen["headlineBottom"] <= seen["firstImageTop"], "the headline block must come before the first chart"
    assert seen["captions"] == seen["images"], "every chart image has a caption under it"


def test_a_one_seed_report_still_shows_an_interval_beside_every_accuracy(tmp_path):
    seen = seen_in_chromium(tmp_path, "report-one-seed")
    assert seen["headings"][0] == "The answer" and seen["headlineBottom"] <= seen["firstImageTop"]
    assert seen["captions"] == seen["images"] > 0
    cells = seen["accuracyCells"]
    assert len(cells) > 6  # the headline's front and budgets, the cases, the pivot
    interval = re.compile(r"^(\d+\.\d) \[(\d+\.\d), (\d+\.\d)\]$")
    for text in cells:
        match = interval.match(text)
        assert match, f"an accuracy without its interval: {text!r}"
        mean, low, high = map(float, match.groups())
        assert low < mean < high or low <= mean <= high == 100.0
