"""Ctrl-C as cancellation: stopped at many moments of a whole run, nothing is left behind.

In process, ``fix()`` is cancelled at twenty moments spread over a run (after
the k-th event, at once or a little later, so some land inside test runs and
model calls); through the installed command, SIGTERM and a second Ctrl-C.
After each: the run folder says ``interrupted`` and has its report, git has
no extra worktree, no temporary tree is left, no test process runs, and (in
Docker) no container remains.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from repoagent.cancel import Cancelled, CancelToken
from repoagent.events import Event, EventList, StageStarted
from repoagent.pipeline.fix import Caches, FixRequest, fix
from repoagent.pipeline.inputs import read_issue
from tests.support.cli_helpers import child_env
from tests.support.fix_fixtures import FILES, GOOD, REPRO, SYMBOLS, WRONG, example_copy, script
from tests.support.gitrepo import git
from tests.support.models import settings
from tests.support.sandbox_fixtures import require_docker

ANSWERS = [FILES, SYMBOLS, REPRO, WRONG, GOOD]  # a feedback round too


class CancelAt:
    """Cancels the run after its ``k``-th recorded event, ``delay`` s later (0: at once, in the emitting thread)."""

    def __init__(self, token: CancelToken, k: int, delay: float) -> None:
        self.token, self.k, self.delay, self.seen = token, k, delay, 0

    def emit(self, event: Event) -> None:
        if not event.recorded:  # progress ticks and call starts vary from run to run (the cache warms up)
            return
        self.seen += 1
        if self.seen == self.k:
            if self.delay:
                threading.Timer(self.delay, self.token.cancel, args=("test",)).start()
            else:
                self.token.cancel("test")


def _request(repo: Path, tmp_path: Path, kind: str) -> FixRequest:
    s = settings(f"model.name={script(tmp_path, ANSWERS)}", f"sandbox.kind={kind}", "generation.temperatures=[0.0]")
    return FixRequest(issue=read_issue(f"@{repo}/ISSUE.md"), repo=repo, settings=s, rev="HEAD")


@pytest.fixture(autouse=True)
def own_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Temporary trees of this test only (in process and in the commands it starts): other tests may run."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    monkeypatch.setenv("TMPDIR", str(tmp))
    return tmp


def _trees() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("repoagent-tree-*")}


def _processes_in(prefix: str) -> list[str]:
    """Processes whose working folder is under ``prefix`` (a test run's temporary tree)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cwd = os.readlink(proc / "cwd")
        except OSError:  # gone, a zombie, or not ours to read
            continue
        if cwd.startswith(prefix):
            found.append(f"{proc.name} {cwd}")
    return found


def _assert_clean(repo: Path, run_dir: Path, trees_before: set[str]) -> None:
    assert git(repo, "worktree", "list").count("\n") == 0, git(repo, "worktree", "list")
    assert _trees() <= trees_before, _trees() - trees_before
    assert _processes_in(str(Path(tempfile.gettempdir()) / "repoagent-tree-")) == []
    result = json.loads((run_dir / "result.json").read_text())
    assert result["status"] == "interrupted" and "interrupted" in result["error"]
    assert (run_dir / "report.html").stat().st_size > 0


def _cancelled_run(repo: Path, tmp_path: Path, kind: str, k: int, delay: float) -> bool:
    """Run with a cancellation after event ``k``; True when it stopped the run (else the run had finished)."""
    token = CancelToken()
    runs = repo / ".repoagent" / "runs"
    before = set(runs.iterdir()) if runs.exists() else set()
    trees = _trees()
    try:
        outcome = fix(_request(repo, tmp_path, kind), events=CancelAt(token, k, delay),
                      caches=Caches(tmp_path / "c.sqlite3"), cancel=token)  # fmt: skip
    except Cancelled:
        (run_dir,) = set(runs.iterdir()) - before
        _assert_clean(repo, run_dir, trees)
        return True
    assert outcome.status == "resolved", outcome.error  # cancelled after the last safe point: the run is done
    assert git(repo, "worktree", "list").count("\n") == 0 and _trees() <= trees
    return False


def test_cancelled_at_twenty_moments_of_a_run_leaves_nothing_behind(tmp_path: Path) -> None:
    repo = example_copy(tmp_path / "inventory", git=True)
    events = EventList()
    whole = fix(_request(repo, tmp_path, "local"), events=events, caches=Caches(tmp_path / "c.sqlite3"))
    assert whole.status == "resolved"
    recorded = [e for e in events.events if e.recorded]
    n = len(recorded)
    stages = [i + 1 for i, e in enumerate(recorded) if isinstance(e, StageStarted)]
    moments = [(1 + round((n - 1) * i / 13), 0.0) for i in range(14)]  # spread over every event of the run
    moments += [(k, d) for k in stages[2:5] for d in (0.3, 0.9)]  # inside the test runs that follow a stage
    assert len(moments) >= 20
    stopped = [_cancelled_run(repo, tmp_path, "local", k, delay) for k, delay in moments]
    assert sum(stopped) >= len(moments) - 2  # only a cancellation after the last test run finds the work done


def test_cancelled_in_docker_leaves_no_container(tmp_path: Path) -> None:
    client = require_docker()
    from repoagent.sandbox.docker_box import leftover_containers

    repo = example_copy(tmp_path / "inventory", git=True)
    events = EventList()
    assert fix(_request(repo, tmp_path, "docker"), events=events, caches=Caches(tmp_path / "c.sqlite3")).ok
    stages = [i + 1 for i, e in enumerate(e for e in events.events if e.recorded) if isinstance(e, StageStarted)]
    for k, delay in [(stages[2], 1.0), (stages[3], 0.5), (stages[4], 0.1)]:
        assert _cancelled_run(repo, tmp_path, "docker", k, delay)
        assert leftover_containers(client) == []


def _start_cli(repo: Path, tmp_path: Path) -> subprocess.Popen[str]:
    (repo / "tests" / "test_slow.py").write_text("import time\n\n\ndef test_slow():\n    time.sleep(60)\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "slow test")
    env = child_env()
    env["REPOAGENT_HOME"] = str(tmp_path / "home")
    exe = Path(sys.executable).with_name("repoagent")
    return subprocess.Popen(
        [str(exe), "fix", "--repo", str(repo), "--issue", f"@{repo}/ISSUE.md", "--sandbox", "local",
         "--test-cmd", "python3 -m pytest -q -p no:cacheprovider tests/test_slow.py",
         "--model", script(tmp_path, [FILES, SYMBOLS, REPRO, GOOD])],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip


def _wait_for_tests(repo: Path, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and "repoagent-tree" not in git(repo, "worktree", "list"):
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    assert "repoagent-tree" in git(repo, "worktree", "list"), "the baseline run never started"
    time.sleep(1.0)  # the slow test is running


def test_sigterm_cleans_up_like_ctrl_c(tmp_path: Path) -> None:
    repo = example_copy(tmp_path / "inventory", git=True)
    trees = _trees()
    proc = _start_cli(repo, tmp_path)
    _wait_for_tests(repo, proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted" in err
    _assert_clean(repo, next((repo / ".repoagent" / "runs").iterdir()), trees)


STUCK = """
import sys, time
from repoagent.cli.main import _watch_signals
from repoagent.cancel import CancelToken
token = CancelToken()
_watch_signals(token, cleanup_seconds=float(sys.argv[1]))
print("ready", flush=True)
while True:  # a cleanup that never ends
    time.sleep(0.05)
"""


def _stuck(cleanup_seconds: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", STUCK, str(cleanup_seconds)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def test_a_second_ctrl_c_quits_at_once() -> None:
    proc = _stuck(60)
    assert proc.stderr is not None
    proc.send_signal(signal.SIGINT)
    assert "cleaning up (Ctrl-C again to quit at once)" in proc.stderr.readline()
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=10) == 130 and time.monotonic() - started < 5
    assert "quitting without cleanup" in proc.stderr.read()


def test_a_cleanup_that_takes_too_long_is_cut_short() -> None:
    proc = _stuck(1.0)
    assert proc.stderr is not None
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 130 and 1.0 <= time.monotonic() - started < 10
    assert "cleanup took too long" in proc.stderr.read()
