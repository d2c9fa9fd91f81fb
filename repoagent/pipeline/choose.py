"""Judging and choosing candidates: pure functions of their test runs, apart from the loop that makes them.

A candidate is judged against the baseline: the tests it makes fail that did
not fail before (the reproduction test aside), and whether the reproduction
test passes.  The winner: it applied, the reproduction test passes, the
fewest newly failing tests, the most votes, the smallest diff, in that order.
It resolves the issue only when its run is evidence (at least one test
outcome was read, and no limit stopped it), finished with no newly failing
test, and the reproduction test ran and passes (or there is none).  A run
that names no test, or that exits with an error while naming no failing
test, is a failure, never a pass.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, Field

from editing.candidates import Candidate
from repoagent.testrun import TestRun

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
        return self.candidate.ok and self.run is not None and self.run.evidence and not self.new_failures

    def rank_key(self) -> tuple[bool, bool, int, int, int]:
        size = self.candidate.patch.count("\n+") + self.candidate.patch.count("\n-")
        return (not self.candidate.ok, not self.repro_passes, len(self.new_failures), -self.candidate.votes, size)


def judge(tested: TestedCandidate, run: TestRun, failing_before: set[str], has_repro: bool) -> TestedCandidate:
    """``tested`` with its run, its newly failing tests and whether the reproduction test passes."""
    tested.run = run
    failing = {t.name for t in run.tests if t.outcome in ("failed", "error")}
    tested.new_failures = sorted(n for n in failing - failing_before if REPRO_MARK not in n)
    if no_evidence := missing_evidence(run):
        tested.new_failures.insert(0, f"({no_evidence})")
    elif run.exit_code != 0 and not failing:
        tested.new_failures.insert(0, f"(the test command exited with {run.exit_code} and named no failing test)")
    tested.repro_passes = (
        has_repro and not any(REPRO_MARK in n for n in failing) and any(REPRO_MARK in t.name for t in run.tests)
    )
    return tested


def missing_evidence(run: TestRun) -> str:
    """Why ``run`` judged nothing ("" when it is evidence): a limit stopped it, or no test outcome was read."""
    if run.limit_reason:
        return run.limit_reason
    if run.timed_out:
        return "the tests did not finish within the time limit"
    if not run.tests:
        said = f" ({run.no_tests})" if run.no_tests else ""
        return f"no test outcome was read from `{run.command}`{said}"
    return ""


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
