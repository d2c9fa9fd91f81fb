"""Is the test environment broken?  Read from the baseline run, before any candidate is scored against it.

A baseline that names no test at all (unittest's "Ran 0 tests", pytest's "no
tests ran", a runner whose lines name no test) is broken too: nothing could
be judged against it.

A baseline that cannot collect or import the tests (a third-party module
missing, a pytest plugin or option the environment lacks, an internal error,
a command not found) would make every candidate look alike, or wrong.  A
module of the repository itself that fails to import is not the environment:
it may well be the bug being fixed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from repoagent.errors import EnvironmentBuildError
from repoagent.pipeline.choose import missing_evidence
from repoagent.pipeline.tester import Tester
from repoagent.testrun import TestRun, is_pytest

# "ModuleNotFoundError: No module named 'x'" from an import; "python3: No module named x" from python -m x
_MISSING = re.compile(
    r"(?:(?:ModuleNotFoundError|ImportError): No module named '([\w.]+)'|^\S*python[\d.]*: No module named ([\w.]+)$)",
    re.M,
)
_USAGE = re.compile(r"^(?:ERROR: usage:|error: unrecognized arguments|ImportError while loading conftest).*$", re.M)


@dataclass
class Baseline:
    """The selected tests on the base revision: what failed before, or why nothing can be judged against it."""

    run: TestRun | None = None
    failing: set[str] = field(default_factory=set)
    limit: str = ""  # a sandbox limit stopped it (in words)
    problem: str = ""  # the test environment is broken (in words)


def run_baseline(tester: Tester, tests: list[str], files: Iterable[str]) -> Baseline:
    """Run ``tests`` (all when none) on the base revision; ``files`` are the repository's (its own modules)."""
    tester.stages.start("baseline", tests=len(tests))
    try:
        run = tester.run(tests, None, "baseline")
    except EnvironmentBuildError as exc:
        return Baseline(problem=str(exc))
    failing = {t.name for t in run.tests if t.outcome in ("failed", "error")}
    tester.stages.end("baseline", **run.summary())
    if run.limit or run.timed_out:
        return Baseline(run, failing, limit=missing_evidence(run))
    return Baseline(run, failing, problem=environment_problem(run, run.command, own_modules(files)) or "")


def own_modules(paths: Iterable[str]) -> set[str]:
    """Top-level module names the repository defines (``pkg/``, ``mod.py``, ``src/pkg/``)."""
    names = set()
    for path in paths:
        parts = PurePosixPath(path).parts
        if parts and parts[0] in ("src", "lib") and len(parts) > 1:
            parts = parts[1:]
        if parts and path.endswith(".py"):
            names.add(PurePosixPath(parts[0]).stem)
    return names


def environment_problem(run: TestRun, command: str, modules: set[str]) -> str | None:
    """Why the environment, not the code, kept the baseline's tests from running; None when it did not."""
    out = f"{run.stdout}\n{run.stderr}"
    named = {a or b for a, b in _MISSING.findall(out)}
    missing = sorted(m for m in named if m.split(".")[0] not in modules)
    how = (
        f"the command was `{command}`; give the project's test dependencies with --install 'pip install ...' "
        "(or sandbox.install), or another command with --test-cmd"
    )
    if missing:
        return f"the tests cannot import {', '.join(repr(m) for m in missing)} (not installed); {how}"
    if run.exit_code == 127:
        return f"the test command was not found (exit 127); {how}"
    if is_pytest(command) and run.exit_code in (3, 4):
        usage = _USAGE.search(out)
        what = usage.group(0).strip() if usage else f"pytest exit code {run.exit_code} (internal or usage error)"
        return f"pytest could not start: {what}; {how}"
    if is_pytest(command) and run.exit_code == 5:
        return f"pytest collected no test; {how}"
    own_broken = any(m.split(".")[0] in modules for m in named)  # maybe the bug itself
    if not run.tests and not run.limit and not run.timed_out and not own_broken:
        said = run.no_tests or "no test outcome could be read from its output"
        return (
            f"the test command `{command}` found no test ({said}), so no candidate could be judged; "
            "pass the project's test command with --test-cmd"
        )
    return None
