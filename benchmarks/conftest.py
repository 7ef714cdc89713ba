"""Prints the suite-against-plain-loop throughput table after the benchmark run."""

from __future__ import annotations

import pytest

SIDE_BY_SIDE: list[dict] = []


@pytest.fixture
def side_by_side() -> list[dict]:
    """Rows for the table printed after the run (images/s; the ratios are suite row and interleaved over plain)."""
    return SIDE_BY_SIDE


def pytest_terminal_summary(terminalreporter):
    if not SIDE_BY_SIDE:
        return
    terminalreporter.section("throughput: suite protocol against a plain compiled loop (same .keras, same batch)")
    terminalreporter.write_line(
        f"{'arch':<16}{'batch':>6}{'suite row':>11}{'interleaved':>13}{'plain loop':>12}{'ratio':>7}{'ratio':>7}  mode"
    )
    for row in SIDE_BY_SIDE:
        mode = "xla" if row["suite_xla"] else "graph"
        terminalreporter.write_line(
            f"{row['arch']:<16}{row['batch']:>6}{row['suite_ips']:>11.1f}{row['interleaved_ips']:>13.1f}"
            f"{row['plain_ips']:>12.1f}{row['ratio']:>7.3f}{row['interleaved_ratio']:>7.3f}  {mode}"
        )
