"""Apply progress for people: a live bar on a terminal, plain lines everywhere else (CI logs).

The executor reports events as (address, message, kind) with kind "done", "failed", "info" or "heartbeat"; the
bar counts the steps of the plan that finished, and the lines above it say what happened to which address.
Heartbeats (one per sweep of the review wait) show only without a live bar, at most every HEARTBEAT_EVERY
seconds: a 900 s review wait in a CI log must not look hung, nor fill the log.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID

    from reconciler.plan.plan import Plan


HEARTBEAT_EVERY = 30.0  # seconds


class ApplyProgress:
    def __init__(self, console: Console, clock: Callable[[], float] = time.monotonic):
        self.console = console
        self.clock = clock
        self._last_line = clock()  # any line printed counts: a heartbeat only fills a silence
        # No live bar without a terminal, or when plain text was asked for (--no-color, NO_COLOR).
        self.live = console.is_terminal and console.color_system is not None
        self._bar: Progress | None = None
        self._task: TaskID | None = None

    def plan_ready(self, plan: Plan) -> None:
        if not self.live or not plan.has_changes:
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self._bar = Progress(
            SpinnerColumn(),
            TextColumn("Applying"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
        )
        self._task = self._bar.add_task("apply", total=len(plan.steps))

    def __call__(self, address: str, message: str, kind: str = "info") -> None:
        now = self.clock()
        if kind == "heartbeat":
            if self.live or now - self._last_line < HEARTBEAT_EVERY:
                return  # the live bar shows the elapsed time itself
            message = f"{message} (waiting)"
        self._last_line = now
        style = {"done": "green", "failed": "red"}.get(kind, "dim")
        self.console.print(f"[dim]{address}:[/] [{style}]{message}[/]", markup=True, highlight=False)
        if self._bar is not None and self._task is not None:
            if not self._bar.live.is_started:
                self._bar.start()
            if kind in ("done", "failed"):
                self._bar.advance(self._task)

    def __enter__(self) -> ApplyProgress:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._bar is not None:
            self._bar.stop()
