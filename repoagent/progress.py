"""Progress on stderr with rich; silent when asked or when stderr is not a terminal and quiet."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from retrieval.index import Progress as ProgressFn


@contextmanager
def progress_bar(enabled: bool = True) -> Iterator[ProgressFn]:
    """Yield a ``(stage, done, total)`` callback that drives a rich progress bar on stderr."""
    if not enabled:
        yield lambda stage, done, total: None
        return
    console = Console(stderr=True)
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
