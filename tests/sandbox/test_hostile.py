"""Issue #28: hostile repositories and inputs, tried as a new user would; each case was seen on earlier code.

Real processes, the real Docker engine, the installed ``repoagent`` command: a
verdict needs evidence, every read is bounded, the sandboxes hold their limits,
nothing escapes to the terminal and nothing is left behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from repoagent.config import load_settings
from repoagent.sandbox.cgroups import TreeGroup
from repoagent.sandbox.docker_box import leftover_containers
from repoagent.sandbox.factory import open_sandbox
from repoagent.sandbox.limits import Limits
from repoagent.sandbox.local import LocalSandbox
from tests.support.cli_helpers import child_env, run_cli
from tests.support.fix_fixtures import script
from tests.support.gitrepo import make_repo
from tests.support.sandbox_fixtures import require_docker

CALC = {
    "calc.py": "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a + b\n",
    "test_calc.py": (
        "from calc import add, sub\n\n\ndef test_add():\n    assert add(2, 3) == 5\n\n\n"
        "def test_sub():\n    assert sub(5, 3) == 2\n"
    ),
}
ISSUE = "sub(5, 3) returns 8 instead of 2: it adds where it should subtract."
WRONG_PATCH = [  # the scripted model picks add and replaces it with a wrong one
    {"when": "# Candidate files", "answer": '{"files": ["calc.py"], "reason": "both functions are there"}'},
    {"when": "# Schematic maps", "answer": '{"symbols": [{"path": "calc.py", "name": "add", "action": "edit"}]}'},
    "### REPLACE calc.py::add\n```python\ndef add(a, b):\n    return 42\n```",
]


def _fix(repo: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return run_cli(
        "fix", "--repo", str(repo), "--issue", ISSUE, "--model", script(tmp_path, WRONG_PATCH),
        "-o", "loop.reproduction_attempts=0", "-o", "loop.max_retries=0", *args,
        home=tmp_path / "home", timeout=600,
    )  # fmt: skip


def _last_json(proc: subprocess.CompletedProcess) -> dict:
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture()
def docker_client():
    client = require_docker()
    yield client
    assert leftover_containers(client) == []


def _calc(tmp_path: Path, sandbox: str, request: pytest.FixtureRequest) -> Path:
    """The calculator's repository, and Docker (with its no-leftover check) when the case runs there."""
    if sandbox == "docker":
        request.getfixturevalue("docker_client")
    repo = tmp_path / "calc"
    make_repo(repo, CALC)
    return repo


@pytest.mark.parametrize("sandbox", ["docker", "local"])
def test_a_pytest_style_project_without_configuration_is_judged_by_pytest(
    sandbox: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Seen: `unittest discover` ran 0 tests, and `return 42` was 'resolved' with exit 0 and the diff on stdout."""
    repo = _calc(tmp_path, sandbox, request)
    proc = _fix(repo, tmp_path, "--sandbox", sandbox)
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout == ""  # only a verified patch goes to stdout
    result = json.loads(next((repo / ".repoagent" / "runs").glob("*/result.json")).read_text())
    assert result["status"] == "unresolved" and "pytest" in result["test_command"]
    assert "pytest-style tests (test_calc.py" in "\n".join(result["environment"])
    chosen = result["loop"]["candidates"][result["loop"]["chosen"]]
    assert chosen["new_failures"] == ["test_calc::test_add"]
    assert result["sandbox"]["kind"] == sandbox


@pytest.mark.parametrize("sandbox", ["docker", "local"])
def test_a_test_command_that_finds_nothing_is_a_broken_environment(
    sandbox: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    repo = _calc(tmp_path, sandbox, request)
    command = "python3 -m unittest discover -v"
    proc = _fix(repo, tmp_path, "--sandbox", sandbox, "--test-cmd", command, "--json")
    assert proc.returncode == 1, proc.stderr
    out = _last_json(proc)
    assert out["status"] == "broken_environment" and not out["resolved"]
    assert f"`{command}` found no test (unittest ran 0 tests)" in out["reason"] and "--test-cmd" in out["reason"]
    assert out["candidates"] == 0  # nothing was scored against a baseline that judged nothing
    plain = _fix(repo, tmp_path, "--sandbox", sandbox, "--test-cmd", command)
    assert plain.returncode == 1 and plain.stdout == ""


@pytest.mark.parametrize("source", ["/dev/zero", "big"])
def test_an_issue_file_that_is_not_a_small_regular_file_is_refused_in_one_line(source: str, tmp_path: Path) -> None:
    repo = tmp_path / "calc"
    make_repo(repo, CALC)
    path = Path(source)
    if source == "big":
        path = tmp_path / "issue.md"
        with path.open("wb") as f:  # 50 MB, sparse
            f.truncate(50 * 1024 * 1024)
    started = time.monotonic()
    proc = run_cli(
        "fix", "--repo", str(repo), "--issue", f"@{path}", "--model", script(tmp_path, WRONG_PATCH),
        home=tmp_path / "home", timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2 and time.monotonic() - started < 60
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    why = "is not a regular file" if source == "/dev/zero" else "has 52428800 bytes, more than 1000000 (inputs."
    assert why in lines[0], lines[0]
    assert not (repo / ".repoagent").exists()  # refused before any work
    small = tmp_path / "small.md"
    small.write_text("x" * 2000)
    proc = run_cli(
        "localize", "--repo", str(repo), "--issue", f"@{small}", "--no-llm", "-o", "inputs.max_issue_bytes=1000",
        home=tmp_path / "home",
    )  # fmt: skip
    assert proc.returncode == 2 and "more than 1000 (inputs.max_issue_bytes)" in proc.stderr


def _peak_rss(proc: subprocess.Popen) -> int:
    """The process's peak resident set (VmHWM, kB), read until it exits."""
    peak = 0
    while proc.poll() is None:
        try:
            for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        except (OSError, ValueError):
            pass
        time.sleep(0.1)
    return peak


def test_two_gigabytes_on_stdout_stream_through_a_bounded_buffer(docker_client, tmp_path: Path) -> None:
    """Seen: 2 GB of test output took repoagent to 6.65 GB of memory."""
    repo = tmp_path / "calc"
    make_repo(repo, CALC)
    flood = "head -c 2000000000 /dev/zero | tr '\\0' y; echo; echo 'ok 1 - still here'"
    env = {**child_env(), "REPOAGENT_HOME": str(tmp_path / "home")}
    exe = str(Path(sys.executable).with_name("repoagent"))
    args = [exe, "test", "--repo", str(repo), "--sandbox", "docker", "--test-cmd", flood, "--json"]
    proc = subprocess.Popen(args + ["-o", "sandbox.output_mb=4096"], stdout=subprocess.PIPE, env=env)
    peak_kb = _peak_rss(proc)
    out = json.loads(proc.stdout.read().decode().strip().splitlines()[-1])
    assert proc.returncode == 0 and out["passed"] == 1 and out["limit"] is None, out  # all 2 GB went through
    assert 0 < peak_kb < 300 * 1024, f"repoagent peaked at {peak_kb} kB"
    capped = run_cli(*args[1:], home=tmp_path / "home")  # the default cap: 256 MB, then the run is stopped
    assert capped.returncode == 1 and json.loads(capped.stdout)["limit"] == (
        "the tests printed more than 256 MB (sandbox.output_mb)"
    )


def test_the_local_sandbox_keeps_a_head_and_a_tail_and_stops_past_the_output_cap(tmp_path: Path) -> None:
    repo = tmp_path / "calc"
    make_repo(repo, CALC)
    noisy = "echo FIRST; head -c 300000000 /dev/zero | tr '\\0' y; echo; echo LAST; echo 'ok 1 - x'"
    run = LocalSandbox(limits=Limits(output_mb=512, disk_mb=1024)).run(repo, noisy, timeout=120)
    assert run.limit == "" and run.passed == 1 and run.output_bytes > 300_000_000
    assert run.stdout.startswith("FIRST") and "LAST" in run.stdout[-100:] and "characters cut" in run.stdout
    stopped = LocalSandbox(limits=Limits(output_mb=100)).run(repo, noisy, timeout=120)
    assert stopped.limit == "output" and not stopped.evidence


@pytest.mark.parametrize("sandbox", ["docker", "local"])
def test_a_test_that_fills_the_disk_is_stopped_at_the_limit(
    sandbox: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Seen: a test writing 20 GB grew the host's disk by 5.7 GB in 20 s before it was stopped by hand."""
    repo = _calc(tmp_path, sandbox, request)
    fill = "dd if=/dev/zero of=filler bs=1M count=20000 2>/dev/null; echo 'ok 1 - wrote it all'"
    started = time.monotonic()
    proc = run_cli(
        "test", "--repo", str(repo), "--sandbox", sandbox, "--test-cmd", fill, "--json",
        "-o", "sandbox.disk_limit=200M", home=tmp_path / "home", timeout=300,
    )  # fmt: skip
    out = json.loads(proc.stdout)
    assert proc.returncode == 1 and time.monotonic() - started < 120
    assert out["limit"] == "the tests wrote more than 200 MB (sandbox.disk_limit)", out
    assert "the tests were stopped" in proc.stderr
    if sandbox == "docker":  # /tmp is a tmpfs of its own size: a write past it fails in the test
        tmp_fill = "dd if=/dev/zero of=/tmp/filler bs=1M count=2000 2>&1 | tail -1; echo 'ok 1 - done'"
        box = open_sandbox(load_settings(None, ["sandbox.tmp_mb=64"], env={}).sandbox, "docker")
        assert box is not None
        run = box.run(repo, tmp_fill, timeout=120)
        assert run.stdout.startswith(f"{64 * 2**20} bytes") and run.passed == 1  # dd stopped at 64 MiB


def test_a_daemonised_grandchild_does_not_outlive_the_deadline(tmp_path: Path) -> None:
    """Seen: `--timeout 10` gave 91.3 s, and after SIGTERM "cleanup took too long" with `sleep 91` still running."""
    repo = tmp_path / "calc"
    make_repo(repo, CALC)
    marker = f"repoagent-daemon-{uuid.uuid4().hex[:8]}"
    daemon = (
        "python3 -c 'import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
        f"        time.sleep(300)\n    os._exit(0)' {marker}"
    )
    started = time.monotonic()
    proc = run_cli(
        "test", "--repo", str(repo), "--sandbox", "local", "--timeout", "5", "--test-cmd", f"{daemon}; sleep 300",
        home=tmp_path / "home", timeout=60,
    )  # fmt: skip
    assert time.monotonic() - started < 15, proc.stderr
    assert proc.returncode == 1 and "did not finish within 5 s" in proc.stderr
    assert subprocess.run(["pgrep", "-f", marker], capture_output=True).stdout == b""
    started = time.monotonic()  # a daemon left by a command that ends at once goes with it
    run = LocalSandbox().run(repo, f"{daemon}; echo 'ok 1 - quick'", timeout=60)
    assert run.passed == 1 and time.monotonic() - started < 15
    assert subprocess.run(["pgrep", "-f", marker], capture_output=True).stdout == b""


def test_memory_and_processes_are_limited_for_the_whole_tree_of_the_local_sandbox(tmp_path: Path) -> None:
    """Seen: the memory limit was per process (3 x 2.5 GB got through) and there was no process limit."""
    group = TreeGroup.make(64, 16)
    assert group is not None, "as root (as in CI) a control group can be made"
    group.remove()
    repo = tmp_path / "calc"
    make_repo(repo, CALC)
    hog = "python3 -c 'import time; x = bytearray(150 * 2**20); time.sleep(20)'"
    run = LocalSandbox(limits=Limits(memory_mb=300)).run(repo, f"{hog} & {hog} & {hog} & wait", timeout=60)
    assert run.limit == "memory" and "300 MB" in run.limit_reason, run
    forks = "for i in $(seq 100); do sleep 30 & done; wait"
    run = LocalSandbox(limits=Limits(pids=20)).run(repo, forks, timeout=60)
    assert run.limit == "processes" and "20 processes" in run.limit_reason, run


def test_with_json_and_no_base_image_the_fallback_is_said_on_stderr_and_recorded(tmp_path: Path) -> None:
    """Seen: `--sandbox auto --json` ran the tests unisolated and said nothing; the JSON had no `sandbox`."""
    repo = tmp_path / "calc"
    make_repo(repo, CALC)
    missing = ("-o", "sandbox.image=repoagent-base:nonexistent")
    quiet = _fix(repo, tmp_path, "--sandbox", "auto", "--quiet", *missing)
    as_json = _fix(repo, tmp_path, "--sandbox", "auto", "--json", *missing)
    for proc in (quiet, as_json):
        assert "without isolation" in proc.stderr and "Docker sandbox unavailable" in proc.stderr, proc.stderr
    assert "localize: files" not in quiet.stderr + as_json.stderr  # the progress lines stay quiet
    out = _last_json(as_json)
    assert out["sandbox"]["kind"] == "local" and out["sandbox"]["isolated"] is False
    assert out["sandbox"]["limits"]["disk_mb"] == 2048 and out["sandbox"]["limits"]["output_mb"] == 256
    result = json.loads((Path(out["run_dir"]) / "result.json").read_text())
    assert result["sandbox"] == out["sandbox"]
    assert "NOT isolated" in (Path(out["run_dir"]) / "report.html").read_text()
    refused = _fix(repo, tmp_path, "--json", *missing, "-o", "sandbox.require_isolation=true")
    assert refused.returncode == 2 and "require_isolation" in refused.stderr and refused.stdout == ""


def test_escape_sequences_in_test_output_never_reach_the_terminal(tmp_path: Path) -> None:
    """Seen: `repoagent test` echoed a window title, a screen clear, a status query, OSC 52 and the alternate screen."""
    repo = tmp_path / "calc"
    make_repo(repo, CALC)
    hostile = (
        r"printf '\033]0;owned\007\033[2J\033[6n\033]52;c;aGVsbG8=\007\033[?1049h'; "
        r"echo; printf 'not ok 1 - \033]52;c;d29ybGQ=\007 named\n'"
    )
    for args in ((), ("--json",)):
        proc = run_cli(
            "test", "--repo", str(repo), "--sandbox", "local", "--test-cmd", hostile, *args,
            home=tmp_path / "home", text=False,
        )  # fmt: skip
        assert proc.returncode == 1
        assert b"\x1b" not in proc.stdout and b"\x07" not in proc.stdout and b"\x1b" not in proc.stderr
    assert (
        b"\\x1b]52;c;d29ybGQ=\\x07 named"
        in run_cli(
            "test", "--repo", str(repo), "--sandbox", "local", "--test-cmd", hostile, home=tmp_path / "home", text=False
        ).stdout
    )
    no_tests = run_cli(
        "test", "--repo", str(repo), "--sandbox", "local", "--test-cmd", hostile.split("; echo;")[0],
        home=tmp_path / "home", text=False,
    )  # fmt: skip
    assert b"\x1b" not in no_tests.stdout + no_tests.stderr and b"\\x1b[?1049h" in no_tests.stdout


def test_a_container_left_by_a_run_killed_with_9_is_removed_by_the_next_run(docker_client, tmp_path: Path) -> None:
    """Seen: after kill -9 the test container ran on, and the next run did not remove it."""
    repo = tmp_path / "calc"
    make_repo(repo, CALC)
    env = {**child_env(), "REPOAGENT_HOME": str(tmp_path / "home")}
    exe = str(Path(sys.executable).with_name("repoagent"))
    proc = subprocess.Popen(
        [exe, "test", "--repo", str(repo), "--sandbox", "docker", "--test-cmd", "sleep 300"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any(c.status == "running" for c in leftover_containers(docker_client)):
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    left = leftover_containers(docker_client)
    assert [c.status for c in left] == ["running"]  # the killed run could not remove it
    again = run_cli(
        "test", "--repo", str(repo), "--sandbox", "docker", "--test-cmd", "echo 'ok 1 - alive'", home=tmp_path / "home"
    )
    assert again.returncode == 0, again.stderr
    assert leftover_containers(docker_client) == []


def test_a_concurrent_run_keeps_its_container(docker_client, tmp_path: Path) -> None:
    """The clean-up removes only containers whose maker is gone: a run going on beside it keeps its own."""
    repo = tmp_path / "calc"
    make_repo(repo, CALC)
    settings = load_settings(None, [], env={}).sandbox
    box = open_sandbox(settings, "docker")
    assert box is not None
    result: dict = {}
    worker = threading.Thread(
        target=lambda: result.update(run=box.run(repo, "sleep 4; echo 'ok 1 - kept'", timeout=60))
    )
    worker.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not leftover_containers(docker_client):
        time.sleep(0.1)
    open_sandbox(settings, "docker")  # another run starts: it cleans up
    worker.join()
    assert result["run"].passed == 1


def test_tests_in_docker_run_as_a_user_without_capabilities(docker_client, tmp_path: Path) -> None:
    """Seen: tests ran as root with Docker's default capabilities (CapEff 00000000a80425fb, NoNewPrivs 0)."""
    repo = tmp_path / "calc"
    make_repo(repo, CALC)
    box = open_sandbox(load_settings(None, [], env={}).sandbox, "docker")
    assert box is not None
    probe = "id -u; id -g; grep -E 'CapEff|NoNewPrivs' /proc/self/status; touch written && echo 'ok 1 - writes'"
    run = box.run(repo, probe, timeout=60)
    lines = run.stdout.split()
    assert lines[:2] == ["1000", "1000"], run.stdout
    assert "0000000000000000" in run.stdout and "NoNewPrivs:\t1" in run.stdout.replace("NoNewPrivs: ", "NoNewPrivs:\t")
    assert run.passed == 1  # the code is the user's to write in
    assert box.describe()["user"] == "1000:1000" and box.describe()["isolated"] is True


def test_the_disk_limit_takes_a_size_with_or_without_a_unit() -> None:
    def disk(value: str) -> int:
        return load_settings(None, [f"sandbox.disk_limit={value}"], env={}).sandbox.disk_limit

    assert [disk("2G"), disk("500M"), disk("1.5g"), disk("4096"), disk("2GiB")] == [2048, 500, 1536, 4096, 2048]
    assert load_settings(None, [], env={}).sandbox.disk_limit == 2048
    with pytest.raises(Exception, match="is not a size"):
        disk("lots")
    assert Limits.of(load_settings(None, ["sandbox.disk_limit=3G"], env={}).sandbox).disk_bytes == 3 * 2**30


def test_a_junit_report_past_its_cap_is_not_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Seen: a 1.5 GB JUnit file took repoagent to 3.2 GB."""
    import repoagent.sandbox.local as local

    monkeypatch.setattr(local, "JUNIT_LIMIT", 1024 * 1024)
    repo = tmp_path / "calc"
    make_repo(repo, CALC)
    case = '<testcase classname="t" name="x"/>'
    write = f"python3 -c \"open('.repoagent-junit.xml', 'w').write('<testsuite>' + '{case}' * 40000 + '</testsuite>')\""
    run = LocalSandbox().run(repo, write, timeout=60)
    assert run.limit == "output" and "JUnit report is larger than 1 MB" in run.limit_reason and run.tests == []


def test_a_run_with_no_outcome_from_the_cli_test_command_fails(tmp_path: Path) -> None:
    repo = tmp_path / "calc"
    make_repo(repo, CALC)
    proc = run_cli(
        "test", "--repo", str(repo), "--sandbox", "local", "--test-cmd", "python3 -m unittest discover -v",
        home=tmp_path / "home",
    )  # fmt: skip
    assert proc.returncode == 1 and "no test outcome was read" in proc.stderr and "unittest ran 0 tests" in proc.stderr
    assert os.path.isdir(repo)


@pytest.mark.parametrize("allowed", [False, True])
@pytest.mark.parametrize("kind", ["auto", "docker", "local", "none"])
def test_the_app_never_falls_back_to_the_local_sandbox_unasked(kind: str, allowed: bool) -> None:
    """The App's jobs require isolation unless the operator set allow_unsandboxed (issue #29 builds on it)."""
    from repoagent.github_app.jobs import Context
    from repoagent.github_app.settings import load_app_settings

    settings = load_app_settings(None, [f"sandbox={kind}", f"allow_unsandboxed={str(allowed).lower()}"], env={})
    ctx = Context(settings, None, None, None, None)  # type: ignore[arg-type]  # only the settings are read
    fix = ctx.fix_settings()
    assert fix.sandbox.kind == kind and fix.sandbox.require_isolation is not allowed
