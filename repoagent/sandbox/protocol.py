"""The one seam every sandbox offers."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from repoagent.errors import UserError
from repoagent.sandbox.testrun import TestRun


class EnvironmentBuildError(UserError):
    """The project's test environment could not be built (its install step failed)."""


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
