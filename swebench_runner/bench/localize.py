"""``repoagent bench localize``: file and symbol recall of the localizer on SWE-bench instances."""

from __future__ import annotations

import statistics
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from editing.patches import changed_definitions
from repoagent.config import Settings
from repoagent.protocols import ChatModel
from retrieval.cache import IndexCache
from retrieval.index import RepoIndex
from retrieval.source import RepoSource
from swebench_runner.data.dataset import Instance
from swebench_runner.data.gold import gold_files
from swebench_runner.data.repos import RepoFinder
from swebench_runner.run.resumable import run_resumable

Localize = Callable[[RepoIndex, Instance], dict[str, Any]]
Progress = Callable[[str, int, int], None]


@dataclass
class BenchOptions:
    out: Path
    force: bool = False


def gold_symbols(index: RepoIndex, patch: str) -> list[str]:
    changed = changed_definitions(index, patch, tests=False)
    return [f"{path}::{name}" for path, names in changed.items() for name in names]


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [r for r in rows if not r.get("error")]
    summary: dict[str, Any] = {"instances": len(rows), "errors": len(rows) - len(ok)}
    for k in (1, 3, 5, 10):
        hits = [all(g in r["ranked_files"][:k] for g in r["gold_files"]) for r in ok if r["gold_files"]]
        summary[f"file_recall@{k}"] = round(sum(hits) / len(hits), 4) if hits else 0.0
    for k in (5, 10):
        hits = [all(g in r["ranked_symbols"][:k] for g in r["gold_symbols"]) for r in ok if r["gold_symbols"]]
        summary[f"symbol_recall@{k}"] = round(sum(hits) / len(hits), 4) if hits else 0.0
    secs = [r["seconds"] for r in ok]
    summary["median_seconds"] = round(statistics.median(secs), 3) if secs else 0.0
    return summary


def run_bench_localize(
    instances: list[Instance],
    finder: RepoFinder,
    cache: IndexCache,
    localize: Localize,
    options: BenchOptions,
    progress: Callable[[str, int, int], None],
) -> dict[str, Any]:
    """Run ``localize`` on each instance not yet in ``options.out``; return the summary of all."""
    rows = run_resumable(
        instances, options.out, options.force, lambda i: _one(i, finder, cache, localize), progress, "localize"
    )
    return summarize(rows)


def _one(inst: Instance, finder: RepoFinder, cache: IndexCache, localize: Localize) -> dict[str, Any]:
    row: dict[str, Any] = {"instance_id": inst.instance_id, "gold_files": gold_files(inst.patch)}
    try:
        index = RepoIndex.build(RepoSource(finder.find(inst.repo), inst.base_commit), cache=cache)
        row["gold_symbols"] = gold_symbols(index, inst.patch)
        started = time.perf_counter()
        row.update(localize(index, inst))
        row["seconds"] = round(time.perf_counter() - started, 3)
        row["index_seconds"] = round(index.stats.seconds, 3)
    except Exception as exc:  # one failing instance is recorded and does not stop the run
        row.update(error=f"{type(exc).__name__}: {exc}", trace=traceback.format_exc(limit=5))
        row.setdefault("gold_symbols", [])
        row.update(ranked_files=[], ranked_symbols=[], seconds=0.0)
    return row


def bench_localize(
    settings: Settings, chosen: list[Instance], finder: RepoFinder, out: Path, force: bool, model: ChatModel | None,
    progress: Progress,
) -> dict[str, Any]:  # fmt: skip
    """``bench localize``: the localizer (with ``model``'s picks, or retrieval alone) on each instance."""
    from repoagent.pipeline.wiring import build_localizer, open_cache

    with open_cache(settings) as cache:

        def localize(index: RepoIndex, inst: Instance) -> dict[str, Any]:
            loc = build_localizer(settings, index, cache, model).localize(inst.problem_statement)
            return {
                "ranked_files": [f.path for f in loc.files],
                "ranked_symbols": [s.id for s in loc.symbols],
                "prompt_tokens": loc.prompt_tokens,
                "completion_tokens": loc.completion_tokens,
            }

        return run_bench_localize(chosen, finder, cache, localize, BenchOptions(out, force), progress)


def bench_features(
    settings: Settings, chosen: list[Instance], finder: RepoFinder, out: Path, force: bool, progress: Progress
) -> dict[str, Any]:
    """``bench features``: the ranker's feature rows of each instance under ``out``, and the recall of the
    ranking that made them."""
    from repoagent.pipeline.wiring import build_retriever, open_cache
    from swebench_runner.bench.ranker_training import ROWS, save_features

    with open_cache(settings) as cache:

        def localize(index: RepoIndex, inst: Instance) -> dict[str, Any]:
            retriever = build_retriever(settings, index, cache)
            top = settings.retrieval.top_k_symbols
            result = retriever.retrieve(inst.problem_statement, top_symbols=top, keep_features=True)
            if result.features is not None:
                save_features(out, inst.instance_id, result.features)
            return {"ranked_files": [f.path for f in result.files], "ranked_symbols": [s.id for s in result.symbols]}

        return run_bench_localize(chosen, finder, cache, localize, BenchOptions(out / ROWS, force), progress)
