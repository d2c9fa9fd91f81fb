"""What a run found: ``LoopResult`` (the test loop's record) inside ``FixOutcome`` (``result.json``).

Every caller reads the outcome through ``chosen`` and ``summary()``: the CLI's
``--json``, the App's pull request, the batch runner's prediction row.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from repoagent.events import RunHeader
from repoagent.pipeline.choose import Choice, TestedCandidate
from repoagent.protocols import Sandbox
from repoagent.records.report_page import write_report
from repoagent.testrun import TestRun
from retrieval.localization import Localization

Status = Literal[
    "resolved",
    "unresolved",
    "untested",
    "no_patch",
    "stopped",
    "broken_environment",
    "limit_exceeded",
    "error",
    "interrupted",
]


class LoopResult(BaseModel):
    issue: str
    patch: str = ""
    reason: str = ""
    resolved: bool = False
    tested: bool = True
    stopped: str = ""  # why the model was stopped early (budget), if it was
    tests: list[str] = Field(default_factory=list)
    baseline: TestRun | None = None
    reproduction: str = ""
    reproduction_run: TestRun | None = None
    candidates: list[TestedCandidate] = Field(default_factory=list)
    chosen: int | None = None  # index in ``candidates`` of the one whose patch this is
    environment_problem: str = ""  # the baseline showed a broken test environment: nothing was scored
    limit: str = ""  # the baseline run hit a sandbox limit (in words): nothing was scored

    def record(self, picked: Choice) -> LoopResult:
        """The choice made among the candidates: the patch, whether it resolves the issue, and why."""
        self.chosen, self.resolved, self.reason = picked.index, picked.resolved, picked.reason
        if self.environment_problem:  # gone on without tests (loop.untested_when_broken): say why
            self.reason = f"{picked.reason}; the test environment is broken: {self.environment_problem}"
        self.patch = self.candidates[picked.index].candidate.patch if picked.index is not None else ""
        return self

    @property
    def status(self) -> Status:
        """The run's status as the loop leaves it."""
        if self.environment_problem:
            return "broken_environment"
        if self.limit:
            return "limit_exceeded"
        if not self.patch:
            return "stopped" if self.stopped else "no_patch"
        if not self.tested:
            return "untested"
        if self.resolved:
            return "resolved"
        return "stopped" if self.stopped else "unresolved"


class SandboxInfo(BaseModel):
    """Where the tests ran and within what: ``kind`` (docker, local or none), the image, the limits."""

    kind: str = "none"
    image: str | None = None
    isolated: bool = False
    user: str | None = None
    network: bool = False
    limits: dict = Field(default_factory=dict)

    @classmethod
    def of(cls, box: Sandbox | None) -> SandboxInfo:
        return cls() if box is None else cls.model_validate(box.describe())

    def line(self) -> str:
        """One line for people: "docker (repoagent-base:bookworm, as 1000:1000)", "local (NOT isolated)"."""
        if self.kind == "docker":
            return f"docker ({self.image}, as {self.user})"
        return "local (NOT isolated)" if self.kind == "local" else self.kind


class FixOutcome(RunHeader):
    """``result.json``: what the run did and found; the report page is drawn from it."""

    status: Status = "error"
    revision: str | None = None
    sandbox: SandboxInfo = Field(default_factory=SandboxInfo)
    test_command: str = ""
    environment: list[str] = Field(default_factory=list)  # what was detected for the tests, and why
    patch: str = ""
    reason: str = ""
    stopped: str = ""
    error: str = ""
    index: dict = Field(default_factory=dict)
    localization: Localization | None = None
    loop: LoopResult | None = None
    budget: dict = Field(default_factory=dict)
    seconds: float = 0.0
    applied: bool = False
    branch: str | None = None
    commit: str | None = None
    link_base: str | None = None  # for links to code, when the repository is on GitHub

    @property
    def ok(self) -> bool:
        return self.status in ("resolved", "untested")

    @property
    def run_path(self) -> Path:
        return Path(self.run_dir)

    @property
    def chosen(self) -> TestedCandidate | None:
        """The candidate whose patch this is (with its test run), if one was chosen."""
        loop = self.loop
        return loop.candidates[loop.chosen] if loop is not None and loop.chosen is not None else None

    def record(self, result: LoopResult) -> None:
        """The loop's result as the run's: its patch, reason, budget stop and status."""
        self.loop = result
        self.patch, self.reason, self.stopped, self.status = result.patch, result.reason, result.stopped, result.status

    def edit_locations(self) -> list[str]:
        loc = self.localization
        return [f"{x.path}::{x.qualname}" for x in loc.locations if x.role == "edit"] if loc else []

    def ranked_files(self, limit: int = 5) -> list[str]:
        return [f.path for f in self.localization.files[:limit]] if self.localization else []

    def summary(self) -> dict[str, Any]:
        """The outcome in a few fields, as ``fix --json`` prints it and the pull request and prediction row read."""
        chosen, loop, b = self.chosen, self.loop, self.budget
        return {
            "status": self.status,
            "resolved": self.status == "resolved",
            "patch": self.patch,
            "reason": self.error or self.stopped or self.reason,
            "run_id": self.run_id,
            "run_dir": self.run_dir,
            "report": str(self.run_path / "report.html"),
            "repo": self.repo,
            "revision": self.revision,
            "sandbox": self.sandbox.model_dump(mode="json"),
            "files": self.ranked_files(),
            "edited": sorted({op.path for op in chosen.candidate.ops}) if chosen else [],
            "edit_locations": self.edit_locations(),
            "tested": bool(loop and loop.tested),
            "tests": chosen.run.summary() if chosen and chosen.run else None,
            "candidates": len(loop.candidates) if loop else 0,
            "budget": b,
            "cost": float(b.get("spent_cost") or 0.0),
            "tokens": int(b.get("spent_tokens") or 0),
            "calls": int(b.get("calls") or 0),
            "applied": self.applied,
            "branch": self.branch,
            "commit": self.commit,
            "seconds": self.seconds,
        }


def write_outcome(outcome: FixOutcome) -> None:
    """``patch.diff``, ``result.json`` and ``report.html`` of the outcome's run folder, (re)written."""
    path = outcome.run_path
    if outcome.patch:
        (path / "patch.diff").write_text(outcome.patch, encoding="utf-8", errors="surrogateescape")
    # json.dumps escapes what UTF-8 cannot hold (a patch of a latin-1 file keeps its bytes as surrogates)
    (path / "result.json").write_text(json.dumps(outcome.model_dump(mode="json"), indent=2) + "\n", encoding="utf-8")
    write_report(path)
