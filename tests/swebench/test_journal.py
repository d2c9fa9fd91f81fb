"""The batch's journal, read and written directly: typed rows, the fields that were set, kills survived."""

from __future__ import annotations

import json
from pathlib import Path

from swebench_runner.run.journal import InstanceRow, Journal, write_predictions


def test_rows_are_typed_and_written_with_the_fields_that_were_set(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    ok = InstanceRow(instance_id="a-1", repo="a/a", status="resolved", patch="diff\n", cost=0.5)
    ok.gold_ranks = {"a/x.py": 1}
    journal.append(ok)
    lost = InstanceRow(instance_id="a-2", repo="a/a", status="error", patch="", error="killed", error_kind="worker")
    journal.append(lost)
    lines = [json.loads(line) for line in (tmp_path / "outcomes.jsonl").read_text().splitlines()]
    assert set(lines[0]) == {"instance_id", "repo", "status", "patch", "cost", "gold_ranks"}  # no unset defaults
    done = journal.read()
    assert done["a-1"].cost == 0.5 and done["a-1"].gold_ranks == {"a/x.py": 1} and not done["a-1"].is_error
    assert done["a-2"].is_error and done["a-2"].ranked_files == []
    write_predictions(tmp_path, list(done.values()), "m")
    predictions = [json.loads(line) for line in (tmp_path / "predictions.jsonl").read_text().splitlines()]
    assert predictions == [
        {"instance_id": "a-1", "model_name_or_path": "m", "model_patch": "diff\n"},
        {"instance_id": "a-2", "model_name_or_path": "m", "model_patch": ""},
    ]


def test_a_cut_line_a_foreign_row_and_unknown_fields(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.append(InstanceRow(instance_id="b-1", status="unresolved"))
    with open(tmp_path / "outcomes.jsonl", "a") as sink:  # a kill mid-line, then a row of a newer version
        sink.write('{"instance_id": "b-2", "sta')
    journal.append(InstanceRow.model_validate({"instance_id": "b-3", "status": "resolved", "future_field": [1]}))
    with open(tmp_path / "outcomes.jsonl", "a") as sink:
        sink.write(json.dumps({"instance_id": "b-4", "cost": "not a number"}) + "\n")
    done = journal.read()
    assert sorted(done) == ["b-1", "b-3"]  # the cut line and the row no worker writes run again
    assert done["b-3"].line()["future_field"] == [1]  # kept as it came
    journal.append(InstanceRow(instance_id="b-1", status="resolved"))  # a retried instance: the last row wins
    assert journal.read()["b-1"].status == "resolved"
