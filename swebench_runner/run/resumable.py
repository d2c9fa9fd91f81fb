"""Batch runs that write one JSON line per instance and skip, on a rerun, what is already written."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from swebench_runner.data.dataset import Instance
from swebench_runner.run.journal import read_rows

Progress = Callable[[str, int, int], None]


def run_resumable(
    instances: list[Instance],
    out: Path,
    force: bool,
    one: Callable[[Instance], dict[str, Any]],
    progress: Progress,
    stage: str,
) -> list[dict[str, Any]]:
    """Rows for all ``instances``: read from ``out`` when there (unless ``force``), else computed and appended."""
    done = {} if force else read_rows(out)
    if force and out.exists():
        out.unlink()
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = [done[i.instance_id] for i in instances if i.instance_id in done]
    todo = [i for i in instances if i.instance_id not in done]
    with out.open("a") as sink:
        for n, inst in enumerate(todo):
            progress(stage, n, len(todo))
            row = one(inst)
            sink.write(json.dumps(row) + "\n")
            sink.flush()
            rows.append(row)
        progress(stage, len(todo), len(todo))
    return rows
