"""Apply progress for people: a live bar on a terminal, plain lines everywhere else (CI logs).

The executor reports events as (address, message, kind) with kind "done", "failed" or "info"; the bar counts
the steps of the plan that finished, and the lines above it say what happened to which address.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID

    from reconciler.plan.plan import Plan


class ApplyProgress:
    def __init__(self, console: Console):
        self.console = console
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
