"""Typed events a run emits, and the sinks that receive them.

The pipeline never draws anything: it emits these to an ``EventSink``.  The
CLI draws them on the terminal, the batch runner and the server log them, and
the run folder writes them to ``trajectory.jsonl`` (one record per event; a
model call is recorded once, by the model that made it).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from pydantic import BaseModel


@dataclass(frozen=True)
class Event:
    kind: ClassVar[str] = "event"
    recorded: ClassVar[bool] = True  # written to the trajectory (progress ticks are not)

    def to_record(self) -> dict[str, Any]:
        return {"type": self.kind, **dataclasses.asdict(self)}


class RunHeader(BaseModel):
    """What a run works on and where its folder is: the head of ``result.json`` and of the first event."""

    run_id: str
    run_dir: str
    issue: str
    issue_source: str
    issue_title: str = ""
    repo: str
    model: str

    def header(self) -> RunHeader:
        """The header fields alone (of an outcome that extends them)."""
        return RunHeader.model_validate(self.model_dump(include=set(RunHeader.model_fields)))


@dataclass(frozen=True)
class RunStarted(Event):
    """The first event of a run: its header (the outcome's first fields, not a copy of them)."""

    kind: ClassVar[str] = "run"
    header: RunHeader

    def to_record(self) -> dict[str, Any]:
        return {"type": self.kind, **self.header.model_dump()}


@dataclass(frozen=True)
class StageStarted(Event):
    """A stage began; ``counts`` are what it starts with (tests to run, samples to draw).  The console words it."""

    kind: ClassVar[str] = "stage"
    stage: str
    counts: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StageEnded(Event):
    """A stage finished; ``counts`` are what it produced (files, symbols, candidates, ...).  The console words it."""

    kind: ClassVar[str] = "stage_end"
    stage: str
    counts: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Note(Event):
    kind: ClassVar[str] = "note"
    message: str
    level: Literal["info", "warning", "alert"] = "info"  # alert: shown even with --quiet or --json


@dataclass(frozen=True)
class Progress(Event):
    """``done`` of ``total`` units of a long task (parsing, embedding)."""

    kind: ClassVar[str] = "progress"
    recorded: ClassVar[bool] = False
    task: str
    done: int
    total: int


@dataclass(frozen=True)
class ModelCallStarted(Event):
    kind: ClassVar[str] = "model_start"
    recorded: ClassVar[bool] = False
    stage: str
    model: str


@dataclass(frozen=True)
class ModelCalled(Event):
    """One model call, answered or failed: prompt, answer, tokens, cost and seconds."""

    kind: ClassVar[str] = "model"
    stage: str
    model: str
    temperature: float
    messages: list[dict[str, str]]
    response: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    seconds: float = 0.0
    max_tokens: int = 0
    truncated: bool = False
    lines_cut: int = 0
    errors: list[str] = field(default_factory=list)
    failed: str = ""  # why no answer came, when none did


@dataclass(frozen=True)
class AnswerRejected(Event):
    """An answer that could not be used and was sent back with ``error`` (the call itself is a ``ModelCalled``)."""

    kind: ClassVar[str] = "rejected"
    stage: str
    attempt: int
    error: str


@dataclass(frozen=True)
class SandboxRun(Event):
    """One sandbox run: ``run`` is the ``TestRun`` as a dict."""

    kind: ClassVar[str] = "test"
    label: str
    patch: str
    run: dict[str, Any]

    def to_record(self) -> dict[str, Any]:
        return {"type": self.kind, "stage": "test", "label": self.label, "patch": self.patch, **self.run}


@dataclass(frozen=True)
class CandidateTested(Event):
    kind: ClassVar[str] = "candidate"
    number: int
    round: int
    patch_id: str
    ok: bool
    error: str = ""
    resolves: bool = False
    new_failures: int = 0


class NoEvents:
    def emit(self, event: Event) -> None:
        return None


class Fanout:
    """Sends every event to each sink in turn; safe to call from several threads."""

    def __init__(self, sinks: Iterable[Any]) -> None:  # each an EventSink (repoagent.protocols)
        self.sinks = list(sinks)
        self._lock = threading.Lock()

    def emit(self, event: Event) -> None:
        with self._lock:
            for sink in self.sinks:
                sink.emit(event)


class EventList:
    """Keeps every event: for callers that want to look at a run afterwards (and for tests)."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._lock = threading.Lock()

    def emit(self, event: Event) -> None:
        with self._lock:
            self.events.append(event)

    def of(self, kind: type[Event]) -> list[Any]:
        with self._lock:
            return [e for e in self.events if isinstance(e, kind)]
