"""One SWE-bench instance, run in a worker: a sealed copy, ``fix()``, and the run folder sent back as bytes.

A worker (a process of the local pool, or a Ray actor) is made once with a
``RunConfig`` and then runs many ``Job``s; imports, the embedding model and the
index cache's connection are set up once per worker, not per instance.  The
worker writes nothing into the run's output folder: everything it made comes
back in the ``JobResult`` (the row, and the run folder as a tar archive) and the
driver alone writes the output, so a worker may be on another machine.

The hidden parts of an instance (gold patch, test patch, the tests that must
pass) are not in a ``Job``, except the gold patch when the model is the oracle,
which is the point of the oracle; the sandbox and the prompts never see them.
"""

from __future__ import annotations

import io
import json
import os
import resource
import shutil
import tarfile
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from repoagent.cancel import Cancelled, CancelToken
from repoagent.config import Settings
from repoagent.errors import EnvironmentBuildError, UserError
from repoagent.events import Note
from repoagent.pipeline.fix import Caches, FixOutcome, FixRequest, fix
from repoagent.pipeline.inputs import Issue, issue_title
from repoagent.protocols import EventSink, Sandbox
from repoagent.sandbox.environment import EnvPlan
from repoagent.sandbox.factory import open_sandbox
from swebench_runner.data.checkout import HISTORY_ANCESTORS, Mirrors, sealed_copy
from swebench_runner.data.repos import RepoFinder
from swebench_runner.envs.images import Environments
from swebench_runner.envs.spec_source import load_specs
from swebench_runner.run.journal import ERROR_STATUSES, InstanceRow

ORACLE = "oracle"
# The prelude of SWE-bench's own images: their project is installed in the conda env "testbed" at /testbed.
OFFICIAL_PRELUDE = (
    'if [ -d /opt/miniconda3/envs/testbed/bin ]; then export PATH="/opt/miniconda3/envs/testbed/bin:$PATH"; fi'
)


@dataclass(frozen=True)
class RunConfig:
    """What every job of a batch run shares (picklable, sent once to each worker)."""

    settings: dict[str, Any]  # Settings.model_dump(mode="json")
    model: str
    scratch: str  # the worker's temporary folders go here
    mirrors_root: str
    remote_url: str
    repos: str | None = None
    repo_map: str | None = None
    instance_timeout: float | None = None
    official_images: bool = True


@dataclass(frozen=True)
class Job:
    instance_id: str
    repo: str
    base_commit: str
    problem_statement: str
    version: str = ""
    environment_commit: str = ""  # the version's environment_setup_commit: its image is built there, never read
    gold_patch: str = ""  # only for the oracle


@dataclass
class JobResult:
    row: InstanceRow
    run_folder: bytes = b""  # a tar archive of the instance's run folder


def official_image_names(instance_id: str) -> list[str]:
    """The names SWE-bench gives an instance's image: built locally, and as published."""
    key = f"sweb.eval.x86_64.{instance_id}:latest".lower()
    return [key, f"swebench/{key}".replace("__", "_1776_")]


@dataclass
class JobSandboxes:
    """The sandbox factory of one job (its official image, an environment image built from the official spec, or
    the configured sandbox); it records which the tests got in ``used``."""

    job: Job
    use_official: bool
    used: dict[str, Any] = field(default_factory=dict)
    environments: Environments | None = None  # built here from the official specs
    failed_builds: dict[str, str] = field(default_factory=dict)  # the worker's memory of failed installs

    def __call__(self, settings: Settings, plan: EnvPlan, events: EventSink, cancel: CancelToken) -> Sandbox | None:
        kind = settings.sandbox.kind
        if kind in ("auto", "docker") and self.use_official:
            image = _official_image(self.job.instance_id)
            if image is not None:
                from repoagent.sandbox.docker_box import DockerSandbox

                s = settings.sandbox
                events.emit(Note(f"tests run in SWE-bench's image {image}"))
                self.used.update(kind="official", image=image)
                bare = EnvPlan(plan.python, plan.python_why, [], plan.test_command, plan.test_why)
                return DockerSandbox(
                    image, s.memory_mb, s.cpus, s.pids, s.network, cancel=cancel, plan=bare,
                    workdir="/testbed", prelude=OFFICIAL_PRELUDE,
                )  # fmt: skip
        if kind in ("auto", "docker") and self.environments is not None and self.job.version:
            box = self._local(plan, cancel, events)
            if box is not None:
                return box
        if self.job.version:
            plan.cache_key = f"{self.job.repo}@{self.job.version}"
        warn = lambda message: events.emit(Note(message, level="alert"))  # noqa: E731
        box = open_sandbox(settings.sandbox, settings.sandbox.kind, plan, warn, cancel, self.failed_builds)
        self.used.update(kind=box.name if box is not None else "none")
        if box is not None and box.name == "docker" and plan.steps:
            self.used["image"] = f"environment image per repository and version ({plan.cache_key or 'its files'})"
        return box

    def _local(self, plan: EnvPlan, cancel: CancelToken, events: EventSink) -> Sandbox | None:
        """The environment of the instance's repository and version built from the official spec, when it builds."""
        assert self.environments is not None
        job = self.job
        try:
            record, env = self.environments.get(job.repo, job.version, job.environment_commit or job.base_commit)
        except Exception as exc:  # no engine, no mirror: the configured sandbox, as before
            events.emit(Note(f"no environment from the official spec ({type(exc).__name__}: {exc})"))
            return None
        if record.status == "no spec":
            return None
        if not record.built or env is None:
            events.emit(Note(f"the official spec's environment did not build: {record.reason or record.status}"))
            self.used.update(kind="docker", local_environment=record.status, reason=record.reason[-500:])
            raise EnvironmentBuildError(record.reason or record.status)
        events.emit(Note(f"tests run in {record.image}, built here from the official spec of {job.repo} {job.version}"))
        self.used.update(kind="local-spec", image=record.image, python=record.python, changes=record.changes)
        box = self.environments.instance_box(env, record, job.base_commit, plan.test_command)
        box.cancel = cancel
        return box


def present_image(client: Any, names: list[str]) -> str | None:
    """The first of ``names`` that Docker has here, or None."""
    from docker.errors import ImageNotFound

    for name in names:
        try:
            client.images.get(name)
            return name
        except ImageNotFound:
            continue
    return None


def _official_image(instance_id: str) -> str | None:
    try:
        from repoagent.sandbox.docker_box import docker_client

        client = docker_client()
    except Exception:  # no engine: no official image either
        return None
    return present_image(client, official_image_names(instance_id))


class Worker:
    """Runs jobs one after another; made once per worker process or Ray actor."""

    def __init__(self, config: RunConfig) -> None:
        self.config = config
        self.settings = Settings.model_validate(config.settings)
        finder = RepoFinder(
            Path(config.repos) if config.repos else None, Path(config.repo_map) if config.repo_map else None
        )
        self.mirrors = Mirrors(Path(config.mirrors_root), config.remote_url, finder)
        self.caches = Caches.of(self.settings)
        self.environments: Environments | None = None
        if self.settings.swebench.local_environments:
            cache = self.settings.resolved_cache_dir() / "swebench"
            self.environments = Environments(self._specs, self.mirrors, self.settings.sandbox, cache / "environments")
        self._sheet_form = ""
        self.failed_builds: dict[str, str] = {}  # installs that failed in this worker: not tried again per instance
        Path(config.scratch).mkdir(parents=True, exist_ok=True)

    def _specs(self) -> dict[str, Any]:
        try:
            return load_specs(self.settings.resolved_cache_dir() / "swebench", self.settings.swebench.specs)
        except UserError:  # no PyPI and no specs file: the environment the sandbox detects, as before
            return {}

    def run(self, job: Job) -> JobResult:
        started = time.monotonic()
        scratch = Path(tempfile.mkdtemp(prefix=f"{job.instance_id[:40]}-", dir=self.config.scratch))
        row = InstanceRow(instance_id=job.instance_id, repo=job.repo, status="error", patch="")
        cancel = CancelToken()
        timer = None
        if self.config.instance_timeout:
            reason = f"timed out after {self.config.instance_timeout:g} s"
            timer = threading.Timer(self.config.instance_timeout, cancel.cancel, args=(reason,))
            timer.daemon = True
            timer.start()
        sandboxes = JobSandboxes(
            job, self.config.official_images, environments=self.environments, failed_builds=self.failed_builds
        )
        try:
            mirror = self.mirrors.ensure(job.repo, job.base_commit)
            sealed = sealed_copy(mirror, job.base_commit, scratch / "repo", HISTORY_ANCESTORS)
            repo = sealed.path
            if sealed.missing:  # a partial mirror: the copy is rebuilt from the files it has
                row.missing_files = sealed.missing
            settings = self._settings_for(job, repo, sealed.commit, scratch)
            issue = Issue(job.problem_statement, job.instance_id, issue_title(job.problem_statement))
            request = FixRequest(issue, repo, settings, rev=sealed.commit, repo_label=job.repo)
            hooks = [PredictionRow(row)]
            outcome = fix(request, sandbox=sandboxes, caches=self.caches, cancel=cancel, deliveries=hooks)
            if self.config.model == ORACLE:
                from retrieval.source import RepoSource
                from swebench_runner.oracle.sheet import check_against_gold

                source = RepoSource(repo, sealed.commit)
                row.oracle_check = check_against_gold(source, outcome.patch, job.gold_patch)
                row.oracle_form = self._sheet_form
        except Cancelled as exc:
            row.status, row.error = "error", str(exc)
            row.error_kind = "timeout" if cancel.reason.startswith("timed") else "cancelled"
        except Exception as exc:  # one instance's failure is its row, not the run's end
            row.status, row.error, row.error_kind = "error", f"{type(exc).__name__}: {exc}", "exception"
            row.trace = traceback.format_exc(limit=8)
        finally:
            if timer is not None:
                timer.cancel()
        row.environment = sandboxes.used or {"kind": "not reached"}
        row.seconds = round(time.monotonic() - started, 2)
        row.worker_peak_mb = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        row.worker_pid = os.getpid()
        archive = _tar(scratch / "runs")
        shutil.rmtree(scratch, ignore_errors=True)
        return JobResult(row, archive)

    def _settings_for(self, job: Job, repo: Path, commit: str, scratch: Path) -> Settings:
        model = self.config.model
        if model == ORACLE:
            from retrieval.source import RepoSource
            from swebench_runner.oracle.sheet import answer_sheet

            sheet = answer_sheet(RepoSource(repo, commit), job.gold_patch)
            path = scratch / "oracle.json"  # beside the sealed copy, never inside it
            path.write_text(json.dumps(sheet), encoding="utf-8")
            self._sheet_form = sheet["form"]
            model = f"{ORACLE}/{path}"
        s = self.settings
        return s.model_copy(update={"runs_dir": scratch / "runs", "model": s.model.model_copy(update={"name": model})})


@dataclass(frozen=True)
class PredictionRow:
    """The runner's delivery, a hook on the outcome: the instance's row of ``outcomes.jsonl`` (its prediction)."""

    row: InstanceRow

    def check(self) -> None:
        return None

    def deliver(self, outcome: FixOutcome, events: EventSink) -> None:
        summary, row = outcome.summary(), self.row
        row.status, row.patch, row.run_id, row.sandbox = (
            outcome.status,
            outcome.patch,
            outcome.run_id,
            outcome.sandbox.kind,
        )
        row.error, row.stopped, row.reason = outcome.error, outcome.stopped, outcome.reason
        row.cost, row.tokens, row.calls = summary["cost"], summary["tokens"], summary["calls"]
        if outcome.status in ERROR_STATUSES:
            row.error_kind = "exception"
        elif outcome.stopped and "kept failing" in outcome.stopped:
            row.error_kind, row.error = "model", outcome.stopped
        row.ranked_files, row.edit_locations = outcome.ranked_files(50), summary["edit_locations"]
        row.retrieval_seconds = outcome.localization.retrieval_seconds() if outcome.localization else None


def _tar(folder: Path) -> bytes:
    if not folder.is_dir():
        return b""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for path in sorted(folder.iterdir()):
            tar.add(path, arcname=path.name)
    return buf.getvalue()


def untar(archive: bytes, dest: Path) -> None:
    """Unpack a run-folder archive made by a worker into ``dest`` (emptied first)."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    if not archive:
        return
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        tar.extractall(dest, filter="data")


# -- the local pool's worker process ---------------------------------------------

_WORKER: Worker | None = None


def start_worker(config: RunConfig) -> None:
    """Make this pool process's worker (``pool_process.init_process`` calls it, once tied to the driver)."""
    global _WORKER
    _WORKER = Worker(config)


def run_in_process(job: Job) -> JobResult:
    assert _WORKER is not None, "pool_process.init_process did not run"
    return _WORKER.run(job)
