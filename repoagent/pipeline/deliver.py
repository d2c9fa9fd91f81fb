"""Delivery, a step on the outcome: apply the patch to the working tree, or commit it on a new branch.

Only a verified patch (or an untested one, when the run had no sandbox) is
delivered.  The outcome and its run folder are updated with what was done.
"""

from __future__ import annotations

from dataclasses import dataclass

from repoagent.delivery import local
from repoagent.events import EventSink, NoEvents, Note
from repoagent.pipeline.fix import FixOutcome, FixRequest, write_outcome


@dataclass(frozen=True)
class Delivery:
    apply: bool = False
    force: bool = False  # --apply on a tree with uncommitted changes
    branch: str | None = None

    def check(self, request: FixRequest) -> None:
        """Refuse, before any work, what could not be delivered (a dirty tree, a taken branch name)."""
        if self.apply:
            local.check_apply(request.repo, self.force)
        if self.branch:
            local.check_branch(request.repo, self.branch)


def deliver(outcome: FixOutcome, request: FixRequest, how: Delivery, events: EventSink | None = None) -> FixOutcome:
    say = (events if events is not None else NoEvents()).emit
    if not (outcome.patch and outcome.ok) or not (how.apply or how.branch):
        return outcome
    if how.apply:
        local.check_apply(request.repo, how.force)
        local.apply_patch(request.repo, outcome.patch)
        outcome.applied = True
        say(Note(f"applied the patch to {request.repo}"))
    elif how.branch:
        title = outcome.issue_title or "the issue"
        message = f"Fix: {title}\n\nMade by repoagent, run {outcome.run_id}.\n"
        base = outcome.revision or "HEAD"
        outcome.commit = local.commit_on_branch(request.repo, base, how.branch, outcome.patch, message)
        outcome.branch = how.branch
        say(Note(f"committed {outcome.commit[:12]} on the new branch {how.branch}"))
    write_outcome(outcome)
    return outcome
