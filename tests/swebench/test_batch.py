"""The batch runner's modules called directly: the driver's run (its pool of real workers), the summary, and the
resumable loop of the benchmarks."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from swebench_runner.data.dataset import load_instances
from swebench_runner.run.driver import BatchSettings, RunRequest, start_run
from swebench_runner.run.journal import InstanceRow, Journal
from swebench_runner.run.resumable import run_resumable
from swebench_runner.run.summary import build_summary, render_html
from tests.support.models import settings
from tests.support.swebench_fixtures import make_dataset, read_jsonl


def test_start_run_runs_the_oracle_in_a_pool_and_resumes_from_its_journal(tmp_path: Path) -> None:
    repos, dataset, _ = make_dataset(tmp_path / "data")
    out = tmp_path / "out"
    s = settings(f"cache_dir={tmp_path / 'cache'}", f"state_dir={tmp_path / 'state'}")
    batch = BatchSettings.load(sandbox="none", workers=2)
    summary = start_run(s, RunRequest(str(dataset), out, "oracle", repos=repos, limit=2), batch)
    assert summary["total"]["done"] == summary["total"]["with_patch"] == 2 and summary["total"]["errors"] == 0
    rows = Journal(out).read()
    assert sorted(rows) == ["demo__calc-1", "demo__calc-2"] and all(r.status == "untested" for r in rows.values())
    assert all(r.oracle_check == {"applies": True, "ast_equal": True, "why": ""} for r in rows.values())
    # each instance's retrieval is timed (its localization's steps), and the run says the median
    assert all(r.retrieval_seconds is not None and 0 < r.retrieval_seconds < r.seconds for r in rows.values())
    timed = [r.retrieval_seconds for r in rows.values() if r.retrieval_seconds]
    assert summary["total"]["retrieval_seconds_median"] == round(statistics.median(timed), 3)
    predictions = {p["instance_id"]: p["model_patch"] for p in read_jsonl(out / "predictions.jsonl")}
    assert predictions == {iid: row.patch for iid, row in rows.items()}  # the journal in the order runs ended
    again = start_run(s, RunRequest(str(dataset), out, "oracle", repos=repos), batch)  # the third one only
    assert again["total"]["done"] == 3 and len(read_jsonl(out / "outcomes.jsonl")) == 3


def test_the_summary_counts_what_ran_what_did_not_and_the_verdicts(tmp_path: Path) -> None:
    _, dataset, _ = make_dataset(tmp_path / "data")
    instances = load_instances(dataset)
    rows = [
        InstanceRow(instance_id="demo__calc-1", status="resolved", patch="d", cost=0.5, gold_ranks={"calc/ops.py": 1}),
        InstanceRow(instance_id="demo__calc-2", status="error", error="boom", error_kind="exception"),
    ]
    evaluation = {"grader": "local", "instances": {"demo__calc-1": {"resolved": True}}}
    summary = build_summary(instances, rows, "", "oracle", "d.jsonl", evaluation)
    total = summary["total"]
    assert (total["instances"], total["done"], total["with_patch"], total["errors"]) == (3, 2, 1, 1)
    assert total["statuses"] == {"resolved": 1, "error": 1, "not run": 1} and total["cost"] == 0.5
    assert total["resolved"] == 1 and total["gold_files@1"] == 1.0 and summary["grading"] == "local"
    assert summary["repositories"]["demo/words"]["done"] == 0
    page = render_html(summary)
    assert "demo__calc-2" in page and "boom" in page and "not run" in page


def test_the_resumable_loop_skips_what_is_written_and_redoes_it_when_forced(tmp_path: Path) -> None:
    _, dataset, _ = make_dataset(tmp_path / "data")
    instances = load_instances(dataset)
    out, seen, ticks = tmp_path / "rows.jsonl", [], []

    def one(inst):  # noqa: ANN001, ANN202
        seen.append(inst.instance_id)
        return {"instance_id": inst.instance_id, "n": len(seen)}

    def progress(stage: str, done: int, total: int) -> None:
        ticks.append((stage, done, total))

    first = run_resumable(instances[:2], out, False, one, progress, "edit")
    assert [r["n"] for r in first] == [1, 2] and ticks[-1] == ("edit", 2, 2)
    second = run_resumable(instances, out, False, one, progress, "edit")
    assert seen == ["demo__calc-1", "demo__calc-2", "demo__words-1"] and [r["n"] for r in second] == [1, 2, 3]
    forced = run_resumable(instances[:1], out, True, one, progress, "edit")
    assert forced == [{"instance_id": "demo__calc-1", "n": 4}]
    assert [json.loads(line) for line in out.read_text().splitlines()] == forced
