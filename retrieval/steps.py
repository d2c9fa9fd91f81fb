"""Seconds and peak memory of each step of an index and a retrieval: what a slow call spent its time on.

A step named twice adds up (its seconds summed, its counts merged); the peak is
the process's resident high-water mark when the step last ended.  The steps of
one index and what was retrieved from it are kept by the index (``index.steps``)
and land in the ``Localization`` (``localize --json``, ``result.json``, the
report, ``bench speed``).
"""

from __future__ import annotations

import os
import resource
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field


def peak_rss_mb() -> float:
    """Peak resident memory of this process and its finished children, in MB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, kids) / 1024


def process_seconds() -> float | None:
    """Seconds since this process started (Linux: from ``/proc``), or None where that cannot be read."""
    try:
        start_ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return None


class StepTime(BaseModel):
    name: str
    seconds: float = 0.0
    peak_mb: float = 0.0
    counts: dict[str, Any] = Field(default_factory=dict)


class Steps:
    """The steps taken so far, in the order they first began."""

    def __init__(self) -> None:
        self._done: dict[str, StepTime] = {}
        self._lock = threading.Lock()

    @contextmanager
    def step(self, name: str) -> Iterator[dict[str, Any]]:
        """Time the block as step ``name``; the dict it yields takes the step's counts."""
        counts: dict[str, Any] = {}
        started = time.perf_counter()
        try:
            yield counts
        finally:
            self.add(name, time.perf_counter() - started, **counts)

    def add(self, name: str, seconds: float, first: bool = False, **counts: Any) -> None:
        """Add ``seconds`` (and ``counts``) to step ``name``; ``first``: a new step goes before the others."""
        with self._lock:
            if first and name not in self._done:
                self._done = {name: StepTime(name=name), **self._done}
            step = self._done.setdefault(name, StepTime(name=name))
            step.seconds = round(step.seconds + seconds, 3)
            step.peak_mb = round(peak_rss_mb(), 1)
            for key, value in counts.items():
                old = step.counts.get(key)
                both_numbers = isinstance(old, int | float) and isinstance(value, int | float)
                step.counts[key] = round(old + value, 3) if both_numbers else value

    def to_list(self) -> list[StepTime]:
        with self._lock:
            return [s.model_copy(deep=True) for s in self._done.values()]
