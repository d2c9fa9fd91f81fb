"""The terminal face of a run: events drawn with rich on stderr (stage lines, a spinner, a line per long task).

The pipeline emits events carrying data; this module is the only place that draws them, in the words of
``repoagent.cli.wording``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as Bars
from rich.status import Status

from repoagent.cli.terminal import printable
from repoagent.cli.wording import words
from repoagent.events import (
    Event,
    ModelCalled,
    ModelCallStarted,
    Note,
    Progress,
    RunStarted,
    StageEnded,
    StageStarted,
)
from retrieval.index import Progress as ProgressFn


@contextmanager
def progress_bar(enabled: bool = True) -> Iterator[ProgressFn]:
    """Yield a ``(task, done, total)`` callback that drives a rich progress bar on stderr (terminals only)."""
    console = Console(stderr=True)
    if not enabled or not console.is_terminal:  # a bar in a log file is only a stray blank line
        yield lambda task, done, total: None
        return
    with Bars(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        tasks: dict[str, int] = {}

        def update(task: str, done: int, total: int) -> None:
            if task not in tasks:
                tasks[task] = bar.add_task(task, total=total)
            bar.update(tasks[task], completed=done, total=total)

        yield update


class ConsoleEvents:
    """An event sink that draws a run on stderr: a line per stage and note, a spinner while a model answers.

    Model calls may be in flight in several threads at once (parallel samples):
    the spinner shows while any is.
    """

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.console = Console(stderr=True, highlight=False, soft_wrap=True)
        self.started = time.monotonic()
        self.run_dir = ""
        self._lock = threading.Lock()
        self._in_flight = 0
        self._status: Status | None = None
        self._announced: set[str] = set()  # long tasks already named on the terminal

    def say(self, message: str) -> None:
        if self.enabled:
            self.console.print(f"[dim]{time.monotonic() - self.started:6.1f}s[/] {escape(printable(message))}")

    def warn(self, message: str, always: bool = False) -> None:
        if self.enabled or always:
            self.console.print(f"[yellow]warning:[/] {escape(printable(message))}")

    def emit(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            head = event.header
            self.run_dir = head.run_dir
            self.say(f"run {head.run_id}: {head.issue_title or 'issue'} ({head.issue_source})")
        elif isinstance(event, Note) and event.level == "alert":
            self.warn(event.message, always=True)
        elif isinstance(event, Note):
            (self.warn if event.level == "warning" else self.say)(event.message)
        elif isinstance(event, StageStarted | StageEnded) and (line := words(event)) is not None:
            for part in line.splitlines():
                self.say(part)
        elif isinstance(event, ModelCallStarted):
            self._spin(+1, f"{event.stage or 'model'}: waiting for {event.model}")
        elif isinstance(event, ModelCalled):
            self._spin(-1, "")
        elif isinstance(event, Progress) and self.enabled and self.console.is_terminal:
            self._progress(event)

    def _spin(self, delta: int, label: str) -> None:
        if not self.enabled:
            return
        with self._lock:
            self._in_flight = max(0, self._in_flight + delta)
            if self._in_flight and self._status is None:
                self._status = self.console.status(escape(label))
                self._status.start()
            elif not self._in_flight and self._status is not None:
                self._status.stop()
                self._status = None

    def _progress(self, event: Progress) -> None:
        with self._lock:
            if event.task not in self._announced and event.done < event.total:
                self.console.print(f"[dim]{escape(printable(event.task))}: {event.total}[/]")
            self._announced.add(event.task)
