"""``LocalSandbox``: a subprocess in a temporary worktree, for machines with no container engine.

It is NOT isolated: the code runs as you, can read your files and reach the
network.  What it does give: a copy of the repository (your tree is never
touched), a wall-clock limit that kills the whole process group, memory and
CPU-time limits, an environment of named variables only (no secrets pass
unless named), and a test process that dies with the run.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

from repoagent.core.cancel import CancelToken
from repoagent.sandbox.testrun import JUNIT_PATH, TestRun, parse_junit, trim, with_junit
from repoagent.sandbox.tree import WorkTree

WARNING = "local sandbox: the tests run on this machine without isolation (no container engine in use)"
PASSED = ("PATH", "HOME", "LANG", "LANGUAGE", "TMPDIR", "TZ")  # and every LC_* variable
# The test command runs under this small keeper, the leader of its own process group: when the run
# that started it dies (even by kill -9), Linux sends the keeper SIGTERM (PR_SET_PDEATHSIG) and it
# kills the whole group.  The command's own exit status or signal is passed on unchanged.
KEEPER = """
import ctypes, os, signal, subprocess, sys
def reap(*_):
    os.killpg(0, signal.SIGKILL)
signal.signal(signal.SIGTERM, reap)
if sys.platform == "linux":
    ctypes.CDLL(None).prctl(1, signal.SIGTERM, 0, 0, 0)
if os.getppid() != int(sys.argv[2]):
    reap()
code = subprocess.call(["/bin/sh", "-c", sys.argv[1]])
if code < 0:
    signal.signal(-code, signal.SIG_DFL)
    os.kill(os.getpid(), -code)
sys.exit(code)
"""


def sandbox_env(pass_env: Iterable[str] = (), extra: dict[str, str] | None = None) -> dict[str, str]:
    """An allow-list, not a deny-list: PATH, HOME, the locale and TMPDIR, and the names in ``pass_env``."""
    wanted = set(PASSED) | set(pass_env)
    env = {k: v for k, v in os.environ.items() if k in wanted or k.startswith("LC_")}
    env.update(extra or {})
    return env


class LocalSandbox:
    name = "local"

    def __init__(
        self,
        memory_mb: int = 4096,
        cpu_seconds: int = 3600,
        cancel: CancelToken | None = None,
        pass_env: Iterable[str] = (),
    ) -> None:
        self.memory_mb = memory_mb
        self.cpu_seconds = cpu_seconds
        self.cancel = cancel or CancelToken()
        self.pass_env = tuple(pass_env)

    def _limits(self) -> None:  # runs in the child before exec
        mem = self.memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
        resource.setrlimit(resource.RLIMIT_CPU, (self.cpu_seconds, self.cpu_seconds))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    def run(
        self, repo: Path, command: str, rev: str | None = None, patch: bytes | None = None, timeout: float = 900
    ) -> TestRun:
        with WorkTree(repo, rev, patch) as tree:
            return self.run_in(tree, command, timeout)

    def run_in(self, tree: Path, command: str, timeout: float) -> TestRun:
        full = with_junit(command)
        started = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", KEEPER, full, str(os.getpid())],
            cwd=tree,
            env=sandbox_env(self.pass_env, {"PYTHONDONTWRITEBYTECODE": "1"}),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            preexec_fn=self._limits,
        )
        timed_out = False
        deadline = started + timeout
        try:
            while True:  # short waits, so a cancelled run stops the tests at once
                try:
                    out, err = proc.communicate(
                        timeout=max(0.01, min(self.cancel.POLL, deadline - time.perf_counter()))
                    )
                    break
                except subprocess.TimeoutExpired:
                    self.cancel.check()
                    if time.perf_counter() >= deadline:
                        timed_out = True
                        os.killpg(proc.pid, signal.SIGKILL)
                        out, err = proc.communicate()
                        break
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
        finally:
            try:  # children left behind in the group go too
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        junit = tree / JUNIT_PATH
        return TestRun(
            command=command,
            exit_code=proc.returncode,
            seconds=time.perf_counter() - started,
            tests=parse_junit(junit.read_bytes()) if junit.exists() else [],
            stdout=trim(out.decode("utf-8", errors="replace")),
            stderr=trim(err.decode("utf-8", errors="replace")),
            timed_out=timed_out,
            killed=proc.returncode is not None and proc.returncode < 0,
            sandbox=self.name,
        )
