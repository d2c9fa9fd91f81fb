"""``fix(request) -> FixOutcome``: the one entry every caller uses (the CLI, batch runs, the App server).

The request holds the input only: the issue, the repository and revision, and
the settings.  The collaborators come in behind small seams: a factory for the
chat model, a factory for the sandbox, an event sink, the caches and a cancel
token.  Per-run state (budget, run folder, events) lives in objects made for
the run, so many fixes can run side by side in one process.

The user's working tree is never touched: the index reads git objects and
every test run gets its own temporary worktree (or container).  Delivery
(apply, branch, pull request) is a separate step on the outcome
(``repoagent.pipeline.deliver``).  Whatever happens, the run folder ends with
``result.json`` and ``report.html``.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from repoagent.cancel import Cancelled, CancelToken
from repoagent.chat import ChatModel
from repoagent.config import Settings
from repoagent.events import EventSink, Fanout, NoEvents, Note, Progress, RunStarted, StageEnded, StageStarted
from repoagent.models.litellm_model import LiteLLMModel, check_model
from repoagent.pipeline.inputs import Issue
from repoagent.pipeline.loop import FixLoop, LoopResult
from repoagent.pipeline.wiring import build_localizer, loop_options, open_index
from repoagent.records.report_page import write_report
from repoagent.records.run_folder import RunFolder, runs_root
from repoagent.sandbox.environment import EnvPlan, Project, plan_environment
from repoagent.sandbox.factory import open_sandbox
from repoagent.sandbox.protocol import Sandbox
from retrieval.cache import IndexCache
from retrieval.git import git_out
from retrieval.localization import Localization

Status = Literal[
    "resolved",
    "unresolved",
    "untested",
    "no_patch",
    "stopped",
    "broken_environment",
    "limit_exceeded",
    "error",
    "interrupted",
]
ModelFactory = Callable[[Settings, EventSink, CancelToken], ChatModel]
SandboxFactory = Callable[[Settings, EnvPlan, EventSink, CancelToken], "Sandbox | None"]


@dataclass(frozen=True)
class FixRequest:
    """What to fix: the input only (collaborators and delivery are not part of it)."""

    issue: Issue
    repo: Path
    settings: Settings
    rev: str | None = None
    repo_label: str = ""  # how the run names the repository (the URL it was cloned from); default: the path


@dataclass(frozen=True)
class Caches:
    """Where the index cache lives; each run opens its own connection to it, so runs in threads do not share one."""

    index_path: Path

    @classmethod
    def of(cls, settings: Settings) -> Caches:
        return cls(settings.index_cache_path())


class SandboxInfo(BaseModel):
    """Where the tests ran and within what: ``kind`` (docker, local or none), the image, the limits."""

    kind: str = "none"
    image: str | None = None
    isolated: bool = False
    user: str | None = None
    network: bool = False
    limits: dict = Field(default_factory=dict)

    @classmethod
    def of(cls, box: Sandbox | None) -> SandboxInfo:
        return cls() if box is None else cls.model_validate(box.describe())

    def line(self) -> str:
        """One line for people: "docker (repoagent-base:bookworm, as 1000:1000)", "local (NOT isolated)"."""
        if self.kind == "docker":
            return f"docker ({self.image}, as {self.user})"
        return "local (NOT isolated)" if self.kind == "local" else self.kind


class FixOutcome(BaseModel):
    """``result.json``: what the run did and found; the report page is drawn from it."""

    run_id: str
    run_dir: str
    status: Status = "error"
    issue: str
    issue_source: str
    issue_title: str = ""
    repo: str
    revision: str | None = None
    model: str
    sandbox: SandboxInfo = Field(default_factory=SandboxInfo)
    test_command: str = ""
    environment: list[str] = Field(default_factory=list)  # what was detected for the tests, and why
    patch: str = ""
    reason: str = ""
    stopped: str = ""
    error: str = ""
    index: dict = Field(default_factory=dict)
    localization: Localization | None = None
    loop: LoopResult | None = None
    budget: dict = Field(default_factory=dict)
    seconds: float = 0.0
    applied: bool = False
    branch: str | None = None
    commit: str | None = None
    link_base: str | None = None  # for links to code, when the repository is on GitHub

    @property
    def ok(self) -> bool:
        return self.status in ("resolved", "untested")

    @property
    def run_path(self) -> Path:
        return Path(self.run_dir)


def litellm_models(settings: Settings, events: EventSink, cancel: CancelToken) -> ChatModel:
    """The default model factory: a ``LiteLLMModel`` with the run's own budget, events and cancel token."""
    return LiteLLMModel.for_run(settings.model, settings.budget, events, cancel)


def configured_sandboxes(settings: Settings, plan: EnvPlan, events: EventSink, cancel: CancelToken) -> Sandbox | None:
    """The default sandbox factory: ``sandbox.kind`` (auto, docker, local or none) as configured.

    Its warnings (Docker unavailable, the tests not isolated) are alerts: shown even to a quiet console."""
    warn = lambda message: events.emit(Note(message, level="alert"))  # noqa: E731
    return open_sandbox(settings.sandbox, settings.sandbox.kind, plan, warn=warn, cancel=cancel)


@dataclass
class _Run:
    """One run's own objects: nothing here is shared with another run."""

    request: FixRequest
    folder: RunFolder
    events: EventSink
    cancel: CancelToken
    model: ChatModel
    cache: IndexCache
    outcome: FixOutcome
    started: float = field(default_factory=time.monotonic)

    def progress(self, task: str, done: int, total: int) -> None:
        self.cancel.check()  # long parses and embeddings stop here when the run is cancelled
        self.events.emit(Progress(task=task, done=done, total=total))


def fix(
    request: FixRequest,
    *,
    model: ModelFactory | None = None,
    sandbox: SandboxFactory | None = None,
    events: EventSink | None = None,
    caches: Caches | None = None,
    cancel: CancelToken | None = None,
) -> FixOutcome:
    """Localize, rewrite, test and choose; return the outcome (also in the run folder's ``result.json``).

    Raises ``UserError`` before any work when the model cannot be used, and
    ``Cancelled`` (after writing the run folder) when ``cancel`` is set.
    """
    s = request.settings
    if model is None:
        check_model(s.model, s.budget)  # no model, no key, no price for --max-cost: stop before any work
    cancel = cancel or CancelToken()
    folder = RunFolder(runs_root(s, request.repo))
    sink = Fanout([folder, events if events is not None else NoEvents()])
    chat = (model or litellm_models)(s, sink, cancel)
    label = request.repo_label or str(request.repo)
    outcome = FixOutcome(
        run_id=folder.id,
        run_dir=str(folder.path),
        issue=request.issue.text,
        issue_source=request.issue.source,
        issue_title=request.issue.title,
        repo=label,
        model=chat.name,
    )
    sink.emit(
        RunStarted(
            run_id=folder.id,
            run_dir=str(folder.path),
            repo=label,
            model=chat.name,
            issue=request.issue.text,
            issue_source=request.issue.source,
            issue_title=request.issue.title,
        )
    )
    cache = IndexCache((caches or Caches.of(s)).index_path)
    run = _Run(request, folder, sink, cancel, chat, cache, outcome)
    try:
        _pipeline(run, sandbox or configured_sandboxes)
    except Cancelled as exc:
        outcome.status, outcome.error = "interrupted", f"interrupted ({exc})"
        raise
    except Exception as exc:
        outcome.status, outcome.error = "error", f"{exc.__class__.__name__}: {exc}"
        raise
    finally:
        cache.close()
        _finish(run)
    return outcome


def _finish(run: _Run) -> None:
    outcome = run.outcome
    budget = getattr(run.model, "budget", None)
    outcome.budget = budget.to_dict() if budget is not None else {}
    outcome.seconds = round(time.monotonic() - run.started, 2)
    run.events.emit(StageEnded(stage="end", message=f"{outcome.status} in {outcome.seconds} s"))
    write_outcome(outcome)
    run.folder.close()


def write_outcome(outcome: FixOutcome) -> None:
    """``patch.diff``, ``result.json`` and ``report.html`` of the outcome's run folder, (re)written."""
    path = outcome.run_path
    if outcome.patch:
        (path / "patch.diff").write_text(outcome.patch, encoding="utf-8", errors="surrogateescape")
    # json.dumps escapes what UTF-8 cannot hold (a patch of a latin-1 file keeps its bytes as surrogates)
    (path / "result.json").write_text(json.dumps(outcome.model_dump(mode="json"), indent=2) + "\n", encoding="utf-8")
    write_report(path)


def _github_base(repo: Path, commit: str | None) -> str | None:
    """https://github.com/OWNER/NAME/blob/COMMIT/ for a repository whose origin is on GitHub."""
    if commit is None:
        return None
    m = re.search(r"github\.com[:/]([\w.-]+)/([\w.-]+?)(?:\.git)?/?$", git_out(repo, "remote", "get-url", "origin"))
    return f"https://github.com/{m[1]}/{m[2]}/blob/{commit}/" if m else None


def _pipeline(run: _Run, sandboxes: SandboxFactory) -> None:
    req, s, outcome, emit = run.request, run.request.settings, run.outcome, run.events.emit
    emit(StageStarted(stage="index"))
    index = open_index(s, req.repo, req.rev, run.cache, run.progress)
    outcome.revision = index.source.commit
    outcome.link_base = _github_base(req.repo, outcome.revision)
    if outcome.revision:
        emit(Note(f"working on commit {outcome.revision[:12]} of {outcome.repo}; your working tree is not touched"))
    stats = index.stats.to_dict()
    outcome.index = stats
    emit(
        StageEnded(
            stage="index",
            message=f"index: {stats['files']} files, {stats['symbols']} definitions "
            f"({stats['parsed']} parsed, {stats['reused']} from the cache) in {stats['seconds']:.1f} s",
            counts=stats,
        )
    )
    emit(StageStarted(stage="localize"))
    localizer = build_localizer(s, index, run.cache, run.model, progress=run.progress, events=run.events)
    loc = localizer.localize(req.issue.text)
    outcome.localization = loc
    run.folder.write_json("localization.json", loc.model_dump(mode="json"))
    edits = [f"{x.path}::{x.qualname}" for x in loc.locations if x.role == "edit"]
    files = ", ".join(f.path for f in loc.files[:3])
    emit(
        StageEnded(
            stage="localize",
            message=f"localize: files {files}; to edit: {', '.join(edits) or 'none'}",
            counts={"files": [f.path for f in loc.files[:10]], "edit": edits},
        )
    )
    run.cancel.check()
    project = Project(index.files, lambda p: index.read(p).decode("utf-8", errors="replace"))
    plan = plan_environment(project, s.sandbox.test_command, s.sandbox.install, s.sandbox.managed_python)
    outcome.test_command = plan.test_command
    outcome.environment = plan.explain()
    box = sandboxes(s, plan, run.events, run.cancel)
    outcome.sandbox = SandboxInfo.of(box)
    installs = f"; install: {'; '.join(step.why for step in plan.steps)}" if plan.steps else ""
    emit(
        Note(
            f"sandbox: {outcome.sandbox.line()}; tests: {plan.test_command}"
            + (installs if outcome.sandbox.kind == "docker" else "")
        )
    )
    options = loop_options(s, plan.test_command)
    loop = FixLoop(run.model, box, req.repo, outcome.revision, index, options, run.events, run.cancel)
    result = loop.run(req.issue.text, loc)
    outcome.loop = result
    for i, tested in enumerate(result.candidates, 1):
        cand = tested.candidate
        name = f"candidates/{i:02d}-round{tested.round}-{cand.patch_id if cand.ok else 'failed'}"
        run.folder.write_text(name + (".diff" if cand.ok else ".txt"), cand.patch if cand.ok else f"{cand.error}\n")
    outcome.patch, outcome.reason, outcome.stopped = result.patch, result.reason, result.stopped
    if result.environment_problem:
        outcome.status = "broken_environment"
    elif result.limit:
        outcome.status = "limit_exceeded"
    elif not result.patch:
        outcome.status = "stopped" if result.stopped else "no_patch"
    elif not result.tested:
        outcome.status = "untested"
    elif result.resolved:
        outcome.status = "resolved"
    else:
        outcome.status = "stopped" if result.stopped else "unresolved"
