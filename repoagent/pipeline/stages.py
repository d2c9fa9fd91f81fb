"""How a stage tells what it does: events carrying data (the console words them), a cancel check at each start."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from repoagent.cancel import CancelToken
from repoagent.events import Event, Note, StageEnded, StageStarted
from repoagent.protocols import EventSink


@dataclass(frozen=True)
class Stages:
    events: EventSink
    cancel: CancelToken

    def start(self, stage: str, **counts: Any) -> None:
        self.cancel.check()  # a cancelled run stops at the next stage
        self.events.emit(StageStarted(stage=stage, counts=counts))

    def end(self, stage: str, **counts: Any) -> None:
        self.events.emit(StageEnded(stage=stage, counts=counts))

    def warn(self, message: str) -> None:
        """A reason the run records anyway (``result.json``), shown as a warning."""
        self.events.emit(Note(message, level="warning"))

    def emit(self, event: Event) -> None:
        self.events.emit(event)
