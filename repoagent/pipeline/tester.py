"""The sandbox as the stages use it: the chosen tests at the run's revision, with a patch, each run an event."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from repoagent.events import SandboxRun
from repoagent.pipeline.stages import Stages
from repoagent.protocols import Sandbox
from repoagent.testrun import TestRun, is_pytest


@dataclass(frozen=True)
class Tester:
    __test__ = False  # not a test class for pytest

    sandbox: Sandbox
    repo: Path
    rev: str | None
    command: str
    timeout: float
    stages: Stages

    def run(self, tests: list[str], patch: str | None, label: str) -> TestRun:
        """``command`` on ``tests`` (all of them when none are named, or when the runner is not pytest)."""
        self.stages.cancel.check()
        cmd = " ".join([self.command, *tests]) if is_pytest(self.command) else self.command
        data = patch.encode("utf-8", errors="surrogateescape") if patch else None
        run = self.sandbox.run(self.repo, cmd, self.rev, data, self.timeout)
        self.stages.emit(SandboxRun(label=label, patch=patch or "", run=run.model_dump()))
        return run
