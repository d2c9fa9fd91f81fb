"""The output folder's record of finished instances, safe against a kill at any moment.

``outcomes.jsonl`` is the journal: one line per finished instance, appended,
flushed and synced to disk as soon as the instance ends.  A line cut by a
kill is ignored (that instance runs again); a later line for the same
instance (a retried error) replaces the earlier one.  ``predictions.jsonl`` is
never appended to: it is rewritten from the journal (to a temporary file, then
renamed over the old one), so it always has exactly one line per finished
instance, whenever the run stops.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

OUTCOMES = "outcomes.jsonl"
PREDICTIONS = "predictions.jsonl"
ERROR_STATUSES = ("error", "interrupted")


class InstanceRow(BaseModel):
    """One finished instance: its line in ``outcomes.jsonl``, written with the fields that were set.

    Made by the worker (the ``PredictionRow`` hook fills it from the outcome), completed by the batch (the gold
    files' ranks), read back by resumes and the summary; fields this version does not name are kept."""

    model_config = ConfigDict(extra="allow")

    instance_id: str
    repo: str = ""
    status: str = "error"
    patch: str = ""
    error: str = ""
    error_kind: str = ""  # exception, timeout, cancelled, model, worker
    stopped: str = ""
    reason: str = ""
    cost: float = 0.0
    tokens: int = 0
    calls: int = 0
    sandbox: str = ""
    run_id: str = ""
    seconds: float = 0.0
    retrieval_seconds: float | None = None  # of the localization: index, lists, ranker (Localization's steps)
    ranked_files: list[str] = Field(default_factory=list)
    edit_locations: list[str] = Field(default_factory=list)
    gold_ranks: dict[str, int | None] = Field(default_factory=dict)
    environment: dict[str, Any] = Field(default_factory=dict)
    missing_files: list[str] | None = None  # the files a partial mirror could not give
    oracle_check: dict[str, Any] | None = None
    oracle_form: str | None = None
    trace: str | None = None
    worker_peak_mb: float | None = None
    worker_pid: int | None = None

    @property
    def is_error(self) -> bool:
        """An instance that ended in an error (an exception, a timeout, a model outage, a lost worker)."""
        return ended_in_error(self.status, self.error_kind)

    def line(self) -> dict[str, Any]:
        """What ``outcomes.jsonl`` holds: the fields that were set (and the unnamed ones kept)."""
        return self.model_dump(mode="json", exclude_unset=True)


class Journal:
    def __init__(self, out: Path) -> None:
        self.out = Path(out)
        self.path = self.out / OUTCOMES

    def read(self) -> dict[str, InstanceRow]:
        """The last recorded row of each instance (cut lines skipped, and rows that are not an instance's)."""
        rows = {}
        for iid, row in read_rows(self.path).items():
            try:
                rows[iid] = InstanceRow.model_validate(row)
            except ValidationError:  # a row no version of the worker writes: that instance runs again
                continue
        return rows

    def append(self, row: InstanceRow) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        data = (json.dumps(row.line()) + "\n").encode("utf-8", errors="surrogateescape")
        with open(self.path, "ab") as sink:
            if sink.tell() and not self._ends_with_newline():
                sink.write(b"\n")  # a line cut by a kill stays cut; this one starts clean
            sink.write(data)
            sink.flush()
            os.fsync(sink.fileno())

    def _ends_with_newline(self) -> bool:
        with open(self.path, "rb") as f:
            f.seek(-1, os.SEEK_END)
            return f.read(1) == b"\n"

    def clear(self) -> None:
        for name in (OUTCOMES, PREDICTIONS):
            (self.out / name).unlink(missing_ok=True)


def read_rows(path: Path) -> dict[str, dict[str, Any]]:
    """The last row of each instance in a JSON-lines file; a line cut by a kill is skipped (that one is redone)."""
    rows: dict[str, dict[str, Any]] = {}
    if not path.exists():
        return rows
    for line in path.read_bytes().splitlines():
        try:
            row = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue
        if isinstance(row, dict) and row.get("instance_id"):
            rows[row["instance_id"]] = row
    return rows


def ended_in_error(status: str | None, error_kind: str | None) -> bool:
    """The one rule for an instance that ended in an error: its status says so, or an error kind was noted."""
    return status in ERROR_STATUSES or bool(error_kind)


def write_predictions(out: Path, rows: list[InstanceRow], model_name: str) -> Path:
    """``predictions.jsonl`` in the official format, one line per row, replaced atomically."""
    path = Path(out) / PREDICTIONS
    tmp = path.with_suffix(".jsonl.tmp")
    with open(tmp, "w", encoding="utf-8", errors="surrogateescape") as sink:
        for row in rows:
            prediction = {"instance_id": row.instance_id, "model_name_or_path": model_name, "model_patch": row.patch}
            sink.write(json.dumps(prediction) + "\n")
        sink.flush()
        os.fsync(sink.fileno())
    os.replace(tmp, path)
    return path
