"""The words of a run's events on the terminal: the pipeline emits data, this module says it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from repoagent.events import Event, StageEnded, StageStarted


def _index(c: dict[str, Any]) -> str:
    line = (
        f"index: {c['files']} files, {c['symbols']} definitions "
        f"({c['parsed']} parsed, {c['reused']} from the cache) in {c['seconds']:.1f} s"
    )
    if c.get("commit"):
        line = f"working on commit {c['commit'][:12]} of {c['repo']}; your working tree is not touched\n{line}"
    return line


def _sandbox(c: dict[str, Any]) -> str:
    installs = f"; install: {'; '.join(c['install'])}" if c.get("install") else ""
    return f"sandbox: {c['sandbox']}; tests: {c['tests']}{installs}"


def _deliver(c: dict[str, Any]) -> str:
    if "applied" in c:
        return f"applied the patch to {c['applied']}"
    return f"committed {c['commit'][:12]} on the new branch {c['branch']}"


STARTED: dict[str, Callable[[dict[str, Any]], str]] = {
    "baseline": lambda c: f"baseline: running {c['tests'] or 'all'} test file(s) on the base revision",
    "reproduce": lambda c: "reproduce: asking for a test that fails on the base revision",
    "generate": lambda c: f"generate: sampling {c['samples']} candidate(s) at temperatures {c['temperatures']}",
    "feedback": lambda c: f"feedback: sending the best failing candidate back (round {c['round']})",
}
ENDED: dict[str, Callable[[dict[str, Any]], str]] = {
    "index": _index,
    "localize": lambda c: f"localize: files {', '.join(c['files'][:3])}; to edit: {', '.join(c['edit']) or 'none'}",
    "sandbox": _sandbox,
    "baseline": lambda c: (
        f"baseline: {c['passed']} passed, {c['failed']} failed, {c['errors']} errors in {c['seconds']} s"
    ),
    "reproduce": lambda c: (
        "reproduce: the test fails on the base revision; kept"
        if c["kept"]
        else "reproduce: no usable reproduction test; going on without one"
    ),
    "untested": lambda c: "going on without tests (loop.untested_when_broken): the patch will be untested",
    "gates": lambda c: f"round {c['round']}: {c['passed']} of {c['candidates']} candidate(s) passed the gates",
    "stopped": lambda c: f"stopped: {c['why']}",
    "end": lambda c: f"{c['status']} in {c['seconds']} s",
    "deliver": _deliver,
}


def words(event: Event) -> str | None:
    """The line a stage event prints (None: it prints nothing)."""
    table = STARTED if isinstance(event, StageStarted) else ENDED if isinstance(event, StageEnded) else {}
    say = table.get(getattr(event, "stage", ""))
    return say(event.counts) if say is not None else None  # type: ignore[attr-defined]
