"""``report.html``: one self-contained page (images embedded as data URIs, CSS inline, no script, no server).

The page opens with the headline block (``suite.report.headline``: the question, the answer, the
caveats), then shows the environment block, the charts, the tables, failed cases with
their errors, what data was missing, and a short account of how the numbers were
measured (the long one is ``results/README.md``). ``page`` is the skeleton it
shares with ``compare.html``.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd

from suite.report.tables import Table

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1300px; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 2em; }
h3 { margin-bottom: .3em; } p.note { color: #555; margin-top: 0; max-width: 70em; }
table.data { border-collapse: collapse; font-size: .85em; margin: .5em 0 1.5em; }
table.data th, table.data td { border: 1px solid #ddd; padding: .25em .6em; text-align: left; vertical-align: top; }
table.data td { white-space: nowrap; } table.wrap td { white-space: normal; } table.data th { background: #f3f3f3; }
table.data tr:nth-child(even) td { background: #fafafa; } div.scroll { overflow-x: auto; }
figure { margin: 1em 0 2em; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #555; font-size: .9em; max-width: 70em; }
#headline { border: 1px solid #ccd; background: #f7f8fc; padding: 0 1em 1em; margin-bottom: 1em; }
nav a { margin-right: 1em; }
pre { background: #f6f6f6; padding: .6em; overflow-x: auto; font-size: .8em; }
.gaps li, .method li { margin-bottom: .3em; } .empty { color: #777; font-style: italic; }
"""


@dataclass(frozen=True, kw_only=True)
class Image:
    """One chart as the page embeds it."""

    title: str
    png: bytes
    caption: str = ""

    def to_html(self) -> str:
        data = base64.b64encode(self.png).decode("ascii")
        caption = f"<figcaption>{html.escape(self.caption)}</figcaption>" if self.caption else ""
        return f'<figure><img alt="{html.escape(self.title)}" src="data:image/png;base64,{data}">{caption}</figure>'


def table_html(table: Table, level: int = 3, heading: bool = True) -> str:
    """A table's title (unless ``heading`` is False), note and rows (an italic line where it is empty)."""
    note = f'<p class="note">{html.escape(table.note)}</p>' if table.note else ""
    if table.display.empty:
        body = '<p class="empty">(empty)</p>'
    else:
        shown = table.display.rename(columns={"device_name": "device"})
        classes = "data wrap" if table.wrap else "data"
        rows = shown.to_html(index=False, classes=classes, border=0, na_rep="", escape=True)
        body = f'<div class="scroll">{rows}</div>'
    title = f'<h{level} id="table-{table.name}">{html.escape(table.title)}</h{level}>' if heading else ""
    return f"{title}{note}{body}"


def method_items(results: pd.DataFrame) -> list[str]:
    """How the numbers were measured, in a few lines, with this run's own counts where the rows have them."""
    ok = results[results["status"] == "ok"] if "status" in results else results
    calls = ok["latency_n"].median() if "latency_n" in ok and ok["latency_n"].notna().any() else None
    seeds = ok.groupby("case_id")["seed"].nunique().max() if not ok.empty else None
    profiles = ", ".join(sorted(str(p) for p in ok["profile"].dropna().unique())) if "profile" in ok else ""
    return [
        "Accuracy: top-1 on the held-out test split with the weights of the best validation epoch; "
        f"the mean over seeds ({seeds or 'no'} seed(s) per case here"
        + (f", profile {profiles}" if profiles else "")
        + ") with a 95% interval: the Wilson interval of the pooled test images, widened to the seeds' "
        "Student-t interval where there are two seeds or more (the larger of the two uncertainties, as the "
        "gate takes the larger standard error).",
        "Latency: batch 1, the model inside one tf.function in graph mode and one XLA-compiled, never "
        "model.predict(); graph and XLA calls alternate after untimed warm-up; the faster mode's p50 is reported "
        "with a 95% interval over the medians of 8 windows of the run (so it covers the drift inside the run)"
        + (f" ({calls:.0f} timed calls per mode, median over cases)" if calls else "")
        + ".",
        "Throughput: a batch-size sweep in both modes, blocks of back-to-back calls timed round-robin; each point "
        "is its best block; a batch that runs out of memory is halved and ends the sweep. Where the run served a "
        "network under MLPerf LoadGen (serving.csv), its Offline images/s, a whole run's sustained rate, is the "
        "throughput shown and ranked by instead (marked Offline); the serving table has its verdicts.",
        "Input is preprocessed images: decoding, resizing and preprocess_input happen in tf.data, outside the "
        "timed region. Every timed region ends with .numpy(), so the device has finished.",
        "FLOPs: one batch-1 forward pass counted by TensorFlow's profiler; params: every weight of the classifier.",
        "Rows from different machine fingerprints are not reported together unless --force was given. "
        "results/README.md ('How the numbers are measured') has the full protocol and every column.",
    ]


def page(title: str, parts: list[str]) -> str:
    """The report's page skeleton around ``parts``: head with ``title`` and the inline style, the ``title`` heading.

    ``report.html`` and ``compare.html`` both come from it, so they look alike and stay self-contained.
    """
    head = [
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>',
        f"<style>{STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    return "\n".join([*head, *parts]) + "</body></html>\n"


def charts_html(charts: dict[str, list[Image] | str]) -> list[str]:
    """Each chart heading with its captioned images (training curves folded away), or why it was not drawn."""
    parts: list[str] = []
    for heading, images in charts.items():
        if isinstance(images, str):  # why the chart was not drawn
            parts.append(f'<h3>{html.escape(heading)}</h3><p class="empty">Not drawn: {html.escape(images)}</p>')
        elif heading.startswith("Training curves"):
            parts.append(f"<details><summary><strong>{html.escape(heading)}</strong> ({len(images)})</summary>")
            parts.extend(image.to_html() for image in images)
            parts.append("</details>")
        else:
            parts.append(f"<h3>{html.escape(heading)}</h3>")
            parts.extend(image.to_html() for image in images)
    return parts


@dataclass(frozen=True, kw_only=True)
class Missing:
    """What the page shows was not measured: the stored files it looked for and could not use (``gaps``), and
    the end of each failed case's stored traceback (``tracebacks``, keyed ``case_id seed N``)."""

    gaps: list[str]
    tracebacks: dict[str, str]


def render(
    title: str,
    results: pd.DataFrame,
    tables: list[Table],
    charts: dict[str, list[Image] | str],
    missing: Missing,
    headline: str = "",
) -> str:
    """The whole page.

    ``charts`` maps a heading to its images, or to the reason there are none; ``missing`` holds the gaps and the
    failed cases' tracebacks; ``headline`` is the block shown first.
    """
    ok = int((results["status"] == "ok").sum()) if "status" in results else 0
    by_name = {t.name: t for t in tables}
    generated = datetime.now(UTC).isoformat(timespec="seconds")
    parts = [
        headline,
        f'<p class="note">{len(results)} row(s): {ok} ok, {len(results) - ok} failed or skipped; '
        f"{results['case_id'].nunique() if 'case_id' in results else 0} case(s). Generated {generated} "
        "from results.csv and the side tables beside it; nothing was trained.</p>",
        '<nav><a href="#answer">Answer</a><a href="#environment">Environment</a><a href="#charts">Charts</a>'
        '<a href="#tables">Tables</a>'
        '<a href="#failures">Failures</a><a href="#gaps">Missing data</a><a href="#method">Method</a></nav>',
        '<h2 id="environment">Environment</h2>',
    ]
    if "environment" in by_name:
        parts.append(table_html(by_name["environment"], heading=False))
    parts.append('<h2 id="charts">Charts</h2>')
    parts.extend(charts_html(charts))
    parts.append('<h2 id="tables">Tables</h2>')
    shown_elsewhere = ("environment", "failures", "formats_ship")  # formats_ship is in the headline block
    parts.extend(table_html(t) for t in tables if t.name not in shown_elsewhere)
    parts.append('<h2 id="failures">Failed cases</h2>')
    if "failures" in by_name:
        parts.append(table_html(by_name["failures"], heading=False))
    for key, text in missing.tracebacks.items():
        if text:
            parts.append(f"<details><summary>{html.escape(key)}: traceback</summary><pre>{html.escape(text)}</pre>")
            parts.append("</details>")
    parts.append('<h2 id="gaps">Missing data</h2>')
    if missing.gaps:
        parts.append('<p class="note">Stored files the report looked for and could not use:</p><ul class="gaps">')
        parts.extend(f"<li>{html.escape(line)}</li>" for line in missing.gaps)
        parts.append("</ul>")
    else:
        parts.append('<p class="empty">None: every ok case has its history and throughput files.</p>')
    parts.append('<h2 id="method">How the numbers were measured</h2><ul class="method">')
    parts.extend(f"<li>{html.escape(item, quote=False)}</li>" for item in method_items(results))
    parts.append("</ul>")
    return page(title, parts)
