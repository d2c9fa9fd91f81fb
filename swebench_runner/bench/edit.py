"""``repoagent bench edit``: can whole-definition edits express real fixes?

For each instance the gold patch becomes whole-definition ``EditOp``s (see
``gold_ops``); the editor applies them to the base files and the result is
compared with the gold patched files, byte for byte and by syntax tree.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from editing.apply import apply_ops
from editing.errors import EditError
from editing.ops import EditOp
from retrieval.languages import language_for_path
from retrieval.source import RepoSource
from swebench_runner.data.dataset import Instance
from swebench_runner.data.gold import ast_equal, parse_patch, patched_files
from swebench_runner.data.gold_ops import gold_ops
from swebench_runner.data.repos import RepoFinder
from swebench_runner.run.resumable import run_resumable


def bench_edit(
    chosen: list[Instance], finder: RepoFinder, out: Path, force: bool, progress: Callable[[str, int, int], None]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """``bench edit`` on each instance (resumable in ``out``): the summary, and every row."""
    rows = run_resumable(chosen, out, force, lambda i: bench_edit_one(i, finder), progress, "edit")
    total = max(1, len(rows))
    summary = {
        "instances": len(rows),
        "exact": round(sum(r["exact"] for r in rows) / total, 4),
        "ast_equal": round(sum(r["ast_equal"] for r in rows) / total, 4),
        "seconds": round(sum(r["seconds"] for r in rows), 3),
        "median_seconds": round(statistics.median([r["seconds"] for r in rows]), 3) if rows else 0.0,
    }
    return summary, rows


def bench_edit_one(inst: Instance, finder: RepoFinder) -> dict[str, Any]:
    started = time.perf_counter()
    row: dict[str, Any] = {"instance_id": inst.instance_id, "ops": [], "exact": False, "ast_equal": False}
    try:
        source = RepoSource(finder.find(inst.repo), inst.base_commit)
        paths = [f.new_path for f in parse_patch(inst.patch) if language_for_path(f.new_path)]
        row["skipped_files"] = [f.new_path for f in parse_patch(inst.patch) if not language_for_path(f.new_path)]
        base, gold = patched_files(source, inst.patch, paths)
        ops, levels = [], []
        for p in paths:
            level, file_ops = _finest_exact_ops(p, base[p], gold[p])
            ops.extend(file_ops)
            levels.append(level)
        row["ops"] = [op.describe() for op in ops]
        row["level"] = max(levels, default=0)
        edits = {e.path: e.after for e in apply_ops(ops, lambda p: base[p] if base[p] else _raise(p), gates=True)}
        result = {p: edits.get(p, base[p]) for p in paths}
        row["exact"] = all(result[p] == gold[p] for p in paths)
        row["ast_equal"] = all(ast_equal(p, result[p], gold[p]) for p in paths)
        if not row["exact"]:
            row["error"] = "differs: " + ", ".join(p for p in paths if result[p] != gold[p])
    except (EditError, ValueError) as exc:
        row["error"] = f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # one broken instance is recorded and does not stop the run
        row["error"] = f"{type(exc).__name__}: {exc}"
    row["seconds"] = round(time.perf_counter() - started, 3)
    return row


def _finest_exact_ops(path: str, before: bytes, after: bytes) -> tuple[int, list[EditOp]]:
    """The finest granularity (see ``gold_ops``) whose operations reproduce ``after`` exactly."""
    last: list[EditOp] = []
    for level in (0, 1, 2):
        try:
            last = gold_ops(path, before, after, level)
            got = apply_ops(last, lambda p: before if before else _raise(p), gates=False)
        except EditError:
            continue
        if (got[0].after if got else before) == after:
            return level, last
    return 2, last


def _raise(path: str) -> bytes:
    raise FileNotFoundError(path)
