"""A job's progress where people look: a check run on the pull request's head, or one comment edited in place.

The job's ``fix()`` emits events; this sink turns stage changes into a line
("localizing", "generating", "testing round 2", "pushing"), with the test
counts and the money spent so far, and writes it at most every few seconds
(the last write always).  With a pull request, a check run named
``repoagent`` on its head commit shows it and ends with the outcome (and a
completed one goes on the new head); before there is one, a comment on the
issue is made once and edited.  A write that fails is logged: progress never
stops a job.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from repoagent.events import CandidateTested, Event, ModelCalled, SandboxRun, StageStarted
from repoagent.github_app.github import Installation

log = logging.getLogger("repoagent.app")
STAGES = {
    "index": "reading the repository",
    "localize": "localizing",
    "baseline": "testing the base revision",
    "reproduce": "writing a reproduction test",
    "generate": "generating candidates",
    "feedback": "sending the best failing candidate back",
}
EVERY = 3.0  # seconds between two writes


@dataclass
class JobProgress:
    gh: Installation
    repo: str
    issue: int  # where the comment goes, when there is no pull request
    head_sha: str | None = None  # the pull request's head, when there is one: a check run goes there
    redact: Any = str
    stage: str = "starting"
    cost: float = 0.0
    tests: str = ""
    rounds: int = 0
    check_id: int | None = None
    comment_id: int | None = None
    _written: float = field(default=0.0, repr=False)

    def start(self) -> None:
        if self.head_sha:
            self.check_id = self._try(
                lambda: self.gh.create_check(self.repo, self.head_sha, self._title(), self._body())
            )
        else:
            self.comment_id = self._try(lambda: self.gh.comment(self.repo, self.issue, self._comment()))
        self._written = time.monotonic()

    def emit(self, event: Event) -> None:
        if isinstance(event, StageStarted) and event.stage in STAGES:
            self.stage = STAGES[event.stage]
        elif isinstance(event, ModelCalled):
            self.cost += event.cost
            return
        elif isinstance(event, SandboxRun) and event.label.startswith("candidate"):
            run = event.run
            failed = sum(1 for t in run.get("tests") or [] if t.get("outcome") in ("failed", "error"))
            passed = sum(1 for t in run.get("tests") or [] if t.get("outcome") == "passed")
            self.tests = f"last candidate: {passed} passed, {failed} failed"
            self.stage = f"testing round {self.rounds}"
        elif isinstance(event, CandidateTested):
            self.rounds = max(self.rounds, event.round)
            return
        else:
            return
        if time.monotonic() - self._written >= EVERY:
            self.write()

    def say(self, stage: str) -> None:
        self.stage = stage
        self.write()

    def write(self) -> None:
        self._written = time.monotonic()
        if self.check_id is not None:
            self._try(lambda: self.gh.update_check(self.repo, self.check_id, self._title(), self._body()))
        elif self.comment_id is not None:
            self._try(lambda: self.gh.edit_comment(self.repo, self.comment_id, self._comment()))

    def finish(
        self, outcome_line: str, resolved: bool, report: str, new_sha: str | None = None, message: str = ""
    ) -> bool:
        """The end: the check run completed (and one on the new head), or the comment edited to ``message``
        (the job's last word) with the details.  True when the comment now says it all."""
        body = self._body(report)
        conclusion = "success" if resolved else "neutral"
        if self.check_id is not None:
            self._try(lambda: self.gh.update_check(self.repo, self.check_id, outcome_line, body, conclusion))
        if new_sha and new_sha != self.head_sha:
            made = self._try(lambda: self.gh.create_check(self.repo, new_sha, outcome_line, body))
            if made is not None:
                self._try(lambda: self.gh.update_check(self.repo, made, outcome_line, body, conclusion))
        if self.comment_id is not None:
            text = f"{message or 'repoagent: ' + outcome_line}\n\n{body}"
            return self._try(lambda: self.gh.edit_comment(self.repo, self.comment_id, text) or True) is True
        return False

    def _title(self) -> str:
        return f"repoagent: {self.stage}"

    def _body(self, report: str = "") -> str:
        lines = [f"**Stage**: {self.stage}", f"**Spent so far**: ${self.cost:.4f}"]
        if self.tests:
            lines.append(f"**Tests**: {self.tests}")
        if report:
            lines.append(f"**Report**: {report}")
        return "\n\n".join(lines)

    def _comment(self) -> str:
        return f"repoagent is working on this: {self.stage}.\n\n{self._body()}"

    def _try(self, call: Any) -> Any:
        try:
            return call()
        except Exception as exc:  # noqa: BLE001 - progress never stops a job
            log.warning("progress on %s#%s not written: %s", self.repo, self.issue, self.redact(str(exc)))
            return None
