"""``repoagent fix`` end to end: the installed command, real git repositories, real sandboxes, scripted model."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from tests.support.cli_helpers import run_cli
from tests.support.fix_fixtures import (
    FILES,
    FIXED_LINE,
    GOOD,
    JS_ANSWERS,
    JS_ISSUE,
    REPRO,
    ROOT,
    SYMBOLS,
    WRONG,
    example_copy,
    make_js_project,
    script,
)
from tests.support.gitrepo import git
from tests.support.sandbox_fixtures import require_docker

ISSUE = "@{repo}/ISSUE.md"


def _json(proc) -> dict:  # noqa: ANN001
    assert proc.stdout.strip(), proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _events(run_dir: str) -> list[dict]:
    return [json.loads(line) for line in (Path(run_dir) / "trajectory.jsonl").read_text().splitlines()]


def _fix(repo: Path, model: str, home: Path, *extra: str, issue: str | None = None):  # noqa: ANN202
    return run_cli(
        "fix",
        "--repo",
        str(repo),
        "--issue",
        issue or f"@{repo}/ISSUE.md",
        "--model",
        model,
        *extra,
        home=home,
        timeout=600,
    )


def readme_main_command() -> list[str]:
    """The first command of the README's set-up section, split into words after ``repoagent``."""
    text = (ROOT / "README.md").read_text()
    first = re.search(r"```bash\n(.+?)\n```", text, re.S)
    assert first is not None
    line = first.group(1).strip()
    assert line.startswith("bash scripts/install.sh && .venv/bin/repoagent fix ")
    return line.split(".venv/bin/repoagent ", 1)[1].split()


def test_readme_command_fixes_the_example_in_docker(tmp_path: Path) -> None:
    require_docker()
    words = readme_main_command()
    assert words[:5] == ["fix", "--repo", "examples/inventory", "--issue", "@examples/inventory/ISSUE.md"]
    work = tmp_path / "work"
    example_copy(work / "examples" / "inventory")
    model_at = words.index("--model")
    words[model_at + 1] = script(tmp_path, [FILES, SYMBOLS, REPRO, GOOD])
    args = [w.replace("examples/", f"{work}/examples/", 1) for w in words]
    proc = run_cli(*args, "--sandbox", "docker", "--json", home=tmp_path / "home", timeout=900)
    assert proc.returncode == 0, proc.stderr
    out = _json(proc)
    assert out["status"] == "resolved" and out["resolved"] is True
    assert FIXED_LINE in out["patch"] and out["edited"] == ["inventory/pricing/discounts.py"]
    assert out["tests"]["failed"] == 0 and out["tests"]["passed"] >= 5
    run_dir = Path(out["run_dir"])
    assert run_dir.parent == work / "examples" / "inventory" / ".repoagent" / "runs"
    for name in ("trajectory.jsonl", "result.json", "localization.json", "patch.diff", "report.html"):
        assert (run_dir / name).is_file(), name
    assert FIXED_LINE in (run_dir / "patch.diff").read_text()
    result = json.loads((run_dir / "result.json").read_text())
    assert result["sandbox"]["kind"] == "docker" and result["loop"]["baseline"]["sandbox"] == "docker"
    # the localization's steps, with the model's picks and their maps, in result.json and on the report
    steps = [s["name"] for s in result["localization"]["steps"]]
    assert steps[0] == "index" and {"bm25", "ranker", "select files", "select definitions", "maps"} <= set(steps)
    page = (run_dir / "report.html").read_text()
    assert '<h3 id="steps">Steps</h3>' in page and "<td>select files</td>" in page
    # the example itself is untouched: the fix lives in the patch only
    assert "for minimum, percent in TIERS:" in (work / "examples/inventory/inventory/pricing/discounts.py").read_text()


def test_wrong_fix_corrected_after_feedback_and_committed_on_a_branch(tmp_path: Path) -> None:
    repo = example_copy(tmp_path / "inventory", git=True)
    head = git(repo, "rev-parse", "HEAD")
    feedback = {"when": "not right yet", "answer": GOOD}
    model = script(tmp_path, [FILES, SYMBOLS, REPRO, feedback, WRONG])
    proc = _fix(repo, model, tmp_path / "home", "--sandbox", "local", "--branch", "fix-tiers", "--json")
    assert proc.returncode == 0, proc.stderr
    out = _json(proc)
    assert out["status"] == "resolved" and out["branch"] == "fix-tiers"
    result = json.loads((Path(out["run_dir"]) / "result.json").read_text())
    rounds = [c["round"] for c in result["loop"]["candidates"]]
    assert rounds == [0, 1]
    first = result["loop"]["candidates"][0]
    assert not first["repro_passes"] and first["new_failures"]  # the 10-unit tier broke
    stages = [e["stage"] for e in _events(out["run_dir"]) if e.get("type") == "model"]
    assert stages.count("feedback") == 1
    # committed on the new branch; the user's branch, HEAD and files are as they were
    assert git(repo, "rev-parse", "HEAD") == head
    assert git(repo, "status", "--porcelain") == ""
    assert git(repo, "rev-parse", "fix-tiers^") == head
    assert FIXED_LINE in git(repo, "show", "fix-tiers:inventory/pricing/discounts.py")
    assert "Bulk discount" in git(repo, "log", "-1", "--format=%s", "fix-tiers")
    assert "fix-tiers" not in git(repo, "worktree", "list")


def test_malformed_answers_are_sent_back_then_fall_back(tmp_path: Path) -> None:
    repo = example_copy(tmp_path / "inventory", git=True)
    answers = [
        {"when": "# Candidate files", "answer": "I think the bug is in the discounts."},  # no JSON, twice
        {"when": "exactly one JSON object", "answer": '{"files": ["no/such/file.py"]}'},
        SYMBOLS,
        REPRO,
        {"when": "could not be used", "answer": GOOD},
        "Here is my fix: change the loop order.",  # no REPLACE header
    ]
    proc = _fix(repo, script(tmp_path, answers), tmp_path / "home", "--sandbox", "local", "--json")
    assert proc.returncode == 0, proc.stderr
    out = _json(proc)
    assert out["status"] == "resolved" and FIXED_LINE in out["patch"]
    result = json.loads((Path(out["run_dir"]) / "result.json").read_text())
    files_stage = next(st for st in result["localization"]["stages"] if st["stage"] == "select_files")
    assert files_stage["fallback"] is True
    assert "not files of the repository" in " ".join(files_stage["detail"]["errors"])
    events = _events(out["run_dir"])
    format_errors = [e for e in events if e.get("stage") == "generate" and e.get("error")]
    assert format_errors and all(e["attempt"] == 0 for e in format_errors)


def test_a_model_that_never_succeeds_ends_within_budget_with_exit_1(tmp_path: Path) -> None:
    repo = example_copy(tmp_path / "inventory", git=True)
    model = script(tmp_path, [FILES, SYMBOLS, REPRO, WRONG])
    proc = _fix(repo, model, tmp_path / "home", "--sandbox", "local", "--max-tokens", "200000")
    assert proc.returncode == 1, proc.stderr
    assert "no verified fix (unresolved)" in proc.stderr and "report.html" in proc.stderr
    assert proc.stdout == "" and "Best unverified candidate" in proc.stderr  # nothing to pipe into git apply
    run_dir = next((repo / ".repoagent" / "runs").iterdir())
    result = json.loads((run_dir / "result.json").read_text())
    assert result["status"] == "unresolved"
    assert [c["round"] for c in result["loop"]["candidates"]] == [0, 1, 2]  # max_retries rounds, then stop
    assert result["budget"]["spent_tokens"] <= 200000
    page = (run_dir / "report.html").read_text()
    assert "unresolved" in page and "test_ten_units_get_five_percent" in page
    assert "return percent" in page  # the wrong candidate's diff is shown
    assert ".repoagent/" in (repo / ".git" / "info" / "exclude").read_text()
    assert git(repo, "status", "--porcelain") == ""


def test_a_budget_reached_mid_run_stops_before_spending_past_it(tmp_path: Path) -> None:
    repo = example_copy(tmp_path / "inventory", git=True)
    model = script(tmp_path, [FILES, SYMBOLS, REPRO, WRONG])
    home = tmp_path / "home"
    full = _fix(repo, model, home, "--sandbox", "none", "--json")
    assert full.returncode == 0, full.stderr
    localize_tokens = sum(
        e["prompt_tokens"] + e["completion_tokens"] for e in _events(_json(full)["run_dir"]) if e.get("type") == "model"
    )
    limit = localize_tokens + 1500  # room for localization, not for every generation sample
    proc = _fix(
        repo,
        script(tmp_path, [FILES, SYMBOLS, REPRO, WRONG]),
        home,
        "--sandbox",
        "local",
        "--json",
        "--max-tokens",
        str(limit),
    )
    assert proc.returncode == 1, proc.stderr
    out = _json(proc)
    assert out["status"] in ("stopped", "unresolved") and "budget reached" in out["reason"]
    assert out["budget"]["spent_tokens"] <= limit
    calls = [e for e in _events(out["run_dir"]) if e.get("type") == "model"]
    assert sum(e["prompt_tokens"] + e["completion_tokens"] for e in calls) <= limit
    assert all(e["max_tokens"] >= 1 for e in calls)
    assert "budget reached" in (Path(out["run_dir"]) / "report.html").read_text()


def test_apply_refuses_a_dirty_tree_then_applies(tmp_path: Path) -> None:
    repo = example_copy(tmp_path / "inventory", git=True)
    home = tmp_path / "home"
    (repo / "inventory" / "models.py").write_text("# local edit\n")
    proc = _fix(repo, script(tmp_path, [GOOD]), home, "--sandbox", "none", "--apply")
    assert proc.returncode == 2 and "uncommitted changes" in proc.stderr
    assert not (repo / ".repoagent").exists()  # refused before any work
    git(repo, "checkout", "--", ".")
    proc = _fix(repo, script(tmp_path, [FILES, SYMBOLS, GOOD]), home, "--sandbox", "none", "--apply")
    assert proc.returncode == 0, proc.stderr
    assert FIXED_LINE in (repo / "inventory/pricing/discounts.py").read_text()
    assert "untested" in proc.stderr


def test_no_model_stops_before_any_work(tmp_path: Path) -> None:
    repo = example_copy(tmp_path / "inventory")
    proc = run_cli("fix", "--repo", str(repo), "--issue", "x is broken", home=tmp_path / "home")
    assert proc.returncode == 2
    assert "no model is configured" in proc.stderr and "--model" in proc.stderr and "ollama" in proc.stderr
    assert not (repo / ".repoagent").exists() and not (tmp_path / "home").exists()
    keyless = run_cli(
        "fix", "--repo", str(repo), "--issue", "x is broken", "--model", "openai/gpt-4o-mini",
        home=tmp_path / "home", env={"OPENAI_API_KEY": None},
    )  # fmt: skip
    assert keyless.returncode == 2 and "needs OPENAI_API_KEY" in keyless.stderr
    assert not (repo / ".repoagent").exists()


def test_max_cost_needs_a_price_and_is_enforced_with_one(tmp_path: Path) -> None:
    repo = example_copy(tmp_path / "inventory", git=True)
    home = tmp_path / "home"
    model = script(tmp_path, [FILES, SYMBOLS, GOOD])
    proc = _fix(repo, model, home, "--sandbox", "none", "--max-cost", "0.01")
    assert proc.returncode == 2 and "no price" in proc.stderr
    prices = ["-o", "model.input_cost_per_token=0.000001", "-o", "model.output_cost_per_token=0.000004"]
    proc = _fix(repo, model, home, "--sandbox", "none", "--max-cost", "0.002", "--json", *prices)
    out = _json(proc)
    assert 0 < out["budget"]["spent_cost"] <= 0.002
    assert proc.returncode == 1 and "budget reached" in out["reason"]


def test_javascript_project_fixed_with_its_own_test_runner(tmp_path: Path) -> None:
    if shutil.which("node") is None:
        pytest.fail("node is needed for the JavaScript project; .ci/run installs nodejs")
    repo = make_js_project(tmp_path / "units")
    proc = run_cli(
        "fix",
        "--repo",
        str(repo),
        "--issue",
        JS_ISSUE,
        "--model",
        script(tmp_path, JS_ANSWERS),
        "--sandbox",
        "local",
        "--json",
        home=tmp_path / "home",
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    out = _json(proc)
    assert out["status"] == "resolved" and "+  return value * factor;" in out["patch"]
    result = json.loads((Path(out["run_dir"]) / "result.json").read_text())
    assert result["test_command"] == "npm test"
    assert result["loop"]["baseline"]["exit_code"] != 0  # the suite fails before the fix
    assert result["loop"]["candidates"][0]["run"]["exit_code"] == 0
    assert result["loop"]["reproduction"] == ""  # reproduction tests are written for pytest only
