"""``fix()`` called directly, as the batch runner and the App server will: typed request, events, runs side by side."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from repoagent.cli.wording import ENDED, words
from repoagent.errors import UserError
from repoagent.events import EventList, ModelCalled, RunStarted, SandboxRun, StageEnded, StageStarted
from repoagent.pipeline.fix import Caches, FixOutcome, FixRequest, fix
from repoagent.pipeline.inputs import read_issue
from tests.support.fix_fixtures import FILES, FIXED_LINE, GOOD, REPRO, SYMBOLS, WRONG, example_copy, script
from tests.support.gitrepo import git
from tests.support.models import settings


def _request(repo: Path, model: str, *overrides: str) -> FixRequest:
    s = settings(f"model.name={model}", "sandbox.kind=local", *overrides)
    return FixRequest(issue=read_issue(f"@{repo}/ISSUE.md"), repo=repo, settings=s, rev="HEAD")


def _trajectory(outcome: FixOutcome) -> list[dict]:
    return [json.loads(line) for line in (outcome.run_path / "trajectory.jsonl").read_text().splitlines()]


def test_fix_called_directly_emits_typed_events_and_records_each_call_once(tmp_path: Path) -> None:
    repo = example_copy(tmp_path / "inventory", git=True)
    events = EventList()
    model = script(tmp_path, [FILES, SYMBOLS, REPRO, GOOD])
    outcome = fix(_request(repo, model), events=events, caches=Caches(tmp_path / "cache.sqlite3"))
    assert outcome.status == "resolved" and FIXED_LINE in outcome.patch
    assert outcome.run_path.parent == repo / ".repoagent" / "runs"
    assert json.loads((outcome.run_path / "result.json").read_text())["status"] == "resolved"
    assert (tmp_path / "cache.sqlite3").is_file()  # the injected cache, not the user's
    started = events.of(RunStarted)
    assert len(started) == 1 and started[0].header == outcome.header()  # the outcome's head, not a copy of it
    assert started[0].to_record() == {"type": "run", **outcome.header().model_dump()}
    stages = [e.stage for e in events.of(StageStarted)]
    assert stages[:2] == ["index", "localize"] and "baseline" in stages and "generate" in stages
    # the pipeline emits data; the console words it: every stage that ended has its words
    assert {e.stage for e in events.of(StageEnded)} <= set(ENDED)
    lines = [line for e in events.events if (line := words(e))]
    assert lines[0].startswith(f"working on commit {outcome.revision[:12]} of ") and "\nindex: " in lines[0]
    assert lines[1].startswith("localize: files ") and lines[2].startswith("sandbox: local (NOT isolated); tests: ")
    assert "reproduce: the test fails on the base revision; kept" in lines
    assert any(line.startswith("round 0: ") and line.endswith("passed the gates") for line in lines)
    assert lines[-1].startswith("resolved in ")
    calls = events.of(ModelCalled)
    records = [r for r in _trajectory(outcome) if r["type"] == "model"]
    assert len(calls) == len(records) == 6  # files, symbols, reproduction test, three samples: once each
    assert [r["stage"] for r in records] == ["select_files", "select_symbols", "reproduce"] + ["generate"] * 3
    assert len(events.of(SandboxRun)) == len([r for r in _trajectory(outcome) if r["type"] == "test"]) >= 3
    assert outcome.budget["calls"] == 6 and outcome.budget["spent_tokens"] == sum(
        c.prompt_tokens + c.completion_tokens for c in calls
    )
    assert git(repo, "status", "--porcelain") == ""  # the user's tree is untouched


def test_four_fixes_at_once_in_threads_stay_apart(tmp_path: Path) -> None:
    """Own repository, scripted model, budget and run folder each; one process, four threads."""
    cases = {
        "first": ([FILES, SYMBOLS, REPRO, GOOD], ()),
        "second": ([FILES, SYMBOLS, REPRO, WRONG, GOOD], ("generation.temperatures=[0.2]",)),  # right in round 1
        "untested": ([FILES, SYMBOLS, GOOD], ("sandbox.kind=none",)),
        "budget": ([FILES, SYMBOLS, REPRO, GOOD], ("budget.max_tokens=2500",)),  # stops before generating
    }
    requests = {}
    for name, (answers, extra) in cases.items():
        repo = example_copy(tmp_path / name, git=True)
        requests[name] = _request(repo, script(tmp_path, answers), *extra)
    outcomes: dict[str, FixOutcome] = {}
    failures: list[BaseException] = []
    sinks = {name: EventList() for name in cases}

    def work(name: str) -> None:
        try:
            outcomes[name] = fix(requests[name], events=sinks[name], caches=Caches(tmp_path / "cache.sqlite3"))
        except BaseException as exc:  # reported below, in the test's thread
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(name,)) for name in cases]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert not failures, failures
    assert outcomes["first"].status == "resolved" and len(outcomes["first"].loop.candidates) == 1
    assert outcomes["second"].status == "resolved" and [c.round for c in outcomes["second"].loop.candidates] == [0, 1]
    assert outcomes["untested"].status == "untested" and outcomes["untested"].sandbox.kind == "none"
    assert outcomes["budget"].status == "stopped" and "budget reached" in outcomes["budget"].stopped
    assert outcomes["budget"].budget["spent_tokens"] <= 2500
    for name, outcome in outcomes.items():
        assert outcome.run_path.is_relative_to(requests[name].repo)  # its own run folder
        assert outcome.model == requests[name].settings.model.name
        records = [r for r in _trajectory(outcome) if r["type"] == "model"]
        assert {r["model"] for r in records} == {outcome.model}  # no other run's calls in its trajectory
        assert (
            len(records)
            == len(sinks[name].of(ModelCalled))
            == outcome.budget["calls"] + sum(1 for r in records if r.get("failed"))
        )
        assert outcome.budget["spent_tokens"] == sum(r["prompt_tokens"] + r["completion_tokens"] for r in records)
    assert FIXED_LINE in outcomes["first"].patch and FIXED_LINE in outcomes["second"].patch


@pytest.mark.parametrize(
    "value",
    [
        "https://github.com/o/r/issues/abc",
        "https://github.com/o/r/issues/",
        "https://github.com/o",
        "https://github.com/o/r/pull/-1",
    ],
)
def test_a_malformed_issue_url_is_refused_not_taken_as_text(value: str) -> None:
    with pytest.raises(UserError, match="not a GitHub issue URL"):
        read_issue(value)


def test_a_binary_issue_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "issue.bin").write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    with pytest.raises(UserError, match="not UTF-8 text"):
        read_issue(f"@{tmp_path / 'issue.bin'}")


def test_a_token_budget_holds_while_samples_are_drawn_in_parallel(tmp_path: Path) -> None:
    """Three samples at once, each answer about 2,000 tokens: the run stops at --max-tokens, never past it."""
    big = GOOD.replace("    return 0\n", "    return 0\n" + "    # a long answer\n" * 450)
    unlimited = fix(_request(example_copy(tmp_path / "a", git=True), script(tmp_path, [FILES, SYMBOLS, big]),
                             "sandbox.kind=none"), caches=Caches(tmp_path / "c.sqlite3"))  # fmt: skip
    calls = [r for r in _trajectory(unlimited) if r["type"] == "model"]
    samples = [r for r in calls if r["stage"] == "generate"]
    assert len(samples) == 3 and min(r["completion_tokens"] for r in samples) > 1500
    before = sum(r["prompt_tokens"] + r["completion_tokens"] for r in calls if r["stage"] != "generate")
    limit = before + 2 * (samples[0]["prompt_tokens"] + samples[0]["completion_tokens"])  # room for two, not three
    repo = example_copy(tmp_path / "b", git=True)
    outcome = fix(
        _request(repo, script(tmp_path, [FILES, SYMBOLS, big]), "sandbox.kind=none", f"budget.max_tokens={limit}"),
        caches=Caches(tmp_path / "c.sqlite3"),
    )
    assert outcome.budget["spent_tokens"] <= limit, (outcome.budget, limit)
    done = [r for r in _trajectory(outcome) if r["type"] == "model" and r["stage"] == "generate"]
    refused = "budget reached" in outcome.stopped or any(
        "budget reached" in (c.candidate.error or "") for c in outcome.loop.candidates
    )
    capped = [r for r in done if r["max_tokens"] < 4096]  # an answer given only what was left
    # Depending on how the three calls interleave, the budget refuses one or cuts its answer; either way it acts.
    assert len(done) < 3 and refused or capped, (len(done), outcome.stopped, [r["max_tokens"] for r in done])
