"""Progress on stderr with rich: bars on a terminal only, stage lines and a spinner for long jobs."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.status import Status

from retrieval.index import Progress as ProgressFn


@contextmanager
def progress_bar(enabled: bool = True) -> Iterator[ProgressFn]:
    """Yield a ``(stage, done, total)`` callback that drives a rich progress bar on stderr."""
    console = Console(stderr=True)
    if not enabled or not console.is_terminal:  # a bar in a log file is only a stray blank line
        yield lambda stage, done, total: None
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        tasks: dict[str, int] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield update


class StageLog:
    """Progress of a long job on stderr: one line per stage, a spinner while a model answers.

    ``busy`` may be entered from several threads at once (parallel samples): the
    spinner shows while any call is in flight.
    """

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.console = Console(stderr=True, highlight=False, soft_wrap=True)
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self._active = 0
        self._status: Status | None = None

    def say(self, message: str) -> None:
        if self.enabled:
            self.console.print(f"[dim]{time.monotonic() - self.started:6.1f}s[/] {escape(message)}")

    def warn(self, message: str) -> None:
        if self.enabled:
            self.console.print(f"[yellow]warning:[/] {escape(message)}")

    @contextmanager
    def busy(self, label: str) -> Iterator[None]:
        if not self.enabled:
            yield
            return
        with self._lock:
            self._active += 1
            if self._status is None:
                self._status = self.console.status(escape(label))
                self._status.start()
        try:
            yield
        finally:
            with self._lock:
                self._active -= 1
                if self._active == 0 and self._status is not None:
                    self._status.stop()
                    self._status = None

    def bar(self) -> AbstractContextManager[ProgressFn]:
        return progress_bar(self.enabled)
