"""Run folders: everything one fix did, on disk, as it happens.

``RUNS/<id>/`` holds ``trajectory.jsonl`` (one record per event the run
emitted: each stage, model call and test run, with seconds since the start),
``candidates/`` (one diff per candidate), ``tests/`` (each test run),
``patch.diff``, ``result.json`` and ``report.html``.  A ``RunFolder`` is an
event sink: records are appended and flushed as they happen, so an
interrupted run keeps everything up to the interruption.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from repoagent.config import Settings
from repoagent.events import Event
from retrieval.git import git_out
from retrieval.source import is_git_repo


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)


def runs_root(settings: Settings, repo: Path) -> Path:
    """The configured folder; else REPO/.repoagent/runs for a working tree or folder; else (bare) STATE_DIR/runs."""
    if settings.runs_dir:
        return Path(settings.runs_dir).expanduser()
    git = is_git_repo(repo)
    if not (git and git_out(repo, "rev-parse", "--is-bare-repository") == "true"):
        if git:
            _exclude(repo)
        return repo / ".repoagent" / "runs"
    return settings.resolved_state_dir() / "runs"


def _exclude(repo: Path) -> None:
    """Keep ``.repoagent/`` out of ``git status`` of a repository without touching tracked files."""
    git_dir = git_out(repo, "rev-parse", "--git-common-dir")
    if not git_dir:
        return
    exclude = repo / git_dir / "info" / "exclude"  # an absolute git_dir replaces repo
    text = exclude.read_text() if exclude.exists() else ""
    if ".repoagent/" not in text.split():
        exclude.parent.mkdir(parents=True, exist_ok=True)
        exclude.write_text(text + ("" if text.endswith("\n") or not text else "\n") + ".repoagent/\n")


def safe_name(text: str) -> str:
    return re.sub(r"[^\w.-]+", "-", text).strip("-")[:60] or "run"


class RunFolder:
    def __init__(self, root: Path, run_id: str | None = None) -> None:
        self.id = run_id or new_run_id()
        self.path = Path(root) / self.id
        self.path.mkdir(parents=True, exist_ok=False)
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self._trajectory = (self.path / "trajectory.jsonl").open("a", encoding="utf-8")
        self._tests = 0

    def emit(self, event: Event) -> None:
        if event.recorded:
            self.record(event.to_record())

    def record(self, event: dict[str, Any]) -> None:
        """Append one record; test runs are also written to ``tests/``."""
        line = {"t": round(time.monotonic() - self.started, 3), **event}
        with self._lock:
            if self._trajectory.closed:  # a late event from an abandoned call, after the run ended
                return
            self._trajectory.write(json.dumps(line, default=str) + "\n")
            self._trajectory.flush()
            if event.get("type") == "test":
                self._tests += 1
                name = f"tests/{self._tests:02d}-{safe_name(str(event.get('label', 'run')))}.json"
                self.write_json(name, line)

    def write_text(self, name: str, text: str) -> Path:
        path = self.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", errors="surrogateescape")
        return path

    def write_json(self, name: str, data: Any) -> Path:
        return self.write_text(name, json.dumps(data, indent=2, default=str) + "\n")

    def close(self) -> None:
        with self._lock:
            self._trajectory.close()


def read_trajectory(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / "trajectory.jsonl"
    events = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if path.exists() else []:
        try:
            events.append(json.loads(line))
        except ValueError:  # a line cut by an interruption
            continue
    return events
