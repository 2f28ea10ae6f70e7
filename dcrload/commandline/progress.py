"""A progress bar that appears only for runs longer than a couple of seconds."""

from __future__ import annotations

import time
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

DELAY = 2.0
"""Seconds of wall time before the bar shows; short runs print nothing extra."""


class DelayedProgress:
    """`update(done)` with `done` in [0, total]; draws on stderr when it is a terminal."""

    def __init__(self, description: str, total: float, console: Console | None = None) -> None:
        self.description = description
        self.total = total
        self.console = console or Console(stderr=True)
        self._started = time.monotonic()
        self._progress: Progress | None = None
        self._task = 0

    def __enter__(self) -> DelayedProgress:
        self._started = time.monotonic()
        return self

    def update(self, done: float) -> None:
        if self._progress is None:
            if time.monotonic() - self._started < DELAY or not self.console.is_terminal:
                return
            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.percentage:>3.0f}%"),
                TimeRemainingColumn(),
                console=self.console,
                transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task(self.description, total=self.total)
        self._progress.update(self._task, completed=done)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()
