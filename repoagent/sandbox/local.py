"""``LocalSandbox``: a subprocess in a temporary worktree, for machines with no container engine.

It is NOT isolated: the code runs as you, can read your files and reach the
network.  What it does give: a copy of the repository (your tree is never
touched), a wall-clock limit that kills the whole process group, memory and
CPU-time limits, and an environment scrubbed of secrets.
"""

from __future__ import annotations

import contextlib
import os
import re
import resource
import signal
import subprocess
import time
from pathlib import Path

from repoagent.core.cancel import CancelToken
from repoagent.sandbox.testrun import JUNIT_PATH, TestRun, parse_junit, trim, with_junit
from repoagent.sandbox.tree import WorkTree

_SECRET = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH|COOKIE|SESSION", re.I)
WARNING = "local sandbox: the tests run on this machine without isolation (no container engine in use)"


def scrubbed_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not _SECRET.search(k)}
    env.update(extra or {})
    return env


class LocalSandbox:
    name = "local"

    def __init__(self, memory_mb: int = 4096, cpu_seconds: int = 3600, cancel: CancelToken | None = None) -> None:
        self.memory_mb = memory_mb
        self.cpu_seconds = cpu_seconds
        self.cancel = cancel or CancelToken()

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
            ["/bin/sh", "-c", full],
            cwd=tree,
            env=scrubbed_env({"PYTHONDONTWRITEBYTECODE": "1"}),
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
