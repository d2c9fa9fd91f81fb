from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from repoagent.sandbox.environment import Project, plan_environment
from repoagent.sandbox.local import LocalSandbox
from repoagent.testrun import is_pytest, with_junit
from retrieval.source import RepoSource
from tests.support.gitrepo import git
from tests.support.sandbox_fixtures import FIX, make_calc

CMD = "python3 -m pytest -q -p no:cacheprovider"


def _worktrees(repo: Path) -> list[str]:
    return [ln for ln in git(repo, "worktree", "list").splitlines() if ln]


def test_failing_then_fixed_with_per_test_outcomes(tmp_path: Path) -> None:
    repo = make_calc(tmp_path / "calc")
    before = LocalSandbox().run(repo, CMD, timeout=120)
    outcomes = {t.name.split("::")[-1]: t.outcome for t in before.tests}
    assert outcomes == {"test_add": "passed", "test_mul": "failed"}
    assert before.exit_code == 1 and before.failed == 1
    after = LocalSandbox().run(repo, CMD, patch=FIX, timeout=120)
    assert after.exit_code == 0 and after.passed == 2 and after.failed == 0
    # The user's tree is untouched and no worktree is left behind.
    assert "a + b  # bug" in (repo / "calc/ops.py").read_text()
    assert git(repo, "status", "--porcelain") == "" and len(_worktrees(repo)) == 1


def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    repo = make_calc(tmp_path / "calc")
    marker = f"repoagent-sleeper-{os.getpid()}"
    started = time.monotonic()
    run = LocalSandbox().run(repo, f"sh -c 'exec -a {marker} sleep 300' & sleep 300", timeout=2)
    assert run.timed_out and time.monotonic() - started < 30
    time.sleep(0.5)
    alive = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True).stdout.strip()
    assert alive == ""
    assert len(_worktrees(repo)) == 1


def test_only_named_variables_pass_and_memory_is_limited(tmp_path: Path, monkeypatch) -> None:
    repo = make_calc(tmp_path / "calc")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp-secret")
    monkeypatch.setenv("HARMLESS_SETTING", "visible")
    run = LocalSandbox(pass_env=["HARMLESS_SETTING"]).run(repo, "env", timeout=30)
    assert "HARMLESS_SETTING=visible" in run.stdout
    assert "sk-secret" not in run.stdout and "ghp-secret" not in run.stdout
    bomb = LocalSandbox(memory_mb=256).run(repo, 'python3 -c "x = bytearray(2 * 1024 ** 3)"', timeout=60)
    assert bomb.exit_code != 0 and "MemoryError" in bomb.stderr


def test_rev_and_plain_folder(tmp_path: Path) -> None:
    repo = make_calc(tmp_path / "calc")
    first = git(repo, "rev-parse", "HEAD")
    (repo / "calc/ops.py").write_text("def add(a, b):\n    return 0\n\n\ndef mul(a, b):\n    return a * b\n")
    git(repo, "commit", "-qam", "break add")
    run = LocalSandbox().run(repo, CMD, rev=first, timeout=120)
    assert {t.name.split("::")[-1]: t.outcome for t in run.tests}["test_add"] == "passed"
    folder = tmp_path / "plain"
    folder.mkdir()
    (folder / "test_x.py").write_text("def test_x():\n    assert True\n")
    assert LocalSandbox().run(folder, CMD, timeout=60).passed == 1


def test_cli_local_runs_the_tests_the_patch_touches(tmp_path: Path) -> None:
    from tests.support.cli_helpers import run_cli
    from tests.support.gitrepo import write_files

    repo = make_calc(tmp_path / "calc")
    write_files(repo, {"tests/test_unrelated.py": "def test_other():\n    assert False\n"})
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "unrelated failing test")
    patch = tmp_path / "fix.diff"
    patch.write_bytes(FIX)
    out = run_cli("test", "--repo", str(repo), "--sandbox", "local", "--patch", str(patch), "--json", home=tmp_path)
    summary = __import__("json").loads(out.stdout.strip().splitlines()[-1])
    assert out.returncode == 0, out.stderr
    assert summary["passed"] == 2 and summary["failed"] == 0  # test_unrelated.py was not selected
    assert "without isolation" in out.stderr


def detect_test_command(folder: Path) -> str:
    return plan_environment(Project.at(RepoSource(folder))).test_command


def test_test_command_is_read_from_tox_and_nox(tmp_path: Path) -> None:
    tox = tmp_path / "tox"
    tox.mkdir()
    (tox / "tox.ini").write_text(
        "[tox]\nenvlist = py311\n\n[testenv]\ndeps = -rreq.txt\ncommands =\n"
        "    pip install -e .\n    python -m unittest discover -s tests {posargs}\n"
    )
    assert detect_test_command(tox) == "python3 -m unittest discover -s tests"
    (tox / "tox.ini").write_text("[testenv]\ncommands = pytest {posargs} tests\n")
    assert detect_test_command(tox) == "python3 -m pytest -q -p no:cacheprovider"
    nox = tmp_path / "nox"
    nox.mkdir()
    (nox / "noxfile.py").write_text("import nox\n\n@nox.session\ndef tests(session):\n    session.run('pytest')\n")
    assert detect_test_command(nox) == "python3 -m pytest -q -p no:cacheprovider"
    js = tmp_path / "js"
    js.mkdir()
    (js / "package.json").write_text("{}")
    assert detect_test_command(js) == "npm test"


def test_pytest_commands_are_told_apart_by_their_words() -> None:
    for command in ("pytest -q", "python3 -m pytest tests", "PYTHONPATH=src pytest", "py.test -x"):
        assert is_pytest(command), command
        assert with_junit(command).endswith("-o junit_family=xunit1")
        steps = plan_environment(_project({"setup.py": ""}), test_command=command).steps
        assert "import pytest" in steps[-1].command  # pytest is made sure of
    for command in ("npm test", "python -m unittest", "tox -e pytest-cov", "./run-pytests.sh"):
        assert not is_pytest(command), command
        steps = plan_environment(_project({"setup.py": ""}), test_command=command).steps
        assert with_junit(command) == command and not any("import pytest" in s.command for s in steps)
    assert with_junit("pytest --junitxml=out.xml") == "pytest --junitxml=out.xml"


def _project(files: dict[str, str]) -> Project:
    return Project(files, files.__getitem__)
