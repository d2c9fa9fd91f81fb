"""The seams, in one module: what the pipeline and the runners ask of their collaborators.

- ``ChatModel``: anything that answers a chat (a litellm model, the scripted and oracle ones in tests);
- ``Sandbox``: where a test command runs on a copy of the repository (Docker, local);
- ``EventSink``: where a run's events go (the console, the run folder, the App's progress, a list);
- ``Executor``: where a batch's jobs run (a local process pool, Ray actors);
- ``Delivery``: a hook on a run's outcome (apply, a new branch, a pull request, a prediction row).

Implementations never import this module to conform: the protocols are structural.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, TypeVar

from repoagent.chat import Completion, Message
from repoagent.events import Event
from repoagent.testrun import TestRun

JobT = TypeVar("JobT")
ResultT = TypeVar("ResultT", covariant=True)
OutcomeT = TypeVar("OutcomeT", contravariant=True)


class ChatModel(Protocol):
    """Anything that answers a chat."""

    name: str

    def complete(self, messages: list[Message], temperature: float = 0.0, *, stage: str = "") -> Completion:
        """One answer; ``stage`` names the pipeline stage asking (recorded with the call).  Raises
        ``ModelStopped`` when the model may not be called again (its budget is spent, or it keeps failing)."""
        ...


class Sandbox(Protocol):
    name: str

    def run(
        self, repo: Path, command: str, rev: str | None = None, patch: bytes | None = None, timeout: float = 900
    ) -> TestRun:
        """Copy ``repo`` at ``rev``, apply ``patch``, run ``command`` within ``timeout``, clean up."""
        ...

    def describe(self) -> dict[str, object]:
        """What tests get here: ``kind``, ``image``, ``isolated`` and ``limits`` (for the run's records)."""
        ...


class EventSink(Protocol):
    def emit(self, event: Event) -> None:
        """Take one event; called from the run's threads (a sink that keeps state locks it)."""
        ...


class Executor(Protocol[JobT, ResultT]):
    """Runs a batch's jobs, ``slots`` at a time, and hands each result back to the driver."""

    slots: int

    def submit(self, job: JobT) -> None: ...

    def next_done(self, timeout: float) -> tuple[JobT, ResultT] | None:
        """A finished job and its result, or None when none finished within ``timeout`` seconds."""
        ...

    def close(self, wait: bool = True) -> None: ...


class Delivery(Protocol[OutcomeT]):
    """A hook on a run's outcome, given to ``fix(..., deliveries=[...])``."""

    def check(self) -> None:
        """Refuse, before any work, what could not be delivered (a dirty tree, a taken branch name)."""
        ...

    def deliver(self, outcome: OutcomeT, events: EventSink) -> None:
        """Do what the hook does with the outcome (it decides whether the outcome is worth it)."""
        ...
