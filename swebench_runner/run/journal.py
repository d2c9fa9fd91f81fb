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

OUTCOMES = "outcomes.jsonl"
PREDICTIONS = "predictions.jsonl"
ERROR_STATUSES = ("error", "interrupted")


class Journal:
    def __init__(self, out: Path) -> None:
        self.out = Path(out)
        self.path = self.out / OUTCOMES

    def read(self) -> dict[str, dict[str, Any]]:
        """The last recorded row of each instance (cut lines skipped)."""
        return read_rows(self.path)

    def append(self, row: dict[str, Any]) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        data = (json.dumps(row) + "\n").encode("utf-8", errors="surrogateescape")
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


def is_error(row: dict[str, Any]) -> bool:
    """An instance that ended in an error (an exception, a timeout, a model outage, a lost worker)."""
    return row.get("status") in ERROR_STATUSES or bool(row.get("error_kind"))


def write_predictions(out: Path, rows: list[dict[str, Any]], model_name: str) -> Path:
    """``predictions.jsonl`` in the official format, one line per row, replaced atomically."""
    path = Path(out) / PREDICTIONS
    tmp = path.with_suffix(".jsonl.tmp")
    with open(tmp, "w", encoding="utf-8", errors="surrogateescape") as sink:
        for row in rows:
            prediction = {
                "instance_id": row["instance_id"],
                "model_name_or_path": model_name,
                "model_patch": row.get("patch") or "",
            }
            sink.write(json.dumps(prediction) + "\n")
        sink.flush()
        os.fsync(sink.fileno())
    os.replace(tmp, path)
    return path
