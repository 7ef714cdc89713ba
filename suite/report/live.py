"""The report rebuilt while a run works: after a finished row, at most about a tenth of the run's time.

``suite run`` calls a ``LiveReport`` after each row it appends (``suite.run.schedule``), so ``report.html`` has
the first cheap case's chart minutes after the run starts, not the morning after. A rebuild reads the
folder's stored files like ``suite report`` and replaces ``report.html`` atomically
(``write_atomically``): a browser refreshing it sees the old page or the new one. Rebuilding costs more
as rows accumulate (4-5 s at 1-3 rows, 13-26 s at 15 rows with their training curves, on this project's
2 shared cores), so after a rebuild that took ``c`` seconds the next waits at least ``SPACING x c``
(and ``MIN_GAP_S``): rebuilding takes at most 1 / (1 + ``SPACING``) of the run. Rows that finish in
the gap join the next rebuild or the run's final one. A rebuild that fails logs one line; the run goes on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

from suite.errors import one_line
from suite.report import REPORT_FILE, write_report

log = logging.getLogger(__name__)

SPACING = 9.0  # the next rebuild waits this many times the last one's seconds: rebuilds take <= 10% of the run
MIN_GAP_S = 30.0  # and at least this long after the last one ended


class LiveReport:
    """Rebuilds ``results_dir``'s report when called, unless the last rebuild was too recent.

    ``build`` defaults to ``suite.report.write_report``; ``clock`` to ``time.monotonic`` (tests pass their own).
    """

    def __init__(
        self,
        results_dir: Path,
        force: bool = False,
        build: Callable[[Path, bool], object] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.results_dir, self.force, self.clock = Path(results_dir), force, clock
        self.build = build or write_report
        self.next_at = -float("inf")  # the first call rebuilds
        self.rebuilds = 0

    @property
    def path(self) -> Path:
        return self.results_dir / REPORT_FILE

    def __call__(self) -> Path | None:
        """Rebuilds if it is time; returns the report's path if this call rebuilt it, else None. Never raises."""
        if self.clock() < self.next_at:
            return None
        started = self.clock()
        try:
            self.build(self.results_dir, self.force)
        except Exception as error:  # the rows are safe in results.csv; the final rebuild tries again
            log.warning("report not rebuilt (the run goes on): %s", one_line(error))
            return None
        finally:
            ended = self.clock()
            self.next_at = ended + max(MIN_GAP_S, SPACING * (ended - started))
        self.rebuilds += 1
        return self.path
