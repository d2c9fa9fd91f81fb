"""``LocalSandbox``: a subprocess in a temporary worktree, for machines with no container engine.

It is NOT isolated: the code runs as you, can read your files and reach the
network.  What it does give:

- a copy of the repository (your tree is never touched);
- a wall-clock limit that holds: at the deadline the keeper (below) kills
  every process the command started, daemons that left its process group
  included, and the run ends a few seconds later at most;
- output to files, never pipes a child could hold open, read back as a head
  and a tail (``capture``), and a cap on what the command prints;
- a cap on what it writes to its worktree and temporary folder, measured
  while it runs;
- memory and process limits for the whole tree of processes where a control
  group can be made (root, or a delegated cgroup); elsewhere memory is limited
  per process (``RLIMIT_AS``) and the number of processes is not;
- an environment of named variables only (no secrets pass unless named).
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

from repoagent.cancel import CancelToken
from repoagent.sandbox.capture import HEAD_TAIL, capture_file, settle
from repoagent.sandbox.cgroups import TreeGroup
from repoagent.sandbox.limits import Limits, disk_reason, junit_reason, memory_reason, output_reason, time_reason
from repoagent.sandbox.tree import WorkTree
from repoagent.testrun import JUNIT_LIMIT, JUNIT_PATH, TestRun, parse_junit, with_junit

WARNING = "local sandbox: the tests run on this machine without isolation (no container engine in use)"
PASSED = ("PATH", "HOME", "LANG", "LANGUAGE", "TZ")  # and every LC_* variable; TMPDIR is the run's own
GRACE = 3.0  # seconds the keeper gets to kill the tree before it is killed itself
WATCH_EVERY = 1.0  # seconds between measures of the disk the run uses
# The test command runs under this small keeper, the leader of its own process group and a child
# subreaper: a daemon that leaves the group (setsid, double fork) is re-parented to the keeper, not to
# init.  When the command ends, or on SIGTERM (the deadline, a limit, or the run that started it dying:
# PR_SET_PDEATHSIG), the keeper kills every process below it until none is left.  The command's own exit
# status or signal is passed on unchanged.
KEEPER = r"""
import ctypes, os, signal, subprocess, sys
def below():
    kids = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat", "rb") as f:
                    stat = f.read()
                kids.setdefault(int(stat[stat.rindex(b")") + 2:].split()[1]), []).append(int(name))
            except (OSError, ValueError, IndexError):
                pass
    out, todo = [], [os.getpid()]
    while todo:
        for kid in kids.get(todo.pop(), []):
            out.append(kid)
            todo.append(kid)
    return out
def clear():
    for _ in range(200):
        pids = below()
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        try:
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
        except ChildProcessError:
            pass
def reap(*_):
    clear()
    os._exit(137)
signal.signal(signal.SIGTERM, reap)
if sys.platform == "linux":
    libc = ctypes.CDLL(None)
    libc.prctl(1, signal.SIGTERM, 0, 0, 0)
    libc.prctl(36, 1, 0, 0, 0)
if os.getppid() != int(sys.argv[2]):
    reap()
code = subprocess.call(["/bin/sh", "-c", sys.argv[1]])
signal.signal(signal.SIGTERM, signal.SIG_IGN)
clear()
if code < 0:
    signal.signal(-code, signal.SIG_DFL)
    os.kill(os.getpid(), -code)
sys.exit(code)
"""


def sandbox_env(pass_env: Iterable[str] = (), extra: dict[str, str] | None = None) -> dict[str, str]:
    """An allow-list, not a deny-list: PATH, HOME and the locale, and the names in ``pass_env``."""
    wanted = set(PASSED) | set(pass_env)
    env = {k: v for k, v in os.environ.items() if k in wanted or k.startswith("LC_")}
    env.update(extra or {})
    return env


def folder_size(*folders: Path) -> int:
    """Bytes in the files under ``folders`` (links not followed)."""
    total = 0
    todo = [str(f) for f in folders]
    while todo:
        try:
            with os.scandir(todo.pop()) as entries:
                for entry in entries:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            todo.append(entry.path)
                        elif entry.is_file(follow_symlinks=False):
                            total += entry.stat(follow_symlinks=False).st_blocks * 512
                    except OSError:
                        continue
        except OSError:
            continue
    return total


class LocalSandbox:
    name = "local"

    def __init__(
        self,
        memory_mb: int = 4096,
        cpu_seconds: int = 3600,
        cancel: CancelToken | None = None,
        pass_env: Iterable[str] = (),
        limits: Limits | None = None,
    ) -> None:
        self.limits = limits or Limits(memory_mb=memory_mb)
        self.cpu_seconds = cpu_seconds
        self.cancel = cancel or CancelToken()
        self.pass_env = tuple(pass_env)

    def describe(self) -> dict[str, object]:
        """What the run's tests got: the kind, no image, and the limits and how each is enforced here."""
        whole_tree = TreeGroup.make(16, 16)
        if whole_tree is not None:
            whole_tree.remove()
        return {
            "kind": self.name,
            "image": None,
            "isolated": False,
            "limits": self.limits.describe()
            | {"memory_scope": "whole tree (cgroup)" if whole_tree else "each process (RLIMIT_AS)",
               "pids_enforced": whole_tree is not None},
        }  # fmt: skip

    def _child(self, group: TreeGroup | None) -> None:  # runs in the child before exec
        if group is not None:
            group.attach_self()
        mem = self.limits.memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
        resource.setrlimit(resource.RLIMIT_CPU, (self.cpu_seconds, self.cpu_seconds))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        most = self.limits.disk_mb * 1024 * 1024  # no single file past the disk cap, even between two measures
        resource.setrlimit(resource.RLIMIT_FSIZE, (most, most))

    def run(
        self, repo: Path, command: str, rev: str | None = None, patch: bytes | None = None, timeout: float = 900
    ) -> TestRun:
        with WorkTree(repo, rev, patch) as tree:
            return self.run_in(tree, command, timeout)

    def run_in(self, tree: Path, command: str, timeout: float) -> TestRun:
        full = with_junit(command)
        scratch = Path(tempfile.mkdtemp(prefix="repoagent-run-"))
        tmp = scratch / "tmp"
        tmp.mkdir()
        out_path, err_path = scratch / "stdout", scratch / "stderr"
        group = TreeGroup.make(self.limits.memory_mb, self.limits.pids)
        started = time.perf_counter()
        run = TestRun(command=command, exit_code=None, seconds=0.0, sandbox=self.name)
        try:
            with out_path.open("wb") as out, err_path.open("wb") as err:
                proc = subprocess.Popen(
                    [sys.executable, "-I", "-S", "-c", KEEPER, full, str(os.getpid())],
                    cwd=tree,
                    env=sandbox_env(self.pass_env, {"PYTHONDONTWRITEBYTECODE": "1", "TMPDIR": str(tmp)}),
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    start_new_session=True,
                    preexec_fn=lambda: self._child(group),
                )
            try:
                self._watch(proc, run, started + timeout, timeout, [tree, tmp], out_path, err_path)
            finally:
                self._stop(proc, group)
            if folder_size(tree, tmp, out_path.parent) >= self.limits.disk_bytes:  # up to the cap, then it ended
                run.hit("disk", disk_reason(self.limits))
            run.seconds = time.perf_counter() - started
            run.exit_code = proc.returncode
            if proc.returncode in (-signal.SIGXFSZ, 128 + signal.SIGXFSZ):
                run.hit("disk", disk_reason(self.limits))
            if group is not None and group.out_of_memory():
                run.hit("memory", memory_reason(self.limits))
            if group is not None and group.out_of_processes():
                run.hit("processes", f"the tests started more than {self.limits.pids} processes (sandbox.pids)")
            self._read(run, tree, out_path, err_path)
        finally:
            if group is not None:
                group.remove()
            shutil.rmtree(scratch, ignore_errors=True)
        run.killed = run.limit in ("memory", "processes") or (run.exit_code is not None and run.exit_code < 0)
        return run

    def _watch(
        self,
        proc: subprocess.Popen,
        run: TestRun,
        deadline: float,
        timeout: float,
        folders: list[Path],
        out_path: Path,
        err_path: Path,
    ) -> None:
        """Wait for the keeper, in short steps: cancellation, the deadline, the output and disk caps."""
        next_walk = 0.0
        while proc.poll() is None:
            self.cancel.check()
            now = time.perf_counter()
            if now >= deadline:
                run.hit("time", time_reason(timeout))
                return
            printed = _size(out_path) + _size(err_path)
            if printed > self.limits.output_bytes:
                run.hit("output", output_reason(self.limits))
                return
            if now >= next_walk:  # the folders are walked less often than the two output files are measured
                next_walk = now + WATCH_EVERY
                if printed + folder_size(*folders) > self.limits.disk_bytes:
                    run.hit("disk", disk_reason(self.limits))
                    return
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=min(0.2, max(0.01, deadline - now)))

    def _stop(self, proc: subprocess.Popen, group: TreeGroup | None) -> None:
        """End the run: the keeper kills the tree (SIGTERM), then the group and the keeper are killed outright."""
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=GRACE)
        with contextlib.suppress(ProcessLookupError):  # what is left in the keeper's group goes too
            os.killpg(proc.pid, signal.SIGKILL)
        if group is not None:
            group.kill()
        proc.wait()

    def _read(self, run: TestRun, tree: Path, out_path: Path, err_path: Path) -> None:
        """Outcomes and output from the files, each read within its cap."""
        junit = tree / JUNIT_PATH
        if junit.is_file() and junit.stat().st_size > JUNIT_LIMIT:
            run.hit("output", junit_reason(JUNIT_LIMIT))
        elif junit.is_file():
            with junit.open("rb") as f:
                run.tests = parse_junit(f)
        settle(run, capture_file(out_path), capture_file(err_path), self.limits)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


__all__ = ["GRACE", "HEAD_TAIL", "KEEPER", "LocalSandbox", "WARNING", "sandbox_env"]
