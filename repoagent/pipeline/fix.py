"""``fix(request) -> FixOutcome``: the one entry every caller uses (the CLI, batch runs, the App server).

The request holds the input only: the issue, the repository and revision, and
the settings.  The collaborators come in behind small seams: a factory for the
chat model, a factory for the sandbox, an event sink, the caches, a cancel
token and the deliveries (hooks on the outcome).  Per-run state (budget, run
folder, events) lives in objects made for the run, so many fixes can run side
by side in one process.

The user's working tree is never touched: the index reads git objects and
every test run gets its own temporary worktree (or container).  Whatever
happens, the run folder ends with ``result.json`` and ``report.html``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from repoagent.cancel import Cancelled, CancelToken
from repoagent.config import Settings
from repoagent.events import Fanout, NoEvents, Note, Progress, RunStarted
from repoagent.models.litellm_model import LiteLLMModel, check_model
from repoagent.pipeline.deliver import FixDelivery
from repoagent.pipeline.inputs import FixRequest
from repoagent.pipeline.outcome import FixOutcome, SandboxInfo, write_outcome
from repoagent.pipeline.stages import Stages
from repoagent.pipeline.test_loop import verify
from repoagent.pipeline.tester import Tester
from repoagent.pipeline.wiring import build_localizer, loop_options, open_index
from repoagent.protocols import ChatModel, EventSink, Sandbox
from repoagent.records.run_folder import RunFolder, runs_root
from repoagent.sandbox.environment import EnvPlan, Project, plan_environment
from repoagent.sandbox.factory import open_sandbox
from retrieval.cache import IndexCache
from retrieval.git import git_out
from retrieval.index import RepoIndex
from retrieval.localization import Localization
from retrieval.termcounts import LexicalMemory

__all__ = ["Caches", "FixOutcome", "FixRequest", "configured_sandboxes", "fix", "litellm_models", "write_outcome"]

ModelFactory = Callable[[Settings, EventSink, CancelToken], ChatModel]
SandboxFactory = Callable[[Settings, EnvPlan, EventSink, CancelToken], "Sandbox | None"]


@dataclass(frozen=True)
class Caches:
    """Where the index cache lives, and the term counts kept in memory for all the runs of the caches' owner
    (a batch worker, the App); each run opens its own connection to the file, so runs in threads share none."""

    index_path: Path
    memory: LexicalMemory = field(default_factory=LexicalMemory, compare=False)

    @classmethod
    def of(cls, settings: Settings) -> Caches:
        return cls(settings.index_cache_path())


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
    stages: Stages
    model: ChatModel
    cache: IndexCache
    outcome: FixOutcome
    started: float = field(default_factory=time.monotonic)

    def progress(self, task: str, done: int, total: int) -> None:
        self.stages.cancel.check()  # long parses and embeddings stop here when the run is cancelled
        self.stages.emit(Progress(task=task, done=done, total=total))


def fix(
    request: FixRequest,
    *,
    model: ModelFactory | None = None,
    sandbox: SandboxFactory | None = None,
    events: EventSink | None = None,
    caches: Caches | None = None,
    cancel: CancelToken | None = None,
    deliveries: Sequence[FixDelivery] = (),
) -> FixOutcome:
    """Index, localize, open the sandbox, verify (baseline, reproduce, generate and test, choose), deliver.

    Raises ``UserError`` before any work when the model cannot be used or a delivery could not be made, and
    ``Cancelled`` (after writing the run folder) when ``cancel`` is set.
    """
    s = request.settings
    if model is None:
        check_model(s.model, s.budget)  # no model, no key, no price for --max-cost: stop before any work
    for delivery in deliveries:
        delivery.check()  # a dirty tree, a taken branch name: refused before any work
    run = _open_run(request, model or litellm_models, events, caches, cancel or CancelToken())
    try:
        index = _index(run)
        loc = _localize(run, index)
        tester = _tester(run, index, sandbox or configured_sandboxes)
        result = verify(run.model, tester, index, loc, loop_options(s, run.outcome.test_command), run.stages)
        run.outcome.record(result)
        _keep_candidates(run)
    except Cancelled as exc:
        run.outcome.status, run.outcome.error = "interrupted", f"interrupted ({exc})"
        raise
    except Exception as exc:
        run.outcome.status, run.outcome.error = "error", f"{exc.__class__.__name__}: {exc}"
        raise
    finally:
        run.cache.close()
        _finish(run)
    for delivery in deliveries:
        delivery.deliver(run.outcome, run.stages)
    return run.outcome


def _open_run(
    request: FixRequest, models: ModelFactory, events: EventSink | None, caches: Caches | None, cancel: CancelToken
) -> _Run:
    """The run's folder, events, model and index cache, and its outcome's header (its first event)."""
    s = request.settings
    folder = RunFolder(runs_root(s, request.repo))
    sink = Fanout([folder, events if events is not None else NoEvents()])
    chat = models(s, sink, cancel)
    issue = request.issue
    outcome = FixOutcome(
        run_id=folder.id, run_dir=str(folder.path), issue=issue.text, issue_source=issue.source,
        issue_title=issue.title, repo=request.repo_label or str(request.repo), model=chat.name,
    )  # fmt: skip
    sink.emit(RunStarted(header=outcome.header()))
    caches = caches or Caches.of(s)
    cache = IndexCache(caches.index_path, caches.memory)
    return _Run(request, folder, Stages(sink, cancel), chat, cache, outcome)


def _index(run: _Run) -> RepoIndex:
    req, outcome = run.request, run.outcome
    run.stages.start("index")
    index = open_index(req.settings, req.repo, req.rev, run.cache, run.progress, for_retrieval=True)
    outcome.revision = index.source.commit
    outcome.link_base = _github_base(req.repo, outcome.revision)
    outcome.index = index.stats.to_dict()
    run.stages.end("index", commit=outcome.revision, repo=outcome.repo, **outcome.index)
    return index


def _localize(run: _Run, index: RepoIndex) -> Localization:
    run.stages.start("localize")
    localizer = build_localizer(
        run.request.settings, index, run.cache, run.model, progress=run.progress, events=run.stages
    )
    loc = run.outcome.localization = localizer.localize(run.request.issue.text)
    run.folder.write_json("localization.json", loc.model_dump(mode="json"))
    edits = [f"{x.path}::{x.qualname}" for x in loc.locations if x.role == "edit"]
    run.stages.end("localize", files=[f.path for f in loc.files[:10]], edit=edits)
    run.stages.cancel.check()
    return loc


def _tester(run: _Run, index: RepoIndex, sandboxes: SandboxFactory) -> Tester | None:
    """The test environment the project declares, and the sandbox it runs in (None: no sandbox)."""
    s, outcome = run.request.settings, run.outcome
    project = Project(index.files, lambda p: index.read(p).decode("utf-8", errors="replace"))
    plan = plan_environment(project, s.sandbox.test_command, s.sandbox.install, s.sandbox.managed_python)
    outcome.test_command, outcome.environment = plan.test_command, plan.explain()
    box = sandboxes(s, plan, run.stages.events, run.stages.cancel)
    outcome.sandbox = SandboxInfo.of(box)
    installs = [step.why for step in plan.steps] if outcome.sandbox.kind == "docker" else []
    run.stages.end("sandbox", sandbox=outcome.sandbox.line(), tests=plan.test_command, install=installs)
    if box is None:
        return None
    return Tester(box, run.request.repo, outcome.revision, plan.test_command, s.sandbox.timeout, run.stages)


def _keep_candidates(run: _Run) -> None:
    """Each candidate's patch (or why it failed) in the run folder, under ``candidates/``."""
    for i, tested in enumerate(run.outcome.loop.candidates if run.outcome.loop else [], 1):
        cand = tested.candidate
        name = f"candidates/{i:02d}-round{tested.round}-{cand.patch_id if cand.ok else 'failed'}"
        run.folder.write_text(name + (".diff" if cand.ok else ".txt"), cand.patch if cand.ok else f"{cand.error}\n")


def _finish(run: _Run) -> None:
    outcome = run.outcome
    budget = getattr(run.model, "budget", None)
    outcome.budget = budget.to_dict() if budget is not None else {}
    outcome.seconds = round(time.monotonic() - run.started, 2)
    run.stages.end("end", status=outcome.status, seconds=outcome.seconds)
    write_outcome(outcome)
    run.folder.close()


def _github_base(repo: Path, commit: str | None) -> str | None:
    """https://github.com/OWNER/NAME/blob/COMMIT/ for a repository whose origin is on GitHub."""
    if commit is None:
        return None
    m = re.search(r"github\.com[:/]([\w.-]+)/([\w.-]+?)(?:\.git)?/?$", git_out(repo, "remote", "get-url", "origin"))
    return f"https://github.com/{m[1]}/{m[2]}/blob/{commit}/" if m else None
