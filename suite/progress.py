"""Progress of a run: what each case is doing, told to whoever watches.

A case reports events (``emit(stage="train", epoch=2, epochs=5, step=10,
steps=22)``). In a worker process they travel as JSON lines over the pipe
whose descriptor is in ``SUITE_PROGRESS_FD``; in the runner's own process they
go to the listener set with ``listen``. ``View`` shows them: a live ``rich``
display on a terminal, plain timestamped lines (no control characters) when
the output is a log file.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

PROGRESS_FD = "SUITE_PROGRESS_FD"
_listener: Callable[[dict], None] | None = None
_pipe = None


def listen(listener: Callable[[dict], None] | None) -> None:
    """Sends this process's events to ``listener`` (``None`` stops)."""
    global _listener
    _listener = listener


def emit(**event) -> None:
    """Reports one event; never raises, because progress must not fail a case."""
    global _pipe
    if _listener is not None:
        _listener(event)
        return
    try:
        if _pipe is None:
            descriptor = os.environ.get(PROGRESS_FD)
            if not descriptor:
                return
            _pipe = os.fdopen(int(descriptor), "w", buffering=1)
        _pipe.write(json.dumps(event) + "\n")
    except (OSError, ValueError):  # the runner went away; the case carries on
        pass


def describe(event: dict) -> str:
    """One event in words: ``train finetune epoch 2/5 step 10/22``."""
    words = [event.get("stage", "")]
    if event.get("phase") and event["phase"] != event.get("stage"):
        words.append(event["phase"])
    if "epoch" in event:
        words.append(f"epoch {event['epoch']}/{event.get('epochs', '?')}")
    if "step" in event:
        words.append(f"step {event['step']}/{event.get('steps', '?')}")
    if "message" in event:
        words.append(event["message"])
    return " ".join(w for w in words if w)


def duration(seconds: float | None) -> str:
    """``1 h 05 min``, ``12 min``, ``40 s``, or ``?`` when unknown; minutes to the nearest (119 s is ``2 min``,
    not the ``1 min`` that cutting the seconds off said while a run had two minutes left)."""
    if seconds is None:
        return "?"
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


@dataclass(kw_only=True)
class View:
    """What a run shows while it works: jobs done of total, the current job and its stage, and an ETA.

    ``remaining_s`` is called with the seconds the current job has run and
    returns the estimated seconds left for the whole run (``None``: no estimate yet).
    """

    total: int
    remaining_s: Callable[[float], float | None]
    live: bool = field(default_factory=lambda: sys.stdout.isatty())
    done: int = 0
    current: str = ""
    started: float = field(default_factory=time.perf_counter)
    _last_line: float = 0.0

    def __post_init__(self) -> None:
        self._rich = None
        if self.live:
            from rich.console import Console
            from rich.live import Live

            self._detail = ""
            # Rendered afresh at every refresh, so the elapsed time and the ETA tick between events.
            self._rich = Live(get_renderable=self._render, console=Console(), refresh_per_second=2, transient=True)
            self._rich.start()

    def _render(self):
        from rich.text import Text

        return Text(self._status(self._detail), no_wrap=True, overflow="ellipsis")

    def _status(self, detail: str) -> str:
        elapsed = time.perf_counter() - self.started
        eta = self.remaining_s(time.perf_counter() - self.job_started if self.current else 0.0)
        return (
            f"[{self.done}/{self.total} done, {duration(elapsed)} elapsed, ETA {duration(eta)}] "
            f"{self.current} {detail}".rstrip()
        )

    def line(self, text: str) -> None:
        """A line that stays in the log: case started, finished, failed."""
        stamp = datetime.now().strftime("%H:%M:%S")
        if self._rich is not None:
            self._rich.console.print(f"{stamp} {text}", markup=False, highlight=False)
        else:
            print(f"{stamp} {text}", flush=True)

    def start_job(self, label: str) -> None:
        self.current, self.job_started = label, time.perf_counter()
        self.line(self._status("started"))
        self._update("starting")

    def event(self, event: dict) -> None:
        """A worker's event: redraws the live line, or prints at most one plain line per epoch end."""
        if self._rich is not None:
            self._update(describe(event))
        elif event.get("end_of_epoch") or event.get("stage") in ("evaluate", "measure"):
            self.line(self._status(describe(event)))

    def finish_job(self, outcome: str) -> None:
        self.done += 1
        self.line(f"{self.current} {outcome}")
        self.current = ""
        self._update("")

    def report(self, path) -> None:
        """A line naming the page to open, rebuilt just now: ``report: DIR/report.html (3/15 done)``."""
        self.line(f"report: {path} ({self.done}/{self.total} done)")

    def _update(self, detail: str) -> None:
        self._detail = detail
        if self._rich is not None:
            self._rich.refresh()

    def close(self) -> None:
        if self._rich is not None:
            self._rich.stop()
            self._rich = None
