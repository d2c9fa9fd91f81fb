"""``repoagent fix`` as a library call: index, localize, generate, test, choose, deliver, report.

The user's working tree is never touched unless asked: the index reads git
objects, every test run gets its own temporary worktree (or container), and
``--apply`` / ``--branch`` act only at the end.  Whatever happens, the run
folder ends with ``result.json`` and ``report.html``.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from repoagent import deliver
from repoagent.config import Settings
from repoagent.gitcmd import git_out
from repoagent.loop import FixLoop, FixResult
from repoagent.models import LiteLLMModel
from repoagent.options import build_localizer, loop_options, open_index
from repoagent.progress import StageLog
from repoagent.report import write_report
from repoagent.runs import RunFolder
from repoagent.sandbox.detect import install_from, test_command_from
from repoagent.sandbox.factory import open_sandbox
from repoagent.sources import Issue
from retrieval.cache import IndexCache
from retrieval.localization import Localization

Status = Literal["resolved", "unresolved", "untested", "no_patch", "stopped", "error", "interrupted"]


@dataclass
class FixRequest:
    issue: Issue
    repo: Path
    repo_label: str
    rev: str | None = None
    sandbox: str | None = None
    test_cmd: str | None = None
    install: str | None = None
    apply: bool = False
    force: bool = False
    branch: str | None = None


class FixReport(BaseModel):
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
    sandbox: str = ""
    test_command: str = ""
    patch: str = ""
    reason: str = ""
    stopped: str = ""
    error: str = ""
    index: dict = Field(default_factory=dict)
    localization: Localization | None = None
    loop: FixResult | None = None
    budget: dict = Field(default_factory=dict)
    seconds: float = 0.0
    applied: bool = False
    branch: str | None = None
    commit: str | None = None
    link_base: str | None = None  # for links to code, when the repository is on GitHub

    @property
    def ok(self) -> bool:
        return self.status in ("resolved", "untested")


def _github_base(repo: Path, commit: str | None) -> str | None:
    """https://github.com/OWNER/NAME/blob/COMMIT/ for a repository whose origin is on GitHub."""
    if commit is None:
        return None
    m = re.search(r"github\.com[:/]([\w.-]+)/([\w.-]+?)(?:\.git)?/?$", git_out(repo, "remote", "get-url", "origin"))
    return f"https://github.com/{m[1]}/{m[2]}/blob/{commit}/" if m else None


def run_fix(settings: Settings, req: FixRequest, model: LiteLLMModel, run: RunFolder, log: StageLog) -> FixReport:
    started = time.monotonic()
    report = FixReport(
        run_id=run.id,
        run_dir=str(run.path),
        issue=req.issue.text,
        issue_source=req.issue.source,
        issue_title=req.issue.title,
        repo=req.repo_label,
        model=model.name,
    )
    run.record({"type": "stage", "stage": "start", "repo": req.repo_label, "issue_source": req.issue.source})
    try:
        _pipeline(settings, req, model, run, log, report)
    except KeyboardInterrupt:
        report.status, report.error = "interrupted", "interrupted (Ctrl-C or SIGTERM)"
        raise
    except Exception as exc:
        report.status, report.error = "error", f"{exc.__class__.__name__}: {exc}"
        raise
    finally:
        report.budget = model.budget.to_dict()
        report.seconds = round(time.monotonic() - started, 2)
        run.record({"type": "stage", "stage": "end", "status": report.status, "seconds": report.seconds})
        if report.patch:
            run.write_text("patch.diff", report.patch)
        run.write_json("result.json", report.model_dump(mode="json"))
        write_report(run.path)
        run.close()
    return report


def _pipeline(
    settings: Settings, req: FixRequest, model: LiteLLMModel, run: RunFolder, log: StageLog, report: FixReport
) -> None:
    model.stage = "index"
    index = open_index(settings, req.repo, req.rev, quiet=not log.enabled)
    report.revision = index.source.commit
    report.link_base = _github_base(req.repo, report.revision)
    if report.revision:
        log.say(f"working on commit {report.revision[:12]} of {req.repo_label}; your working tree is not touched")
    stats = index.stats.to_dict()
    report.index = stats
    run.record({"type": "stage", "stage": "index", **stats})
    log.say(
        f"index: {stats['files']} files, {stats['symbols']} definitions "
        f"({stats['parsed']} parsed, {stats['reused']} from the cache) in {stats['seconds']:.1f} s"
    )
    model.stage = "localize"
    with IndexCache(settings.resolved_cache_dir() / "index.sqlite3") as cache:
        localizer = build_localizer(settings, index, cache, model, quiet=not log.enabled, record=run.record)
        loc = localizer.localize(req.issue.text)
    report.localization = loc
    run.write_json("localization.json", loc.model_dump(mode="json"))
    edits = [f"{x.path}::{x.qualname}" for x in loc.locations if x.role == "edit"]
    log.say(f"localize: files {', '.join(f.path for f in loc.files[:3])}; to edit: {', '.join(edits) or 'none'}")
    run.record({"type": "stage", "stage": "localize", "files": [f.path for f in loc.files[:10]], "edit": edits})

    names = {p.split("/", 1)[0] for p in index.files}
    test_cmd = req.test_cmd or test_command_from(names, lambda n: index.read(n).decode("utf-8", errors="replace"))
    report.test_command = test_cmd
    kind = req.sandbox or settings.sandbox.kind
    install = req.install or install_from(names, test_cmd)
    sandbox = open_sandbox(settings.sandbox, kind, install, warn=log.warn)
    report.sandbox = sandbox.name if sandbox is not None else "none"
    log.say(
        f"sandbox: {report.sandbox}; tests: {test_cmd}"
        + (f"; install: {install}" if install and report.sandbox == "docker" else "")
    )
    options = loop_options(settings, test_cmd)

    def set_stage(name: str) -> None:
        model.stage = name
        run.record({"type": "stage", "stage": name})

    loop = FixLoop(model, sandbox, req.repo, report.revision, index, options, run.record, log.say, set_stage)
    result = loop.run(req.issue.text, loc)
    report.loop = result
    for i, scored in enumerate(result.candidates, 1):
        cand = scored.candidate
        name = f"candidates/{i:02d}-round{scored.round}-{cand.patch_id if cand.ok else 'failed'}"
        run.write_text(name + (".diff" if cand.ok else ".txt"), cand.patch if cand.ok else f"{cand.error}\n")
    report.patch, report.reason, report.stopped = result.patch, result.reason, result.stopped
    if not result.patch:
        report.status = "stopped" if result.stopped else "no_patch"
    elif not result.tested:
        report.status = "untested"
    elif result.resolved:
        report.status = "resolved"
    else:
        report.status = "stopped" if result.stopped else "unresolved"
    if report.patch and report.status in ("resolved", "untested"):
        _deliver(req, report, log)


def _deliver(req: FixRequest, report: FixReport, log: StageLog) -> None:
    if req.apply:
        deliver.check_apply(req.repo, req.force)
        deliver.apply_patch(req.repo, report.patch)
        report.applied = True
        log.say(f"applied the patch to {req.repo}")
    elif req.branch:
        title = report.issue_title or "the issue"
        message = f"Fix: {title}\n\nMade by repoagent, run {report.run_id}.\n"
        report.commit = deliver.commit_on_branch(req.repo, report.revision or "HEAD", req.branch, report.patch, message)
        report.branch = req.branch
        log.say(f"committed {report.commit[:12]} on the new branch {req.branch}")
