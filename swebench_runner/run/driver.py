"""The wiring behind ``repoagent swebench run``: the batch settings (``configs/swebench.yaml``), the executor,
the progress bar."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from repoagent.cancel import CancelToken
from repoagent.config import Settings
from repoagent.errors import UserError
from repoagent.models.litellm_model import check_model
from swebench_runner.data.dataset import load_dataset
from swebench_runner.run.batch import BatchOptions, Tally, run_batch
from swebench_runner.run.executors import BatchExecutor, LocalPool, RayPool
from swebench_runner.run.worker import ORACLE, RunConfig

BATCH_CONFIG = Path(str(resources.files("configs") / "swebench.yaml"))


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


class BatchSettings(BaseModel):
    """``configs/swebench.yaml``: how a batch runs (its flags override it), built as ``BatchSettings(**section)``."""

    model_config = ConfigDict(extra="forbid")

    split: str
    sandbox: Literal["auto", "docker", "local", "none"]
    workers: int = Field(ge=1)
    executor: Literal["local", "ray"]
    ray_address: str | None
    max_cost: float | None
    instance_cost: float | None
    instance_timeout: float | None

    @classmethod
    def load(cls, path: Path = BATCH_CONFIG, **flags: Any) -> BatchSettings:
        """The file's settings, with the flags that were given (not None) over them."""
        section = yaml.safe_load(path.read_text()) or {}
        try:
            return cls(**{**section, **{k: v for k, v in flags.items() if v is not None}})
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(x) for x in first["loc"])
            raise UserError(f"swebench setting {where}: {first['msg']} (got {first.get('input')!r})") from None


@dataclass(frozen=True)
class RunRequest:
    """What a batch runs: the instances (a dataset, its split, chosen ids or the first ``limit``), where their
    repositories are, the model, and the output folder (resumed unless ``redo``)."""

    dataset: str
    out: Path
    model: str
    ids: list[str] | None = None
    limit: int | None = None
    repos: Path | None = None
    repo_map: Path | None = None
    redo: bool = False
    retry_errors: bool = False


def start_run(
    settings: Settings, request: RunRequest, batch: BatchSettings, cancel: CancelToken | None = None
) -> dict[str, Any]:
    """Run ``request``'s instances as ``batch`` says, each with ``settings``; the summary."""
    s = run_settings(settings, request.model, batch.sandbox, batch.instance_cost)
    instances = load_dataset(request.dataset, batch.split, request.ids, request.limit)
    repos, repo_map = request.repos, request.repo_map
    if repos is not None and not repos.is_dir():
        raise UserError(f"--repos {repos}: no such folder")
    cache = s.resolved_cache_dir() / "swebench"
    config = RunConfig(
        settings=s.model_dump(mode="json"),
        model=request.model,
        scratch=str(cache / "scratch"),
        mirrors_root=str(s.swebench.mirrors_dir or cache / "mirrors"),
        remote_url=s.swebench.remote_url,
        repos=str(repos.resolve()) if repos else None,
        repo_map=str(repo_map.resolve()) if repo_map else None,
        instance_timeout=batch.instance_timeout,
    )
    options = BatchOptions(
        out=request.out, model=request.model, redo=request.redo, retry_errors=request.retry_errors,
        max_cost=batch.max_cost, dataset=request.dataset,
    )  # fmt: skip
    if batch.executor == "ray":
        pool: BatchExecutor = RayPool(config, batch.workers, batch.ray_address)
    else:
        pool = LocalPool(config, batch.workers)
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
