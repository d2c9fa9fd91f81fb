"""Where ``repoagent fix`` reads from: a GitHub issue URL (loopback API), a git URL, and Ctrl-C on the way."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.support.cli_helpers import child_env, run_cli
from tests.support.fix_fixtures import FILES, FIXED_LINE, GOOD, REPRO, SYMBOLS, example_copy, script
from tests.support.gitrepo import git, make_repo
from tests.support.loopback import serve

ISSUE_JSON = {
    "number": 7,
    "title": "Bulk discount stays at 5% for large orders",
    "body": (Path(__file__).resolve().parents[2] / "examples/inventory/ISSUE.md").read_text().split("\n", 2)[2],
}


def _api(method: str, path: str, headers: dict, body: bytes) -> tuple[int, dict]:
    if path == "/repos/acme/inventory/issues/7":
        return 200, ISSUE_JSON
    return 404, {"message": "Not Found"}


def test_issue_read_from_a_github_issue_url(tmp_path: Path) -> None:
    repo = example_copy(tmp_path / "inventory", git=True)
    with serve(_api) as (url, seen):
        proc = run_cli(
            "fix", "--repo", str(repo), "--issue", "https://github.com/acme/inventory/issues/7",
            "--model", script(tmp_path, [FILES, SYMBOLS, GOOD]), "--sandbox", "none", "--json",
            "-o", f"github.api_url={url}", home=tmp_path / "home", env={"GITHUB_TOKEN": "ghp_test"},
        )  # fmt: skip
        missing = run_cli(
            "fix", "--repo", str(repo), "--issue", "https://github.com/acme/inventory/issues/8",
            "--model", script(tmp_path, [GOOD]), "-o", f"github.api_url={url}", home=tmp_path / "home",
        )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert seen[0]["headers"]["authorization"] == "Bearer ghp_test"
    assert seen[0]["headers"]["accept"] == "application/vnd.github+json"
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    result = json.loads((Path(out["run_dir"]) / "result.json").read_text())
    assert result["issue_source"] == "https://github.com/acme/inventory/issues/7"
    assert result["issue"].startswith("Bulk discount stays at 5%") and "Expected 20400" in result["issue"]
    assert FIXED_LINE in out["patch"]
    assert missing.returncode == 2 and "HTTP 404" in missing.stderr and "GITHUB_TOKEN" in missing.stderr


def test_repository_from_a_git_url_is_cloned_into_the_cache(tmp_path: Path) -> None:
    origin = example_copy(tmp_path / "origin", git=True)
    home = tmp_path / "home"
    url = f"file://{origin}"
    proc = run_cli(
        "fix", "--repo", url, "--issue", f"@{origin}/ISSUE.md", "--model", script(tmp_path, [FILES, SYMBOLS, GOOD]),
        "--sandbox", "local", "-o", "loop.max_retries=0", "--json", home=home,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["repo"] == url and FIXED_LINE in out["patch"]
    clones = list((home / "cache" / "repos").iterdir())
    assert len(clones) == 1 and (clones[0] / "HEAD").is_file()
    assert Path(out["run_dir"]).is_relative_to(home / "state" / "runs")  # not inside the clone
    make_repo(origin, {"NEWS.md": "later\n"})  # a second run fetches the new commit
    again = run_cli(
        "fix", "--repo", url, "--issue", f"@{origin}/ISSUE.md", "--model", script(tmp_path, [FILES, SYMBOLS, GOOD]),
        "--sandbox", "none", "--json", home=home,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout.strip().splitlines()[-1])["revision"] == git(origin, "rev-parse", "HEAD")
    refused = run_cli("fix", "--repo", url, "--issue", "x", "--model", "scripted/x", "--apply", home=home)
    assert refused.returncode == 2 and "need a local repository" in refused.stderr


def test_ctrl_c_during_the_tests_leaves_no_worktree_behind(tmp_path: Path) -> None:
    repo = example_copy(tmp_path / "inventory", git=True)
    (repo / "tests" / "test_slow.py").write_text("import time\n\n\ndef test_slow():\n    time.sleep(60)\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "slow test")
    exe = Path(sys.executable).with_name("repoagent")
    env = child_env()
    env["REPOAGENT_HOME"] = str(tmp_path / "home")
    proc = subprocess.Popen(
        [str(exe), "fix", "--repo", str(repo), "--issue", f"@{repo}/ISSUE.md", "--sandbox", "local",
         "--test-cmd", "python3 -m pytest -q -p no:cacheprovider tests/test_slow.py",
         "--model", script(tmp_path, [FILES, SYMBOLS, REPRO, GOOD])],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and "repoagent-tree" not in git(repo, "worktree", "list"):
        time.sleep(0.2)
    assert "repoagent-tree" in git(repo, "worktree", "list"), "the baseline run never started"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted" in err
    assert git(repo, "worktree", "list").count("\n") == 0  # only the main worktree
    run_dir = next((repo / ".repoagent" / "runs").iterdir())
    assert json.loads((run_dir / "result.json").read_text())["status"] == "interrupted"
    assert (run_dir / "report.html").is_file()
