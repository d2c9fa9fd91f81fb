"""Model output and user input are untrusted: paths stay in the repository, gates judge the edit, bytes survive.

Each test here failed before the change that added it (issue: "Model output and user input are untrusted").
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from editing.answer_format import FormatError, parse_edit_answer
from editing.apply import apply_ops
from editing.errors import GateError
from editing.ops import EditOp
from repoagent.config import load_settings
from repoagent.pipeline.fix import Caches, FixRequest, fix
from repoagent.pipeline.inputs import read_issue
from repoagent.sandbox.local import LocalSandbox
from tests.support.cli_helpers import child_env, run_cli
from tests.support.fix_fixtures import FILES, FIXED_LINE, GOOD, REPRO, SYMBOLS, example_copy, script
from tests.support.gitrepo import git, make_repo
from tests.support.models import settings

ESCAPES = ["../outside.py", "/tmp/abs.py", "a/../../x2.py", ".git/hooks/pre-commit.py"]
BLOCK = "```python\ndef helper():\n    return 1\n```"


@pytest.mark.parametrize("path", ESCAPES)
def test_edit_paths_that_leave_the_repository_are_format_errors(path: str) -> None:
    for header in (f"### INSERT {path} BOTTOM", f"### REPLACE {path}::f", f"### INSERT AFTER {path}::f"):
        with pytest.raises(FormatError, match="path"):
            parse_edit_answer(f"{header}\n{BLOCK}")


def test_a_header_that_does_not_parse_never_redirects_the_code() -> None:
    with pytest.raises(FormatError, match="is not a header this format knows"):
        parse_edit_answer("### BLOCK /etc/passwd:1\n```python\nroot = 'pwned'\n```", ("calc/ops.py", "mean"))
    with pytest.raises(FormatError, match="no header line"):  # a lone block must define the asked-for name
        parse_edit_answer("```python\nroot = 'pwned'\n```", ("calc/ops.py", "mean"))
    ops = parse_edit_answer("```python\ndef mean(xs):\n    return sum(xs) / len(xs)\n```", ("calc/ops.py", "mean"))
    assert [(o.path, o.target) for o in ops] == [("calc/ops.py", "mean")]
    ops = parse_edit_answer("### Explanation\nThe bug is here.\n### REPLACE ./calc/ops.py::mean\n" + BLOCK)
    assert ops[0].path == "calc/ops.py"  # a prose heading is fine; a leading ./ is tidied


def _fix(repo: Path, tmp_path: Path, answers: list, *overrides: str):  # noqa: ANN202
    s = settings(f"model.name={script(tmp_path, answers)}", "generation.temperatures=[0.0]", *overrides)
    request = FixRequest(issue=read_issue(f"@{repo}/ISSUE.md"), repo=repo, settings=s, rev="HEAD")
    return fix(request, caches=Caches(tmp_path / "c.sqlite3"))


def _records(outcome) -> list[dict]:  # noqa: ANN001
    return [json.loads(line) for line in (outcome.run_path / "trajectory.jsonl").read_text().splitlines()]


def test_an_escaping_insert_is_sent_back_and_the_next_answer_used(tmp_path: Path) -> None:
    repo = example_copy(tmp_path / "inventory", git=True)
    escaping = "### INSERT ../outside.py TOP\n```python\nimport os\n```"
    outcome = _fix(repo, tmp_path, [FILES, SYMBOLS, escaping, GOOD], "sandbox.kind=none")
    assert outcome.status == "untested" and FIXED_LINE in outcome.patch and "../" not in outcome.patch
    rejected = [r for r in _records(outcome) if r["type"] == "rejected"]
    assert rejected and "leaves the repository" in rejected[0]["error"]
    assert not (tmp_path / "outside.py").exists()


def test_a_path_through_a_committed_symlink_is_sent_back(tmp_path: Path) -> None:
    repo = example_copy(tmp_path / "inventory", git=True)
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", repo / "linked")
    git(repo, "add", "linked")
    git(repo, "commit", "-qm", "a link")
    through = "### INSERT linked/evil.py TOP\n```python\nX = 1\n```"
    outcome = _fix(repo, tmp_path, [FILES, SYMBOLS, through, GOOD], "sandbox.kind=none")
    assert outcome.status == "untested" and "linked/" not in outcome.patch
    assert any("symbolic link" in r["error"] for r in _records(outcome) if r["type"] == "rejected")


def test_one_candidate_that_does_not_apply_is_dropped_and_the_run_goes_on(tmp_path: Path) -> None:
    repo = example_copy(tmp_path / "inventory", git=True)
    # inventory/models.py is a file, so git apply cannot create a file below it
    bad = "### INSERT inventory/models.py/extra.py TOP\n```python\nX = 1\n```"
    outcome = _fix(
        repo, tmp_path, [FILES, SYMBOLS, REPRO, {"when": "0.0-never", "answer": ""}, bad, GOOD],
        "sandbox.kind=local", "generation.temperatures=[0.0, 0.5]",
    )  # fmt: skip
    assert outcome.status == "resolved" and FIXED_LINE in outcome.patch
    refused = [c.candidate for c in outcome.loop.candidates if not c.candidate.ok]
    assert len(refused) == 1 and "does not apply" in refused[0].error and refused[0].gate == "apply"


def test_edit_write_refuses_paths_outside_the_repository(shop_repo: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.py"
    outside.write_text("def f():\n    return 1\n")
    os.symlink(outside, shop_repo / "link.py")
    git(shop_repo, "add", "link.py")
    git(shop_repo, "commit", "-qm", "link")
    for file in ("../outside.py", str(outside), "link.py"):
        proc = run_cli(
            "edit", "--repo", str(shop_repo), "--file", file, "--symbol", "f", "--code", "def f():\n    return 2\n",
            "--write", home=tmp_path / "home",
        )  # fmt: skip
        assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, (file, proc.stderr)
    assert outside.read_text() == "def f():\n    return 1\n"
    assert git(shop_repo, "status", "--porcelain") == ""


WALRUS_FSTRING = 'def check(ticklabels):\n    raise TypeError(f"{ticklabels:=} must be a sequence")\n'


def test_gates_judge_the_edit_not_the_file() -> None:
    op = EditOp(kind="replace", path="m.py", target="g", code="def g():\n    return 2\n")
    # valid Python that the bundled grammar reports as an error
    before = (WALRUS_FSTRING + "\n\ndef g():\n    return 1\n").encode()
    assert b"return 2" in apply_ops([op], lambda p: before)[0].after
    # a file that already has a syntax error far from the edit
    broken = b"def g():\n    return 1\n\n\ndef far(:\n    pass\n"
    assert b"return 2" in apply_ops([op], lambda p: broken)[0].after
    adds = EditOp(kind="replace", path="m.py", target="g", code="def g():\n    return (2\n")
    with pytest.raises(GateError, match="syntax"):
        apply_ops([adds], lambda p: broken)
    with pytest.raises(GateError, match="syntax"):
        apply_ops([adds], lambda p: before)


LATIN = "# -*- coding: latin-1 -*-\n\n\ndef name():\n    return 'café'\n\n\ndef other():\n    return 1\n".encode(
    "latin-1"
)


def test_a_latin1_file_is_edited_and_written_in_latin1(tmp_path: Path) -> None:
    repo = tmp_path / "latin"
    make_repo(repo, {"pkg/__init__.py": "", "pkg/names.py": LATIN})
    code = "def other():\n    return 'naïve'\n"
    diff = run_cli("edit", "--repo", str(repo), "--file", "pkg/names.py", "--symbol", "other", "--code", code,
                   home=tmp_path / "home", text=False)  # fmt: skip
    assert diff.returncode == 0 and "naïve".encode("latin-1") in diff.stdout and "\ufffd".encode() not in diff.stdout
    check = subprocess.run(["git", "-C", str(repo), "apply", "--check", "-"], input=diff.stdout, capture_output=True)
    assert check.returncode == 0, check.stderr
    wrote = run_cli("edit", "--repo", str(repo), "--file", "pkg/names.py", "--symbol", "other", "--code", code,
                    "--write", home=tmp_path / "home")  # fmt: skip
    assert wrote.returncode == 0, wrote.stderr
    after = (repo / "pkg/names.py").read_bytes()
    assert "café".encode("latin-1") in after and "naïve".encode("latin-1") in after
    assert after.decode("latin-1").count("\n") == LATIN.decode("latin-1").count("\n")


def test_fix_on_a_latin1_file_writes_its_result_and_report(tmp_path: Path) -> None:
    repo = tmp_path / "latin"
    make_repo(repo, {"pkg/__init__.py": "", "pkg/names.py": LATIN, "ISSUE.md": "other() should return 2\n"})
    answers = [
        '{"files": ["pkg/names.py"]}',
        '{"symbols": [{"path": "pkg/names.py", "name": "other", "action": "edit"}]}',
        "### REPLACE pkg/names.py::other\n```python\ndef other():\n    return 'é' and 2\n```",
    ]
    outcome = _fix(repo, tmp_path, answers, "sandbox.kind=none")
    assert outcome.status == "untested"
    assert outcome.patch.encode("utf-8", errors="surrogateescape").count("é".encode("latin-1")) == 1
    assert json.loads((outcome.run_path / "result.json").read_text())["status"] == "untested"
    redraw = run_cli("report", str(outcome.run_path), home=tmp_path / "home")
    assert redraw.returncode == 0 and (outcome.run_path / "report.html").stat().st_size > 0


def test_the_local_sandbox_passes_only_named_variables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgres://u:SECRET@h/db")
    monkeypatch.setenv("MY_SETTING", "wanted")
    repo = tmp_path / "env"
    make_repo(repo, {"show.py": "import os\nprint(sorted(os.environ))\n"})
    plain = LocalSandbox().run(repo, "python3 show.py", "HEAD", timeout=60)
    named = LocalSandbox(pass_env=["MY_SETTING"]).run(repo, "python3 show.py", "HEAD", timeout=60)
    assert "DATABASE_URL" not in plain.stdout and "MY_SETTING" not in plain.stdout and "PATH" in plain.stdout
    assert "MY_SETTING" in named.stdout and "DATABASE_URL" not in named.stdout
    assert load_settings(None, ["sandbox.pass_env=[MY_SETTING]"], env={}).sandbox.pass_env == ["MY_SETTING"]


def test_after_kill_9_the_next_run_cleans_up_and_the_report_draws(tmp_path: Path) -> None:
    repo = example_copy(tmp_path / "inventory", git=True)
    slow = f"tests/test_slow_{os.getpid()}_{time.monotonic_ns()}.py"  # a name no other process has
    (repo / slow).write_text("import time\n\n\ndef test_slow():\n    time.sleep(120)\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "slow test")
    env = child_env()
    env["REPOAGENT_HOME"] = str(tmp_path / "home")
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("repoagent")), "fix", "--repo", str(repo), "--issue", f"@{repo}/ISSUE.md",
         "--sandbox", "local", "--test-cmd", f"python3 -m pytest -q -p no:cacheprovider {slow}",
         "--model", script(tmp_path, [FILES, SYMBOLS, REPRO, GOOD])],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and "repoagent-tree" not in git(repo, "worktree", "list"):
        time.sleep(0.2)
    time.sleep(1.5)  # the slow test runs
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    time.sleep(0.5)
    sleeping = subprocess.run(["pgrep", "-f", slow], capture_output=True, text=True).stdout.split()
    assert sleeping == [], "the test process outlived the killed run"
    assert "repoagent-tree" in git(repo, "worktree", "list")  # left registered by the killed run
    run_dir = next((repo / ".repoagent" / "runs").iterdir())
    assert not (run_dir / "result.json").exists()
    page = run_cli("report", str(run_dir), home=tmp_path / "home")
    assert page.returncode == 0 and "did not finish" in (run_dir / "report.html").read_text()
    again = run_cli(
        "test", "--repo", str(repo), "--sandbox", "local", "--test-cmd", "echo ok 1 - alive", home=tmp_path / "home"
    )
    assert again.returncode == 0, again.stderr
    assert git(repo, "worktree", "list").count("\n") == 0  # the stale tree was pruned


def test_bad_numbers_on_the_command_line_are_one_line_exit_2(shop_repo: Path, tmp_path: Path) -> None:
    for args in (
        ("fix", "--repo", str(shop_repo), "--issue", "x", "--model", "scripted/none.json", "--max-cost", "nan"),
        ("fix", "--repo", str(shop_repo), "--issue", "x", "--model", "scripted/none.json", "--max-cost", "inf"),
        ("fix", "--repo", str(shop_repo), "--issue", "x", "--model", "scripted/none.json", "--max-tokens", "-5"),
        ("test", "--repo", str(shop_repo), "--sandbox", "local", "--timeout", "-1"),
    ):
        proc = run_cli(*args, home=tmp_path / "home")
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, (args, proc.stderr)
    assert not (shop_repo / ".repoagent").exists()  # refused before any work
