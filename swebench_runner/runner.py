"""The wiring behind ``repoagent swebench run`` and ``evaluate``: settings, executor, progress, scoring."""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from repoagent.config import Settings
from repoagent.core.cancel import CancelToken
from repoagent.core.errors import UserError
from repoagent.models.litellm_model import check_model
from swebench_runner.batch import BatchOptions, Tally, refresh_summary, run_batch
from swebench_runner.dataset import load_dataset
from swebench_runner.executors import Executor, LocalPool, RayPool
from swebench_runner.journal import Journal
from swebench_runner.official import (
    collect_reports,
    eval_command,
    evaluation_record,
    not_ready,
    official_version,
)
from swebench_runner.summary import EVALUATION, write_summary
from swebench_runner.worker import ORACLE, RunConfig


def run_settings(settings: Settings, model: str, sandbox: str, instance_cost: float | None) -> Settings:
    """The settings every instance runs with: the sandbox kind, the per-instance cost cap, untested when broken."""
    budget = settings.budget.model_copy(update={"max_cost": instance_cost})
    sandbox_settings = settings.sandbox.model_copy(update={"kind": sandbox})
    named = settings.model.model_copy(update={"name": model})
    if model != ORACLE:
        check_model(named, budget)  # no key, no price for --instance-cost: stop before any instance
    elif instance_cost is not None:
        raise UserError("--instance-cost: the oracle has no price; leave it out")
    # a prediction is wanted even where the instance's tests cannot run: go on untested (status broken_environment)
    loop = settings.loop.model_copy(update={"untested_when_broken": True})
    return settings.model_copy(update={"budget": budget, "sandbox": sandbox_settings, "model": named, "loop": loop})


def start_run(
    settings: Settings,
    *,
    dataset: str,
    split: str,
    ids: list[str] | None,
    limit: int | None,
    out: Path,
    model: str,
    sandbox: str,
    workers: int,
    executor: str,
    ray_address: str | None,
    max_cost: float | None,
    instance_cost: float | None,
    instance_timeout: float | None,
    redo: bool,
    retry_errors: bool,
    repos: Path | None,
    repo_map: Path | None,
    cancel: CancelToken | None = None,
) -> dict[str, Any]:
    s = run_settings(settings, model, sandbox, instance_cost)
    instances = load_dataset(dataset, split, ids, limit)
    if repos is not None and not repos.is_dir():
        raise UserError(f"--repos {repos}: no such folder")
    cache = s.resolved_cache_dir() / "swebench"
    config = RunConfig(
        settings=s.model_dump(mode="json"),
        model=model,
        scratch=str(cache / "scratch"),
        mirrors_root=str(s.swebench.mirrors_dir or cache / "mirrors"),
        remote_url=s.swebench.remote_url,
        repos=str(repos.resolve()) if repos else None,
        repo_map=str(repo_map.resolve()) if repo_map else None,
        instance_timeout=instance_timeout,
    )
    options = BatchOptions(
        out=out, model=model, redo=redo, retry_errors=retry_errors, max_cost=max_cost, dataset=dataset
    )
    pool: Executor = RayPool(config, workers, ray_address) if executor == "ray" else LocalPool(config, workers)
    try:
        with _ProgressBar() as bar:
            return run_batch(instances, options, pool, bar.update, cancel)
    finally:
        pool.close(wait=not (cancel is not None and cancel.cancelled))


class _ProgressBar:
    """Counts (done, with a patch, errors), the spend so far and the time left, on stderr."""

    def __enter__(self) -> _ProgressBar:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.progress = Progress(
            TextColumn("instances"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self.progress.start()
        self.task = self.progress.add_task("run", total=None, detail="")
        return self

    def update(self, tally: Tally) -> None:
        detail = f"patch {tally.patches} · errors {tally.errors} · ${tally.cost:.4f} · running {tally.running}"
        if tally.capped:
            detail += " · cost cap reached"
        self.progress.update(self.task, total=tally.total, completed=tally.done, detail=detail)

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()


def read_predictions(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise UserError(f"--predictions {path}: no such file")
    try:
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    except ValueError as exc:
        raise UserError(f"--predictions {path}: not JSON lines ({exc})") from None


def evaluate_run(
    predictions: Path,
    dataset: str,
    split: str,
    run_id: str | None,
    workers: int,
    local: LocalGrading | None = None,
) -> dict[str, Any]:
    """Grade ``predictions`` (officially, or ``local``ly); merge the verdicts into the run's summary."""
    ids = [p["instance_id"] for p in read_predictions(predictions)]
    if local is not None:
        return _evaluate_locally(predictions, dataset, split, run_id, workers, local)
    why = not_ready(ids)
    if why is not None:
        raise UserError(f"cannot score officially: {why}")
    version = official_version()
    assert version is not None
    run_id = run_id or f"repoagent-{time.strftime('%Y%m%d-%H%M%S')}"
    out = predictions.resolve().parent
    data = str(Path(dataset).resolve()) if Path(dataset).exists() else dataset
    proc = subprocess.run(eval_command(data, predictions.resolve(), run_id, workers, version), cwd=out, check=False)
    reports = collect_reports(out, run_id)
    if proc.returncode != 0 and not reports:
        raise UserError(f"the official grader failed (exit {proc.returncode}) and wrote no report")
    return merge_reports(out, dataset, split, reports, f"official (swebench {version})", run_id)


def merge_reports(
    out: Path,
    dataset: str,
    split: str,
    reports: dict[str, dict[str, Any]],
    grader: str,
    run_id: str,
    predictions: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Write ``evaluation.json`` and the summary again with the verdicts in it.  Predictions that no ``swebench
    run`` in ``out`` made (another system's) get a summary of their own instances, under their model's name."""
    (out / EVALUATION).write_text(json.dumps(evaluation_record(reports, grader, run_id), indent=2) + "\n")
    done = Journal(out).read()
    if predictions is None or any(p["instance_id"] in done for p in predictions):
        return refresh_summary(out, load_dataset(dataset, split))
    wanted = {p["instance_id"]: p for p in predictions}
    instances = [i for i in load_dataset(dataset, split) if i.instance_id in wanted]
    rows = [{"instance_id": i, "status": "external", "patch": p.get("model_patch") or ""} for i, p in wanted.items()]
    models = sorted({str(p.get("model_name_or_path") or "") for p in predictions} - {""})
    return write_summary(out, instances, rows, "", ", ".join(models) or "unnamed", dataset)


@dataclass(frozen=True)
class LocalGrading:
    """What ``evaluate --grader local`` needs beyond the official grader's inputs."""

    settings: Settings
    specs: Path | None = None
    repos: Path | None = None
    repo_map: Path | None = None
    timeout: float = 1800
    cancel: CancelToken | None = None


def _evaluate_locally(
    predictions: Path, dataset: str, split: str, run_id: str | None, workers: int, local: LocalGrading
) -> dict[str, Any]:
    from repoagent.cli.console import progress_bar
    from swebench_runner.local_grading import grader_name, not_graded
    from swebench_runner.local_runs import environments, grade_locally

    if official_version() is None:
        raise UserError("local grading uses the official parsers and grading: pip install 'repoagent[swebench]'")
    wanted = read_predictions(predictions)
    ids = {p["instance_id"] for p in wanted}
    instances = [i for i in load_dataset(dataset, split) if i.instance_id in ids]
    run_id = run_id or f"repoagent-local-{time.strftime('%Y%m%d-%H%M%S')}"
    out = predictions.resolve().parent
    envs = environments(local.settings, local.specs, local.repos, local.repo_map, local.cancel)
    with progress_bar() as progress:
        reports = grade_locally(envs, out, run_id, instances, wanted, workers, progress, local.timeout)
    for iid in sorted(ids - set(reports)):  # a prediction of an instance the dataset has not: said, not graded
        reports[iid] = not_graded(iid, f"{iid} is not in --dataset {dataset}")
    summary = merge_reports(out, dataset, split, reports, grader_name(), run_id, wanted)
    if not any(r.get("graded") for r in reports.values()):
        reasons = sorted({str(r.get("environment_failed", ""))[:300] for r in reports.values()})
        raise UserError("nothing could be graded: " + "; ".join(reasons[:3]))
    return summary
