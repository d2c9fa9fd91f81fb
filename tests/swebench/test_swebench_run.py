"""``repoagent swebench run`` and ``evaluate``: the installed command on a dataset built here, real git and workers."""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from retrieval.history import change_counts
from retrieval.source import RepoSource
from swebench_runner.data.checkout import HISTORY_ANCESTORS, Mirrors, reachable_commits, sealed_copy
from swebench_runner.data.dataset import load_instances
from swebench_runner.data.repos import RepoFinder
from tests.support.cli_helpers import child_env, run_cli
from tests.support.fix_fixtures import script
from tests.support.gitrepo import git
from tests.support.swebench_fixtures import make_dataset, read_jsonl

IDS = ["demo__calc-1", "demo__calc-2", "demo__words-1"]


@pytest.fixture
def bench(tmp_path: Path) -> tuple[Path, Path, list[dict]]:
    return make_dataset(tmp_path / "data")


def _run(bench, out: Path, home: Path, *extra: str, model: str = "oracle", timeout: float = 600):
    repos, dataset, _ = bench
    args = ["swebench", "run", "--dataset", str(dataset), "--repos", str(repos), "--model", model, "--out", str(out)]
    return run_cli(*args, *extra, home=home, timeout=timeout)


def _predictions(out: Path) -> list[dict]:
    return read_jsonl(out / "predictions.jsonl")


def test_oracle_run_writes_official_predictions_instance_folders_and_a_summary(bench, tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = _run(bench, out, tmp_path / "home", "--sandbox", "none", "--workers", "2")
    assert proc.returncode == 0, proc.stderr
    preds = _predictions(out)
    assert sorted(p["instance_id"] for p in preds) == IDS
    assert {p["model_name_or_path"] for p in preds} == {"oracle"}
    rows = {r["instance_id"]: r for r in read_jsonl(out / "outcomes.jsonl")}
    for iid in IDS:
        assert rows[iid]["oracle_check"] == {"applies": True, "ast_equal": True, "why": ""}, rows[iid]
        assert rows[iid]["status"] == "untested" and rows[iid]["environment"] == {"kind": "none"}
        assert rows[iid]["gold_ranks"] and all(r == 1 for r in rows[iid]["gold_ranks"].values())
        (run_dir,) = (out / "instances" / iid).iterdir()
        result = json.loads((run_dir / "result.json").read_text())
        assert result["patch"] == rows[iid]["patch"] and (run_dir / "report.html").exists()
    # the gold patch of demo__calc-2 changes a function next to a module constant: still whole definitions
    assert rows["demo__calc-2"]["oracle_form"].startswith("definitions")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["total"]["with_patch"] == 3 and summary["total"]["errors"] == 0
    assert summary["total"]["gold_files@1"] == 1.0
    assert set(summary["repositories"]) == {"demo/calc", "demo/words"}
    assert summary["repositories"]["demo/calc"]["instances"] == 2
    page = (out / "summary.html").read_text()
    assert "<svg" in page and "<script" not in page and "demo__words-1" in page
    assert json.loads(proc.stdout.strip().splitlines()[-1])["done"] == 3


def test_predictions_are_read_by_the_official_package(bench, tmp_path: Path) -> None:
    from swebench_runner.grading.official import load_predictions

    out = tmp_path / "out"
    assert _run(bench, out, tmp_path / "home", "--sandbox", "none", "--instances", "demo__words-1").returncode == 0
    preds = load_predictions(out / "predictions.jsonl", str(bench[1]))
    assert [p["instance_id"] for p in preds] == ["demo__words-1"]
    assert "text.upper()" in preds[0]["model_patch"]


def test_the_sealed_copy_holds_the_base_commit_and_nothing_later(bench, tmp_path: Path) -> None:
    repos, dataset, rows = bench
    calc = repos / "demo__calc"
    later = git(calc, "rev-parse", "HEAD")
    base = rows[0]["base_commit"]
    mirror = Mirrors(tmp_path / "mirrors", "unused", RepoFinder(repos)).ensure("demo/calc", base)
    copy = sealed_copy(mirror, base, tmp_path / "sealed")
    sealed = copy.path
    assert copy.commit == base and copy.missing == [] and reachable_commits(sealed) == [base]
    for commit in (later, rows[1]["base_commit"]):
        assert subprocess.run(["git", "-C", str(sealed), "cat-file", "-e", commit]).returncode != 0
    assert git(sealed, "tag") == "" and git(sealed, "remote") == "" and not (sealed / "logs").exists()
    # the test patch's file is not in it either: it is added only after the base commit
    assert "tests/test_ops.py" in git(sealed, "ls-tree", "-r", "--name-only", base)
    assert "test_mul" not in git(sealed, "show", f"{base}:tests/test_ops.py")


def test_the_agents_sealed_copy_keeps_the_history_before_the_base(bench, tmp_path: Path) -> None:
    repos, _, rows = bench
    calc = repos / "demo__calc"
    later = git(calc, "rev-parse", "HEAD")
    base = rows[1]["base_commit"]  # the third commit: two before it, one after
    before = git(calc, "rev-list", base).split()
    mirror = Mirrors(tmp_path / "mirrors", "unused", RepoFinder(repos)).ensure("demo/calc", base)
    copy = sealed_copy(mirror, base, tmp_path / "agent", HISTORY_ANCESTORS)
    assert copy.missing == [] and reachable_commits(copy.path) == sorted(before) and len(before) == 3
    assert subprocess.run(["git", "-C", str(copy.path), "cat-file", "-e", later]).returncode != 0
    assert change_counts(RepoSource(copy.path, base)) is not None  # what the learned ranker reads
    # a copy for grading holds the base alone, and so has no history
    alone = sealed_copy(mirror, base, tmp_path / "alone")
    assert reachable_commits(alone.path) == [base] and change_counts(RepoSource(alone.path, base)) is None
    # a mirror missing an older object still gives the base commit, alone
    partial = tmp_path / "partial"
    shutil.copytree(calc, partial)
    tree = git(partial, "rev-parse", f"{before[-1]}^{{tree}}")  # the first commit's
    (partial / ".git" / "objects" / tree[:2] / tree[2:]).unlink()
    copy = sealed_copy(partial, base, tmp_path / "from-partial", HISTORY_ANCESTORS)
    assert copy.missing == [] and reachable_commits(copy.path) == [base]


def test_mirrors_are_cloned_once_and_fetched_when_a_commit_is_missing(bench, tmp_path: Path) -> None:
    repos, _, rows = bench
    remote = f"file://{repos}/{{name}}"
    mirrors = Mirrors(tmp_path / "mirrors", remote.replace("{name}", "demo__calc"))
    first = mirrors.ensure("demo/calc", rows[0]["base_commit"])
    assert first == tmp_path / "mirrors" / "demo+calc" / "repo" and (first / "HEAD").exists()
    new = git(repos / "demo__calc", "commit", "--allow-empty", "-q", "-m", "later still")
    new = git(repos / "demo__calc", "rev-parse", "HEAD")
    assert mirrors.ensure("demo/calc", new) == first
    assert subprocess.run(["git", "-C", str(first), "cat-file", "-e", new]).returncode == 0


def test_scripted_model_run_in_docker_never_shows_the_hidden_tests(bench, tmp_path: Path) -> None:
    from tests.support.sandbox_fixtures import require_docker

    require_docker()
    answers = [
        {"when": "# Candidate files", "answer": '{"files": ["calc/ops.py"]}'},
        {"when": "# Schematic maps", "answer": '{"symbols": [{"path": "calc/ops.py", "name": "mul"}]}'},
        "### REPLACE calc/ops.py::mul\n```python\ndef mul(a, b):\n    return a * b\n```",
    ]
    model = script(tmp_path, answers)
    out = tmp_path / "out"
    no_spec = ("-o", "swebench.local_environments=false")  # the environment the sandbox detects
    proc = _run(
        bench, out, tmp_path / "home", "--sandbox", "docker", "--instances", "demo__calc-1", *no_spec,
        model=model, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    (row,) = read_jsonl(out / "outcomes.jsonl")
    assert row["sandbox"] == "docker" and row["environment"]["kind"] == "docker", row
    assert "return a * b" in row["patch"]
    (run_dir,) = (out / "instances" / "demo__calc-1").iterdir()
    everything = "\n".join(p.read_text(errors="replace") for p in run_dir.rglob("*") if p.is_file())
    assert "test_mul" not in everything  # the test patch reached neither a prompt nor a sandbox
    assert "tests/test_ops.py::test_add" in everything or "test_add" in everything  # the repository's own tests ran


def test_an_official_image_is_used_when_docker_has_it(bench, tmp_path: Path) -> None:
    from docker.errors import NotFound

    from tests.support.sandbox_fixtures import require_docker

    client = require_docker()
    name = "sweb.eval.x86_64.demo__words-1"
    client.images.get("repoagent-base:bookworm").tag(name, "latest")
    try:
        out = tmp_path / "out"
        proc = _run(bench, out, tmp_path / "home", "--sandbox", "docker", "--instances", "demo__words-1", timeout=900)
        assert proc.returncode == 0, proc.stderr
    finally:  # the tag alone (another suite on this engine may have removed it already)
        with contextlib.suppress(NotFound):
            client.images.remove(f"{name}:latest")
    (row,) = read_jsonl(out / "outcomes.jsonl")
    assert row["environment"] == {"kind": "official", "image": f"{name}:latest"}, row
    (run_dir,) = (out / "instances" / "demo__words-1").iterdir()
    trajectory = (run_dir / "trajectory.jsonl").read_text()
    assert '"sandbox": "docker"' in trajectory or "sandbox_run" in trajectory
    # the stand-in image has no pytest: said plainly (the patch is kept, untested), never scored as a failure
    assert row["status"] == "broken_environment" and row["patch"], row["reason"]
    assert "cannot import 'pytest' (not installed)" in row["reason"]


def _children(pid: int) -> list[int]:
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(stat.parent.name))
    return kids


def _alive(pid: int) -> bool:
    """Running: a dead process waiting for PID 1 to reap it (a zombie, which this machine's init reaps a second or
    two later) is not a worker that outlived its driver."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_kill_9_at_random_moments_then_resume_gives_each_instance_exactly_once(bench, tmp_path: Path) -> None:
    repos, dataset, _ = bench
    out, home = tmp_path / "out", tmp_path / "home"
    exe = Path(sys.executable).with_name("repoagent")
    env = child_env()
    env.update(REPOAGENT_HOME=str(home))
    args = [str(exe), "swebench", "run", "--dataset", str(dataset), "--repos", str(repos), "--model", "oracle"]
    args += ["--sandbox", "none", "--workers", "2", "--out", str(out)]
    rng = random.Random(7)
    for _ in range(3):
        proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(2.0, 9.0))
        workers = _children(proc.pid)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 10
        while any(_alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [w for w in workers if _alive(w)], "a worker outlived the killed driver"
        if (out / "predictions.jsonl").exists():
            ids = [p["instance_id"] for p in _predictions(out)]
            assert len(ids) == len(set(ids))
    final = run_cli(*args[1:], home=home, timeout=600)
    assert final.returncode == 0, final.stderr
    ids = [p["instance_id"] for p in _predictions(out)]
    assert sorted(ids) == IDS
    assert all(p["model_patch"] for p in _predictions(out))


def test_retry_errors_runs_again_only_the_instances_that_failed(bench, tmp_path: Path) -> None:
    out, home = tmp_path / "out", tmp_path / "home"
    first = _run(bench, out, home, "--sandbox", "none", "--instance-timeout", "0.001")
    assert first.returncode == 0, first.stderr
    rows = read_jsonl(out / "outcomes.jsonl")
    assert {r["error_kind"] for r in rows} == {"timeout"} and all("timed out" in r["error"] for r in rows)
    assert json.loads((out / "summary.json").read_text())["total"]["errors"] == 3
    again = _run(bench, out, home, "--sandbox", "none")
    assert again.returncode == 0 and len(read_jsonl(out / "outcomes.jsonl")) == 3  # done is done
    retried = _run(bench, out, home, "--sandbox", "none", "--retry-errors")
    assert retried.returncode == 0, retried.stderr
    assert len(read_jsonl(out / "outcomes.jsonl")) == 6
    assert sorted(p["instance_id"] for p in _predictions(out)) == IDS
    assert all(p["model_patch"] for p in _predictions(out))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["total"]["errors"] == 0 and summary["total"]["with_patch"] == 3
    redo = _run(bench, out, home, "--sandbox", "none", "--redo", "--instances", "demo__words-1")
    assert redo.returncode == 0 and [r["instance_id"] for r in read_jsonl(out / "outcomes.jsonl")] == ["demo__words-1"]


def test_the_runs_cost_cap_stops_new_instances_and_the_summary_says_so(bench, tmp_path: Path) -> None:
    answers = ["### REPLACE calc/ops.py::mul\n```python\ndef mul(a, b):\n    return a * b\n```"]
    out = tmp_path / "out"
    prices = ["-o", "model.input_cost_per_token=0.0001", "-o", "model.output_cost_per_token=0.0001"]
    proc = _run(
        bench, out, tmp_path / "home", "--sandbox", "none", "--max-cost", "0.01", *prices,
        model=script(tmp_path, answers),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    rows = read_jsonl(out / "outcomes.jsonl")
    assert len(rows) == 1 and rows[0]["cost"] >= 0.01
    summary = json.loads((out / "summary.json").read_text())
    assert "cost cap" in summary["stopped"] and "2 instance(s) not started" in summary["stopped"]
    assert summary["total"]["statuses"]["not run"] == 2
    assert "Stopped early" in (out / "summary.html").read_text()
    assert len(_predictions(out)) == 1


def test_a_run_on_a_local_ray(bench, tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = _run(bench, out, tmp_path / "home", "--sandbox", "none", "--executor", "ray", "--workers", "2")
    assert proc.returncode == 0, proc.stderr
    assert sorted(p["instance_id"] for p in _predictions(out)) == IDS
    rows = read_jsonl(out / "outcomes.jsonl")
    assert all(r["oracle_check"]["ast_equal"] for r in rows)
    assert len({r["worker_pid"] for r in rows}) <= 2 and os.getpid() not in {r["worker_pid"] for r in rows}


def test_merging_an_official_report_puts_verdicts_in_the_summary(bench, tmp_path: Path) -> None:
    from swebench_runner.grading.evaluate import merge_reports
    from swebench_runner.grading.official import collect_reports

    out = tmp_path / "out"
    assert _run(bench, out, tmp_path / "home", "--sandbox", "none").returncode == 0
    logs = out / "logs" / "run_evaluation" / "r1" / "oracle"
    for iid, resolved in (("demo__calc-1", True), ("demo__words-1", False)):
        (logs / iid).mkdir(parents=True)
        status = {"FAIL_TO_PASS": {"success": [], "failure": []}}
        report = {
            iid: {
                "patch_exists": True,
                "patch_successfully_applied": True,
                "resolved": resolved,
                "tests_status": status,
            }
        }
        (logs / iid / "report.json").write_text(json.dumps(report))
    reports = collect_reports(out, "r1")
    assert set(reports) == {"demo__calc-1", "demo__words-1"}
    summary = merge_reports(out, str(bench[1]), "test", reports, "official (swebench 5.0.2)", "r1")
    assert summary["grading"] == "official (swebench 5.0.2)"
    assert summary["total"]["resolved"] == 1
    by_id = {r["instance_id"]: r for r in summary["instances"]}
    assert by_id["demo__calc-1"]["resolved"] is True and by_id["demo__calc-2"]["resolved"] is False
    assert json.loads((out / "summary.json").read_text())["total"]["resolved"] == 1
    assert "resolved (official (swebench 5.0.2))" in (out / "summary.html").read_text()


def test_evaluate_says_in_one_line_why_it_cannot_score_and_guesses_nothing(bench, tmp_path: Path) -> None:
    out = tmp_path / "out"
    # an instance whose official image no test makes: another suite on this Docker engine may be running
    # test_an_official_image_is_used_when_docker_has_it, which tags demo__words-1's for a while
    assert _run(bench, out, tmp_path / "home", "--sandbox", "none", "--instances", "demo__calc-1").returncode == 0
    proc = run_cli(
        "swebench", "evaluate", "--predictions", str(out / "predictions.jsonl"), "--dataset", str(bench[1]),
        home=tmp_path / "home",
    )  # fmt: skip
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "cannot score officially" in lines[0], proc.stderr
    assert not (out / "evaluation.json").exists()
    assert "resolved" not in json.loads((out / "summary.json").read_text())["total"]


def test_dataset_errors_are_plain(bench, tmp_path: Path) -> None:
    proc = run_cli(
        "swebench", "run", "--dataset", str(tmp_path / "missing.jsonl"), "--model", "oracle", "--out",
        str(tmp_path / "o"), home=tmp_path / "home",
    )  # fmt: skip
    assert proc.returncode != 0 and "no such file" in proc.stderr
    instances = load_instances(bench[1], ["demo__words-1"])
    assert [i.instance_id for i in instances] == ["demo__words-1"]
    proc = _run(bench, tmp_path / "o", tmp_path / "home", "--instances", "nope")
    assert proc.returncode != 0 and "nope" in proc.stderr
