"""Deliveries: hooks on the outcome, run by ``fix`` after the run (after SWE-agent's run hooks).

Each is checked before any work (``check``: a dirty tree, a taken branch name)
and handed the outcome at the end (``deliver``).  The CLI's ``LocalApply`` and
``NewBranch`` deliver only a verified patch (or an untested one, when the run
had no sandbox), and update the outcome and its run folder with what they did;
the App's ``PullRequest`` and the batch runner's ``PredictionRow`` are hooks of
the same shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from repoagent.delivery import local
from repoagent.events import StageEnded
from repoagent.pipeline.outcome import FixOutcome, write_outcome
from repoagent.protocols import Delivery, EventSink

FixDelivery = Delivery[FixOutcome]


def deliverable(outcome: FixOutcome) -> bool:
    """A patch worth delivering: verified, or untested because the run had no sandbox."""
    return bool(outcome.patch) and outcome.ok


@dataclass(frozen=True)
class LocalApply:
    """``--apply``: the patch applied to the working tree (``force``: one with uncommitted changes)."""

    repo: Path
    force: bool = False

    def check(self) -> None:
        local.check_apply(self.repo, self.force)

    def deliver(self, outcome: FixOutcome, events: EventSink) -> None:
        if not deliverable(outcome):
            return
        local.check_apply(self.repo, self.force)
        local.apply_patch(self.repo, outcome.patch)
        outcome.applied = True
        events.emit(StageEnded(stage="deliver", counts={"applied": str(self.repo)}))
        write_outcome(outcome)


@dataclass(frozen=True)
class NewBranch:
    """``--branch NAME``: the patch committed on a new branch at the run's revision; the tree is not touched."""

    repo: Path
    branch: str

    def check(self) -> None:
        local.check_branch(self.repo, self.branch)

    def deliver(self, outcome: FixOutcome, events: EventSink) -> None:
        if not deliverable(outcome):
            return
        title = outcome.issue_title or "the issue"
        message = f"Fix: {title}\n\nMade by repoagent, run {outcome.run_id}.\n"
        base = outcome.revision or "HEAD"
        outcome.commit = local.commit_on_branch(self.repo, base, self.branch, outcome.patch, message)
        outcome.branch = self.branch
        events.emit(StageEnded(stage="deliver", counts={"commit": outcome.commit, "branch": self.branch}))
        write_outcome(outcome)
