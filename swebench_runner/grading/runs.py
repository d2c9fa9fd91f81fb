"""``evaluate --grader local`` and ``validate``: local grading of a run's predictions, and of the grader itself.

``grade_locally`` grades every prediction (in parallel threads: the work is in
containers), writes the official report files and merges the verdicts into the
run's ``evaluation.json`` and summary, labelled "local grading".

``validate`` checks the grader on a dataset: for every instance, the gold patch
must be graded resolved and the empty patch unresolved.  It writes
``validation.jsonl`` (a row per instance, resumable) and ``validation.json``
(per repository: instances, environments built, gold resolved, empty
unresolved, minutes).
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from repoagent.cancel import CancelToken
from repoagent.config import Settings
from swebench_runner.data.checkout import Mirrors
from swebench_runner.data.dataset import Instance
from swebench_runner.data.repos import RepoFinder
from swebench_runner.envs.images import Environments
from swebench_runner.envs.spec_source import load_specs
from swebench_runner.run.journal import read_rows

Progress = Callable[[str, int, int], None]


def environments(
    settings: Settings,
    specs: Path | None = None,
    repos: Path | None = None,
    repo_map: Path | None = None,
    cancel: CancelToken | None = None,
) -> Environments:
    """The environment builder of ``evaluate --grader local`` and ``validate``: specs (loaded now, so a missing
    one stops before any work), mirrors and the cache of built images (a batch run's workers make their own)."""
    cache = settings.resolved_cache_dir() / "swebench"
    finder = RepoFinder(repos, repo_map) if repos or repo_map else None
    mirrors = Mirrors(settings.swebench.mirrors_dir or cache / "mirrors", settings.swebench.remote_url, finder)
    table = load_specs(cache, specs or settings.swebench.specs)
    return Environments(table, mirrors, settings.sandbox, cache / "environments", cancel)


def row_of(instance: Instance) -> dict[str, Any]:
    """An instance as the dataset row it was read from."""
    return {
        "instance_id": instance.instance_id,
        "repo": instance.repo,
        "base_commit": instance.base_commit,
        "problem_statement": instance.problem_statement,
        "patch": instance.patch,
        "test_patch": instance.test_patch,
        **instance.extra,
    }


def _parallel(items: list[Any], one: Callable[[Any], Any], workers: int, progress: Progress, stage: str) -> None:
    done = 0
    lock = threading.Lock()
    progress(stage, 0, len(items))

    def step(item: Any) -> None:
        nonlocal done
        one(item)
        with lock:
            done += 1
            progress(stage, done, len(items))

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(step, items))


def grade_locally(
    envs: Environments,
    out: Path,
    run_id: str,
    instances: list[Instance],
    predictions: list[dict[str, Any]],
    workers: int,
    progress: Progress,
    timeout: float = 1800,
) -> dict[str, dict[str, Any]]:
    """Each prediction's report (by instance id), graded in environments built here."""
    from swebench_runner.grading.local import LocalGrader

    grader = LocalGrader(envs, out, run_id, timeout)
    rows = {i.instance_id: row_of(i) for i in instances}
    reports: dict[str, dict[str, Any]] = {}

    def one(prediction: dict[str, Any]) -> None:
        iid = prediction["instance_id"]
        reports[iid] = grader.grade(rows[iid], prediction)[iid]

    _parallel([p for p in predictions if p["instance_id"] in rows], one, workers, progress, "grading")
    return reports


def validate(
    envs: Environments,
    out: Path,
    instances: list[Instance],
    workers: int,
    progress: Progress,
    timeout: float = 1800,
) -> dict[str, Any]:
    """Grade the gold and the empty patch of each instance; the figures per repository (also written)."""
    from swebench_runner.grading.local import LocalGrader

    out.mkdir(parents=True, exist_ok=True)
    journal = out / "validation.jsonl"
    done = read_rows(journal)
    grader = LocalGrader(envs, out, "validate", timeout)
    lock = threading.Lock()

    def one(instance: Instance) -> None:
        row = row_of(instance)
        started = time.monotonic()
        result: dict[str, Any] = {"instance_id": instance.instance_id, "repo": instance.repo}
        for kind, patch in (("gold", instance.patch), ("empty", "")):
            prediction = {"instance_id": instance.instance_id, "model_patch": patch, "model_name_or_path": kind}
            report = grader.grade(row, prediction)[instance.instance_id]
            result["environment"] = report["environment"].get("status", "")
            result["environment_reason"] = report.get("environment_failed", "")
            if not report.get("graded"):
                break
            result[kind] = "resolved" if report["resolved"] else "unresolved"
            for mark in ("missing_files_used", "network_wanted"):  # what the workplace lacked, for the gold run
                if kind == "gold" and report.get(mark):
                    result[mark] = report[mark]
        result["minutes"] = round((time.monotonic() - started) / 60, 2)
        with lock, journal.open("a") as sink:
            sink.write(json.dumps(result) + "\n")
            done[instance.instance_id] = result

    todo = [i for i in instances if i.instance_id not in done]
    _parallel(todo, one, workers, progress, "validating")
    figures = validation_figures([done[i.instance_id] for i in instances if i.instance_id in done])
    (out / "validation.json").write_text(json.dumps(figures, indent=2) + "\n")
    return figures


def validation_figures(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per repository and in all: instances, environments built, gold resolved and empty unresolved (of those
    built), minutes; and the instances that break the rule, so none hides in a share."""
    by_repo: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_repo[row["repo"]].append(row)

    def figures(group: list[dict[str, Any]]) -> dict[str, Any]:
        built = [r for r in group if r.get("environment") == "built" and "gold" in r]
        gold = sum(r["gold"] == "resolved" for r in built)
        empty = sum(r.get("empty") == "unresolved" for r in built)
        failed = [r for r in built if r["gold"] != "resolved"]
        # the gold misses whose tests wanted what this workplace lacked: files a partial mirror has not, the network
        lacked = {mark: sorted(r["instance_id"] for r in failed if r.get(mark))
                  for mark in ("missing_files_used", "network_wanted")}  # fmt: skip
        marked = set().union(*lacked.values())
        whole = len(built) - len(marked)
        return {
            "instances": len(group),
            "environments_built": len(built),
            "environments_built_share": round(len(built) / len(group), 4) if group else 0.0,
            "gold_resolved": gold,
            "gold_resolved_share": round(gold / len(built), 4) if built else 0.0,
            "empty_unresolved": empty,
            "empty_unresolved_share": round(empty / len(built), 4) if built else 0.0,
            "minutes": round(sum(float(r.get("minutes") or 0) for r in group), 1),
            # the same share where the workplace lacked nothing the tests wanted (the instances below marked)
            "gold_resolved_share_unmarked": round(gold / whole, 4) if whole else 0.0,
            "gold_failed": sorted(r["instance_id"] for r in failed),
            "gold_failed_incomplete_copy": lacked["missing_files_used"],
            "gold_failed_network": lacked["network_wanted"],
            "empty_passed": sorted(r["instance_id"] for r in built if r.get("empty") != "unresolved"),
            "not_built": sorted(f"{r['instance_id']}: {r.get('environment_reason', '')[:200]}" for r in group
                                if r not in built),
        }  # fmt: skip

    return {"total": figures(rows), "repositories": {repo: figures(g) for repo, g in sorted(by_repo.items())}}
