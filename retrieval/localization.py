"""The ``Localization`` artifact: where the fix should go, and why."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from retrieval.steps import StepTime

# Steps timed inside another one (their seconds are in it), and those that wait on the model or the interpreter.
WITHIN = frozenset({"history", "maps"})
NOT_RETRIEVAL = frozenset({"startup", "select files", "select definitions"})


class FileChoice(BaseModel):
    path: str
    score: float = 0.0
    reasons: list[str] = Field(default_factory=list)


class SymbolChoice(BaseModel):
    path: str
    qualname: str
    kind: str = ""
    start_line: int = 0
    end_line: int = 0
    score: float = 0.0
    reasons: list[str] = Field(default_factory=list)

    @property
    def id(self) -> str:
        return f"{self.path}::{self.qualname}"


class Location(BaseModel):
    """A definition's source with its line range: what the editor and the model see."""

    path: str
    qualname: str
    start_line: int
    end_line: int
    role: str = "edit"  # edit, read, caller, callee
    source: str = ""


class StageRecord(BaseModel):
    stage: str
    reasons: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    fallback: bool = False
    detail: dict[str, Any] = Field(default_factory=dict)


class Localization(BaseModel):
    issue: str
    repo: str
    revision: str | None = None
    files: list[FileChoice] = Field(default_factory=list)
    symbols: list[SymbolChoice] = Field(default_factory=list)
    test_files: list[FileChoice] = Field(default_factory=list)
    locations: list[Location] = Field(default_factory=list)
    new_definition_needed: bool = False
    stages: list[StageRecord] = Field(default_factory=list)
    steps: list[StepTime] = Field(default_factory=list)  # seconds and memory of each step (retrieval.steps)

    def retrieval_seconds(self) -> float | None:
        """Seconds of retrieval (the index, the lists, the ranker, the locations), without the interpreter's
        start or the model's stages; None when no step was timed."""
        if not self.steps:
            return None
        return round(sum(s.seconds for s in self.steps if s.name not in WITHIN | NOT_RETRIEVAL), 3)

    @property
    def prompt_tokens(self) -> int:
        return sum(s.prompt_tokens for s in self.stages)

    @property
    def completion_tokens(self) -> int:
        return sum(s.completion_tokens for s in self.stages)
