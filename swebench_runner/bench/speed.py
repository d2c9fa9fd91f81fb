"""``repoagent bench speed``: the time and peak memory of one ``repoagent localize --no-llm`` call, as a user runs it.

Each call is a new process (imports, model loading and all), first with an
empty home (nothing cached: parse, embed, retrieve), then again and again with
the cache that call left (warm).  A machine's speed varies from minute to minute
(a quarter either way on a shared two-core one), so the cold call can be made
several times, each in an empty home of its own, and its median reported.  A
call's peak memory is its own resident set, read from the kernel's accounting
of that child alone (``wait4``).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# The goals of a call on a large repository (django at a SWE-bench Lite base commit, 2,700 Python files).
GOALS = {"warm_seconds": 1.0, "cold_seconds": 6.0, "peak_mb": 1024.0}


def timed_call(argv: list[str], env: dict[str, str], timeout: float) -> dict[str, Any]:
    """Run ``argv``; its wall seconds, peak resident megabytes, exit code and the end of its stderr."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, env=env)
        deadline = started + timeout
        while True:  # wait4 reaps the child and gives its own rusage (getrusage would mix all children)
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                proc.kill()
            time.sleep(0.02)
        seconds = time.monotonic() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        tail = err.read().decode(errors="replace")[-800:]
        out.seek(0)
        steps = _steps(out.read())
    return {
        "seconds": round(seconds, 2),
        "peak_mb": round(usage.ru_maxrss / 1024, 1),  # Linux reports kilobytes
        "exit_code": proc.returncode,
        **({"steps": steps} if steps else {}),
        **({"stderr": tail} if proc.returncode else {}),
    }


def _steps(stdout: bytes) -> dict[str, Any]:
    """The call's own breakdown (``localize --json``'s ``steps``): seconds, peak MB and counts by step."""
    try:
        steps = json.loads(stdout).get("steps") or []
    except (ValueError, AttributeError):
        return {}
    return {s["name"]: {k: v for k, v in s.items() if k != "name"} for s in steps}


def bench_speed(
    repo: Path, rev: str | None, issue: str, warm_runs: int = 3, timeout: float = 900, cold_runs: int = 1
) -> dict[str, Any]:
    """``cold_runs`` cold calls, each in a home of its own, then ``warm_runs`` warm ones in the last one's home;
    the figures (the median cold and warm call), with the goals and whether each is met."""
    argv = [sys.executable, "-m", "repoagent.cli.main", "localize", "--repo", str(repo), "--no-llm", "--json"]
    argv += ["--issue", issue] + (["--rev", rev] if rev else [])
    colds: list[dict[str, Any]] = []
    warm: list[dict[str, Any]] = []
    runs = max(cold_runs, 1)
    for run in range(runs):
        with tempfile.TemporaryDirectory(prefix="repoagent-speed-") as home:
            env = {**os.environ, "REPOAGENT_HOME": home, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
            # as a user's calls run: Python keeps its compiled modules (a shell that says otherwise would add the
            # compiling of every module to every call)
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            colds.append(timed_call(argv, env, timeout))
            if run == runs - 1:
                warm = [timed_call(argv, env, timeout) for _ in range(warm_runs)]
    calls = [*colds, *warm]
    failed = [c for c in calls if c["exit_code"]]
    cold = _median_call(colds)
    figures = {
        "cold_seconds": cold["seconds"],
        "cold_runs": [c["seconds"] for c in colds],
        "warm_seconds": statistics.median(c["seconds"] for c in warm) if warm else None,
        "peak_mb": max(c["peak_mb"] for c in calls),
        "cold_peak_mb": max(c["peak_mb"] for c in colds),
        "warm_peak_mb": max((c["peak_mb"] for c in warm), default=None),
        "cold_steps": cold.get("steps", {}),
        "warm_steps": _median_call(warm).get("steps", {}) if warm else {},
    }
    met = {k: figures[k] is not None and not failed and figures[k] <= goal for k, goal in GOALS.items()}
    return {**figures, "goals": GOALS, "met": met, "calls": calls, "failed": len(failed)}


def _median_call(calls: list[dict[str, Any]]) -> dict[str, Any]:
    """The call of the median seconds (the lower middle one of an even number): its figures are one call's."""
    return sorted(calls, key=lambda c: c["seconds"])[(len(calls) - 1) // 2]
