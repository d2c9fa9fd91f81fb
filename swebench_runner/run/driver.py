"""The wiring behind ``repoagent swebench run``: settings, executor, progress."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from repoagent.cancel import CancelToken
from repoagent.config import Settings
from repoagent.errors import UserError
from repoagent.models.litellm_model import check_model
from swebench_runner.data.dataset import load_dataset
from swebench_runner.run.batch import BatchOptions, Tally, run_batch
from swebench_runner.run.executors import Executor, LocalPool, RayPool
from swebench_runner.run.worker import ORACLE, RunConfig


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
