"""A progress bar on stderr (rich) for runs that take more than about a second.

It shows only on a terminal, never with `--quiet`, and only once a run has gone on for
SHOW_AFTER_S, so quick runs print nothing extra. The engine reports requests as they start, in
batches (sim.engines.trio), so counting costs nothing measurable.
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # rich is imported once a bar may show: a quiet run never loads it
    from rich.console import Console
    from rich.progress import Progress

SHOW_AFTER_S = 1.0


class RunProgress:
    """Counts requests raced out of `total`; draws a bar once SHOW_AFTER_S has passed.

    Use as a context manager; `advance` is the callback `sim.run(progress=...)` takes.
    """

    def __init__(self, total: int, enabled: bool, console: Console | None = None) -> None:
        if enabled and console is None:
            from rich.console import Console

            console = Console(stderr=True)
        self._console = console
        self._enabled = enabled and console.is_terminal
        self._total = total
        self._done = 0
        self._started = time.monotonic()
        self._bar: Progress | None = None
        self._task = None

    def __enter__(self) -> RunProgress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.stop()

    def advance(self, label: str, n: int) -> None:
        """`n` more requests have started, in the part of the run called `label`."""
        self._done += n
        if not self._enabled:
            return
        if self._bar is None:
            if time.monotonic() - self._started < SHOW_AFTER_S:
                return
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=self._console,
                transient=True,
            )
            self._task = self._bar.add_task(label, total=self._total)
            self._bar.start()
        self._bar.update(self._task, completed=self._done, description=label)
