"""The outcome as every caller reads it: ``chosen``, ``summary()``, the status the loop leaves, and the hooks."""

from __future__ import annotations

from pathlib import Path

from editing.candidates import Candidate
from repoagent.cancel import CancelToken
from repoagent.events import EventList, StageEnded
from repoagent.pipeline.choose import Choice, TestedCandidate
from repoagent.pipeline.outcome import FixOutcome, LoopResult
from repoagent.pipeline.stages import Stages
from repoagent.testrun import TestOutcome, TestRun
from swebench_runner.run.journal import InstanceRow
from swebench_runner.run.worker import PredictionRow

PATCH = "diff --git a/calc/ops.py b/calc/ops.py\n--- a/calc/ops.py\n+++ b/calc/ops.py\n@@ -1 +1 @@\n-a\n+b\n"


def _outcome(tmp_path: Path, **loop: object) -> FixOutcome:
    run = TestRun(command="pytest", exit_code=0, seconds=1.0, tests=[TestOutcome(name="t::x", outcome="passed")])
    tried = [
        TestedCandidate(candidate=Candidate(error="format: no block")),
        TestedCandidate(candidate=Candidate(patch=PATCH, votes=2), run=run),
    ]
    result = LoopResult(issue="mul adds", candidates=tried, **loop).record(Choice(1, True, "chosen from 2"))
    outcome = FixOutcome(
        run_id="r1", run_dir=str(tmp_path), issue="mul adds", issue_source="text", repo="demo", model="scripted/x",
        budget={"spent_cost": 0.25, "spent_tokens": 900, "calls": 4},
    )  # fmt: skip
    outcome.record(result)
    return outcome


def test_the_chosen_candidate_and_the_summary_every_caller_reads(tmp_path: Path) -> None:
    outcome = _outcome(tmp_path)
    assert outcome.status == "resolved" and outcome.patch == PATCH and outcome.reason == "chosen from 2"
    assert outcome.chosen is outcome.loop.candidates[1]
    summary = outcome.summary()
    assert summary["resolved"] and summary["tested"] and summary["candidates"] == 2
    assert summary["tests"]["passed"] == 1 and (summary["cost"], summary["tokens"], summary["calls"]) == (0.25, 900, 4)
    assert summary["report"] == str(tmp_path / "report.html")


def test_the_status_the_loop_leaves() -> None:
    def status(**fields: object) -> str:
        return LoopResult(issue="i", **fields).status

    assert status(environment_problem="no pytest", patch=PATCH, tested=False) == "broken_environment"
    assert status(limit="the tests wrote more than 50 MB") == "limit_exceeded"
    assert status() == "no_patch" and status(stopped="budget") == "stopped"
    assert status(patch=PATCH, tested=False) == "untested"
    assert status(patch=PATCH, resolved=True) == "resolved"
    assert status(patch=PATCH) == "unresolved" and status(patch=PATCH, stopped="budget") == "stopped"


def test_the_prediction_row_is_a_hook_on_the_outcome(tmp_path: Path) -> None:
    row = InstanceRow(instance_id="demo__calc-1", repo="demo/calc", status="error", patch="")
    events = EventList()
    PredictionRow(row).deliver(
        _outcome(tmp_path, stopped="demo kept failing after 3 tries"), Stages(events, CancelToken())
    )
    assert row.status == "resolved" and row.patch == PATCH and row.run_id == "r1"
    assert (row.cost, row.tokens, row.calls, row.sandbox) == (0.25, 900, 4, "none")
    assert row.error_kind == "model" and row.error == "demo kept failing after 3 tries" and row.is_error
    assert row.ranked_files == [] and row.edit_locations == [] and not events.of(StageEnded)
