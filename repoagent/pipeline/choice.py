"""Judging and choosing candidates: pure functions of their test runs, apart from the loop that makes them.

A candidate is judged against the baseline: the tests it makes fail that did
not fail before (the reproduction test aside), and whether the reproduction
test passes.  The winner: it applied, the reproduction test passes, the
fewest newly failing tests, the most votes, the smallest diff, in that order.
It resolves the issue only when its run finished with no newly failing test
and the reproduction test passes (or there is none).
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, Field

from editing.candidates import Candidate
from repoagent.sandbox.testrun import TestRun

REPRO_MARK = "repoagent_reproduction"


class TestedCandidate(BaseModel):
    """A candidate with the test run it got and what that run showed."""

    __test__ = False  # a data type, not a test class for pytest

    candidate: Candidate
    run: TestRun | None = None
    repro_passes: bool = False
    new_failures: list[str] = Field(default_factory=list)
    round: int = 0

    @property
    def clean(self) -> bool:
        return self.candidate.ok and self.run is not None and not self.new_failures and not self.run.timed_out

    def rank_key(self) -> tuple[bool, bool, int, int, int]:
        size = self.candidate.patch.count("\n+") + self.candidate.patch.count("\n-")
        return (not self.candidate.ok, not self.repro_passes, len(self.new_failures), -self.candidate.votes, size)


def judge(tested: TestedCandidate, run: TestRun, failing_before: set[str], has_repro: bool) -> TestedCandidate:
    """``tested`` with its run, its newly failing tests and whether the reproduction test passes."""
    tested.run = run
    failing = {t.name for t in run.tests if t.outcome in ("failed", "error")}
    tested.new_failures = sorted(n for n in failing - failing_before if REPRO_MARK not in n)
    if not run.tests and run.exit_code != 0:
        tested.new_failures = ["(the test command failed without test results)"]
    tested.repro_passes = (
        has_repro and not any(REPRO_MARK in n for n in failing) and any(REPRO_MARK in t.name for t in run.tests)
    )
    return tested


@dataclass(frozen=True)
class Choice:
    index: int | None  # in the candidates given; None when none applied
    resolved: bool
    reason: str


def choose(candidates: list[TestedCandidate], has_repro: bool, tested: bool = True) -> Choice:
    """The best candidate and why; ``tested`` False: no sandbox ran, so gates and votes decide, unresolved."""
    ranked = sorted(candidates, key=TestedCandidate.rank_key)
    best = ranked[0] if ranked else None
    if best is None or not best.candidate.ok:
        return Choice(None, False, "no candidate applied cleanly")
    index = next(i for i, s in enumerate(candidates) if s is best)
    votes = best.candidate.votes
    if not tested:
        return Choice(index, False, f"chosen from {len(ranked)} candidates by the gates and {votes} vote(s); untested")
    why = [f"{votes} vote(s)"]
    why.append("reproduction test passes" if best.repro_passes else "no passing reproduction test")
    why.append("no newly failing tests" if not best.new_failures else f"{len(best.new_failures)} newly failing")
    resolved = best.clean and (best.repro_passes or not has_repro)
    return Choice(index, resolved, f"chosen from {len(ranked)} candidates (round {best.round}): " + ", ".join(why))
