"""One App job: from a triggering issue (or a guidance comment) to a tested pull request, or a plain explanation.

Steps: authenticate as the installation; skip closed or locked issues; clone
with the installation token passed as an HTTP header for that one command
(never written into the clone's git config); run ``fix()`` with the configured
model, budget and sandbox; commit the patch on ``repoagent/issue-<N>`` and
push it on top of the branch as it is (a fast-forward: commits others pushed to
it stay); open a pull request (draft by default) or update the one that is
open for that branch, the model having seen its discussion; say what
happened in a comment.  Every end leaves a
comment, with every secret taken out of it.
"""

from __future__ import annotations

import base64
import logging
import re
import shutil
import tempfile
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from repoagent.config import Settings, load_settings
from repoagent.github_app.github import GitHubApp, Installation, PermissionUnknown
from repoagent.github_app.progress import JobProgress
from repoagent.github_app.settings import AppSettings, Secrets
from repoagent.github_app.state import Job, State
from repoagent.pipeline.deliver import NewBranch, deliverable
from repoagent.pipeline.fix import Caches, FixOutcome, FixRequest, fix
from repoagent.pipeline.inputs import Issue
from repoagent.protocols import EventSink
from retrieval.git import git
from retrieval.termcounts import LexicalMemory

log = logging.getLogger("repoagent.app")
WRITE = ("admin", "maintain", "write")
GUIDED = ("guidance", "review")  # a comment on the App's pull request, or a review comment on one of its lines
DISCUSSION_CHARS = 20_000  # the pull request's discussion shown to the model: its latest part


class Redactor:
    """Takes secrets (keys, tokens) out of any text the App writes: comments, logs, job reasons."""

    def __init__(self, secrets: Secrets) -> None:
        self.values = set(secrets.values())

    def add(self, value: str) -> None:
        if value:
            self.values.add(value)

    def __call__(self, text: str) -> str:
        for value in sorted(self.values, key=len, reverse=True):
            text = text.replace(value, "[secret]")
            for line in value.strip().splitlines():  # a PEM key quoted line by line
                if len(line) > 20:
                    text = text.replace(line, "[secret]")
        return re.sub(r"\b(gh[spuor]_[A-Za-z0-9_]{20,})\b", "[token]", text)


@dataclass
class Context:
    settings: AppSettings
    secrets: Secrets
    state: State
    github: GitHubApp
    redact: Redactor
    memory: LexicalMemory = field(default_factory=LexicalMemory)  # term counts kept for all the server's jobs

    def fix_settings(self, max_cost: float | None = None) -> Settings:
        """The settings of a job's ``fix()``; ``max_cost``: its budget today (else the App's ``max_cost``)."""
        overrides = [*self.settings.fix_overrides, f"sandbox.kind={self.settings.sandbox}"]
        if not self.settings.allow_unsandboxed:  # never a fall back to the local sandbox, silent or not
            overrides.append("sandbox.require_isolation=true")
        if self.settings.model:
            overrides.append(f"model.name={self.settings.model}")
        cap = max_cost if max_cost is not None else self.settings.max_cost
        if cap is not None and cap != float("inf"):
            overrides.append(f"budget.max_cost={cap}")
        return load_settings(self.settings.fix_config, overrides)


UNSANDBOXED = (
    "Warning: this App runs with `allow_unsandboxed: true`, so the repository's tests may have run without "
    "isolation, on the App's own machine."
)


def isolation_problem(ctx: Context) -> str | None:
    """Why jobs could not run isolated (None: they can, or the operator allowed them not to): said at start."""
    s = ctx.settings
    if s.allow_unsandboxed:
        return None
    if s.sandbox in ("local", "none"):
        return (
            f"sandbox: {s.sandbox} would run the tests of untrusted issues beside the App's key and secrets; "
            "use sandbox: docker, or set allow_unsandboxed: true to run anyway"
        )
    from repoagent.errors import UserError
    from repoagent.sandbox.docker_box import docker_client

    image = ctx.fix_settings().sandbox.image
    try:
        client = docker_client()
    except UserError as exc:
        return f"the App runs tests in Docker only, and {exc} (scripts/docker_up.sh installs and starts one)"
    try:
        client.images.get(image)
    except Exception:  # noqa: BLE001 - ImageNotFound, or an engine that fails to answer about it
        return (
            f"the App runs tests in Docker only, and the base image {image} is not here: "
            "build it with 'repoagent sandbox build-base'"
        )
    return None


def refusal(ctx: Context, job: Job, gh: Installation) -> str | None:
    """Why ``job`` may not run (None: it may).  Fails closed: a check that cannot be made refuses.

    The repository must be served (``allow_repos``), and the sender an OWNER or MEMBER by association or
    a user whose permission is write, maintain or admin; labels and comments alike.
    """
    if ctx.settings.allow_repos and job.repo not in ctx.settings.allow_repos:
        return f"{job.repo} is not in allow_repos: ignored"
    if not ctx.state.serves(job.installation, job.repo):
        return f"the App is no longer installed on {job.repo}: ignored"
    if job.association in ctx.settings.trusted_associations:
        return None
    try:
        level = gh.permission(job.repo, job.sender)
    except PermissionUnknown as exc:
        return f"{exc}; not run (a check that fails runs nothing)"
    return None if level in WRITE else f"@{job.sender} has no write access ({level}): ignored"


def _auth_header(token: str) -> str:
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    return f"http.extraHeader=Authorization: Basic {basic}"


def _git_with_token(folder: Path, token: str, *args: str) -> Any:
    """A git command that authenticates with ``token`` for itself only (``-c``: nothing is saved)."""
    return git(folder, "-c", _auth_header(token), *args)


def run_job(ctx: Context, job_id: int, described: dict[str, Any] | None = None) -> None:
    """Run job ``job_id`` if it has not ended; record how it ended.  ``described``: the queue message's copy,
    which must be the job this server's state knows by that id (else servers share a queue, not a state)."""
    if described:
        mine = ctx.state.job(job_id)
        if mine is None or mine.delivery != described.get("delivery"):
            log.warning(
                "job %s of the queue (%s#%s, delivery %s) is not in this server's state, so it is not run here: "
                "servers that share a queue need state_url",
                job_id, described.get("repo"), described.get("issue"), described.get("delivery"),
            )  # fmt: skip
            return
    job = ctx.state.start(job_id)
    if job is None:
        return
    gh = ctx.github.installation(job.installation, job.repo)
    number = job.issue
    why = refusal(ctx, job, gh)  # again: access may have changed since the trigger was accepted
    if why is not None:
        log.warning("job %s: %s", job_id, why)
        _end(ctx, job, "failed", why)
        return
    try:
        if job.kind in GUIDED:
            pull = gh.pull(job.repo, job.issue)
            head = pull["head"]["ref"]
            if not head.startswith(ctx.settings.branch_prefix):
                _end(ctx, job, "failed", "guidance only counts on the App's own pull requests")
                return
            number = int(head[len(ctx.settings.branch_prefix) :])
        issue = gh.issue(job.repo, number)
        if issue.get("state") != "open" or issue.get("locked"):
            _end(ctx, job, "done", f"issue #{number} is {'locked' if issue.get('locked') else 'closed'}: skipped")
            return
        with _issue_lock(ctx, job.repo, number):  # one job at a time per issue: one branch, one pull request
            _fix_issue(ctx, job, gh, number, issue)
    except Exception as exc:  # every end leaves a comment; the reason is redacted
        reason = ctx.redact(f"{type(exc).__name__}: {exc}")
        log.warning("job %s failed: %s", job_id, reason)
        _say(ctx, gh, job, number, f"repoagent could not finish this fix: an error stopped it.\n\n> {reason[:1000]}")
        _end(ctx, job, "failed", reason)


def _fix_issue(ctx: Context, job: Job, gh: Installation, number: int, issue: dict[str, Any]) -> None:
    day = datetime.now(UTC).strftime("%Y-%m-%d")
    budget = ctx.state.reserve(job.installation, ctx.settings.max_cost, ctx.settings.max_daily_cost, day)
    if budget is None:
        spent = ctx.state.spent(job.installation, day)
        why = (
            f"the daily spending cap of ${ctx.settings.max_daily_cost:.2f} for this installation is reached "
            f"(${spent:.2f} spent today, UTC, with the jobs running now counted at their cap); "
            "comment again tomorrow, or raise max_daily_cost"
        )
        _say(ctx, gh, job, number, f"repoagent did not run: {why}.")
        _end(ctx, job, "failed", why)
        return
    spent = budget if budget != float("inf") else 0.0  # a job that ends in an error counts at its cap
    try:
        spent, ending = _fix_within(ctx, job, gh, number, issue, budget)
    finally:
        ctx.state.settle(job.installation, day, budget, spent)
    _end(ctx, job, ending.state, ending.reason, **ending.fields)  # ended once its money is settled


def _fix_within(
    ctx: Context, job: Job, gh: Installation, number: int, issue: dict[str, Any], budget: float
) -> tuple[float, Ending]:
    """The job's fix within ``budget`` USD; what it spent, and how the job ends."""
    token = ctx.github.token(job.installation, job.repo)
    ctx.redact.add(token)
    work = Path(tempfile.mkdtemp(prefix=f"repoagent-app-{number}-"))
    try:
        clone = work / "repo"
        url = ctx.settings.git_url.format(repo=job.repo)
        proc = _git_with_token(work, token, "clone", "--quiet", url, str(clone))
        if proc.returncode != 0:
            raise RuntimeError(f"git clone failed: {ctx.redact(proc.stderr.decode(errors='replace'))[-500:]}")
        title = str(issue.get("title") or "")
        text = f"{title}\n\n{issue.get('body') or ''}".strip() + "\n"
        branch = f"{ctx.settings.branch_prefix}{number}"
        # The App's branch, when it exists, is built on: commits that others pushed to it stay, and so do the
        # App's earlier ones; the new commit goes on top, and the push is a fast-forward, never forced.
        head = git(clone, "rev-parse", "--verify", "-q", f"refs/remotes/origin/{branch}^{{commit}}")
        rev = head.stdout.decode().strip() if head.returncode == 0 else "HEAD"
        existing = gh.open_pull(job.repo, branch)
        progress = JobProgress(
            gh, job.repo, number, rev if existing is not None and rev != "HEAD" else None, ctx.redact
        )
        progress.start()
        if existing is not None:
            talk = discussion(gh, job.repo, int(existing["number"]))
            if talk:
                text += f"\nThe discussion on the pull request #{existing['number']} so far:\n{talk}\n"
        if job.guidance:
            text += f"\nGuidance from @{job.sender} on the pull request, to follow now:\n{job.guidance}\n"
        settings = ctx.fix_settings(budget).model_copy(update={"runs_dir": ctx.state.folder / "runs"})
        url_issue = f"{job.repo}#{number}"
        request = FixRequest(Issue(text, url_issue, title), clone, settings, rev=rev, repo_label=job.repo)
        pull = PullRequest(ctx, job, gh, Target(clone, url, branch, number, title, existing), progress)
        caches = Caches(settings.index_cache_path(), ctx.memory)
        outcome = fix(request, events=progress, caches=caches, deliveries=[pull])
        return float(outcome.budget.get("spent_cost") or 0.0), pull.ending
    finally:
        shutil.rmtree(work, ignore_errors=True)


@dataclass(frozen=True)
class Target:
    """Where the App's pull request goes: the clone, its remote, the App's branch, the issue, an open pull."""

    clone: Path
    url: str
    branch: str
    number: int
    title: str
    existing: dict[str, Any] | None


@dataclass
class Ending:
    """How a job ends: its state, the reason, and fields (the pull request's address)."""

    state: str = "failed"
    reason: str = "the fix ended without a delivery"
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass
class PullRequest:
    """The App's delivery, a hook on the outcome: the patch committed on the App's branch, pushed (a fast-forward)
    and a pull request opened or updated; a run without a patch worth one says why on the issue."""

    ctx: Context
    job: Job
    gh: Installation
    to: Target
    progress: JobProgress
    ending: Ending = field(default_factory=Ending)  # set by ``deliver``; the job is ended after its money is settled

    def check(self) -> None:
        return None  # the App's branch is its own: deleted in the clone before the commit

    def deliver(self, outcome: FixOutcome, events: EventSink) -> None:
        ctx, job, to = self.ctx, self.job, self.to
        report = _report_link(ctx, outcome)
        if not deliverable(outcome):
            message = ctx.redact(f"{_no_fix(outcome)} {_cost_words(outcome)}")
            if not self.progress.finish(f"no fix ({outcome.status})", False, report, message=message):
                _say(ctx, self.gh, job, to.number, message)
            self.ending = Ending("done", f"no pull request: {outcome.status}")
            return
        git(to.clone, "branch", "-D", to.branch)  # a local branch the clone made; the new commit goes on ``rev``
        NewBranch(to.clone, to.branch).deliver(outcome, events)
        self.progress.say("pushing")
        _push(ctx, job, to.clone, to.url, to.branch)
        words, link = self._open_or_update(outcome)
        message = ctx.redact(f"repoagent {words} ({_status_words(outcome)}). {_cost_words(outcome)}")
        if not self.progress.finish(
            f"{outcome.status}: {words}", outcome.status == "resolved", report, outcome.commit, message
        ):
            _say(ctx, self.gh, job, to.number, message)
        self.ending = Ending("done", words, {"pull_request": link})

    def _open_or_update(self, outcome: FixOutcome) -> tuple[str, str]:
        ctx, job, to = self.ctx, self.job, self.to
        body = ctx.redact(pull_body(outcome, to.number, UNSANDBOXED if ctx.settings.allow_unsandboxed else ""))
        if to.existing is not None:
            pull = self.gh.update_pull(job.repo, to.existing["number"], body)
            words = f"updated the pull request {pull.get('html_url') or '#' + str(to.existing['number'])}"
        else:
            base = self.gh.default_branch(job.repo)
            title = f"Fix #{to.number}: {to.title}"[:250]
            pull = self.gh.create_pull(job.repo, to.branch, base, title, body, ctx.settings.draft)
            words = f"opened the pull request {pull.get('html_url') or '#' + str(pull.get('number'))}"
        return words, str(pull.get("html_url") or pull.get("number"))


def discussion(gh: Installation, repo: str, pull: int, limit: int = DISCUSSION_CHARS) -> str:
    """The pull request's comments, reviews and review comments (on a line), in time order, with their
    authors; the App's own and other bots' left out; the latest ``limit`` characters."""
    items: list[tuple[str, str]] = []
    for c in gh.issue_comments(repo, pull):
        items.append((str(c.get("created_at") or ""), f"@{_login(c)}: {c.get('body') or ''}"))
    for r in gh.reviews(repo, pull):
        if r.get("body"):
            items.append((str(r.get("submitted_at") or ""), f"@{_login(r)} (review, {r.get('state')}): {r['body']}"))
    for c in gh.review_comments(repo, pull):
        where = f"{c.get('path')} line {c.get('line') or c.get('original_line')}"
        items.append((str(c.get("created_at") or ""), f"@{_login(c)} (on {where}): {c.get('body') or ''}"))
    lines = [text.strip() for _, text in sorted(items, key=lambda item: item[0]) if not _by_bot(text)]
    talk = "\n".join(lines)
    return talk if len(talk) <= limit else "...\n" + talk[-limit:]


def _login(item: dict[str, Any]) -> str:
    user = item.get("user") or {}
    login = str(user.get("login") or "someone")
    return f"{login}[bot]" if user.get("type") == "Bot" and not login.endswith("[bot]") else login


def _by_bot(text: str) -> bool:
    return text.split(":", 1)[0].split(" ", 1)[0].endswith("[bot]")


TRANSIENT_GIT = re.compile(
    r"\b(?:5\d\d|429)\b|timed? ?out|Could not resolve host|Connection (?:reset|refused|timed out)|"
    r"remote end hung up|RPC failed|early EOF|TLS|SSL",
    re.I,
)
PUSH_WAITS = (2.0, 5.0)  # seconds before the second and the third try of a push that failed in transit


def _push(ctx: Context, job: Job, clone: Path, url: str, branch: str) -> None:
    """Push ``branch`` with a fresh token (the clone's may have expired during a long fix), as a fast-forward:
    never forced, so no commit on the remote branch is lost; one pushed there while the fix ran makes the push
    fail, and the job says so.  A failure in transit (a 5xx, a timeout, a reset connection) is tried again,
    with a new token each time."""
    for attempt, wait in enumerate((0.0, *PUSH_WAITS)):
        time.sleep(wait)
        token = ctx.github.token(job.installation, job.repo)
        ctx.redact.add(token)
        push = _git_with_token(clone, token, "push", "--quiet", url, f"{branch}:refs/heads/{branch}")
        if push.returncode == 0:
            return
        why = ctx.redact(push.stderr.decode(errors="replace"))[-500:]
        if "non-fast-forward" in why or "fetch first" in why or "rejected" in why:
            raise RuntimeError(
                f"the branch {branch} moved while the fix ran (someone pushed to it); nothing was overwritten: "
                "comment again to build on the new head"
            )
        if not TRANSIENT_GIT.search(why) or attempt == len(PUSH_WAITS):
            raise RuntimeError(f"git push failed: {why}")
        log.warning("job %s: git push failed in transit (try %d), trying again: %s", job.id, attempt + 1, why)


def _report_link(ctx: Context, outcome: FixOutcome) -> str:
    """Where the run's report is read: the App's own address when ``public_url`` is set, else the run's id."""
    if ctx.settings.public_url:
        return f"{ctx.settings.public_url.rstrip('/')}/runs/{outcome.run_id}/report"
    return f"run {outcome.run_id} (GET /runs/{outcome.run_id}/report on the App's server)"


def _cost_words(outcome: FixOutcome) -> str:
    b = outcome.budget
    cap = f" of a ${b['max_cost']:.2f} cap" if b.get("max_cost") is not None else ""
    return f"Cost: ${float(b.get('spent_cost') or 0):.4f}{cap}, {b.get('spent_tokens', 0)} tokens."


def _issue_lock(ctx: Context, repo: str, number: int) -> AbstractContextManager[None]:
    return ctx.state.issue_lock(repo, number)


def _status_words(outcome: FixOutcome) -> str:
    if outcome.status == "resolved":
        return "the repository's tests pass with it, and the issue's reproduction test with them"
    return "no test could check it: please review it with care"


def _no_fix(outcome: FixOutcome) -> str:
    if outcome.status == "stopped" and outcome.stopped:
        why = f"it stopped at its budget: {outcome.stopped}"
    elif outcome.status == "broken_environment":
        why = "the repository's tests could not run in its sandbox, so no change could be checked"
    elif outcome.status == "limit_exceeded":
        why = "the repository's tests were stopped at a limit of the sandbox, so no change could be checked"
    elif outcome.status == "unresolved":
        why = "none of the changes it tried made the tests pass"
    elif outcome.status == "error":
        why = f"an error stopped it: {outcome.error}"
    else:
        why = "it found no change to make"
    return f"repoagent found no fix for this issue: {why}. ({outcome.reason or outcome.status})"


def pull_body(outcome: FixOutcome, number: int, warning: str = "") -> str:
    summary = outcome.summary()
    where = ", ".join(f"`{x}`" for x in summary["edit_locations"])
    files = ", ".join(f"`{f}`" for f in summary["files"])
    tests = "not run (no sandbox)"
    if summary["tested"]:
        tests = f"{'resolved' if summary['resolved'] else 'not resolved'}: {outcome.reason}"
    return (
        (f"> **{warning}**\n\n" if warning else "") + f"Fixes #{number}.\n\n"
        f"**Summary**: {outcome.reason or outcome.status} (status: {outcome.status}).\n\n"
        f"**Localization**: files {files or 'none'}; changed {where or 'none'}.\n\n"
        f"**Tests**: {tests}.\n\n"
        f"**Cost**: ${summary['cost']:.4f}, {summary['tokens']} tokens, {outcome.seconds:.0f} s "
        f"(model {outcome.model}).\n\n"
        "Made by repoagent. Comment `/repoagent fix <guidance>` here to run it again with guidance."
    )


def _say(ctx: Context, gh: Installation, job: Job, number: int, text: str) -> None:
    where = job.issue if job.kind in GUIDED else number
    try:
        gh.comment(job.repo, where, ctx.redact(text))
        if job.kind in GUIDED and where != number:
            gh.comment(job.repo, number, ctx.redact(text))
    except Exception as exc:  # a comment that cannot be written does not hide the job's end
        log.warning("job %s: cannot comment: %s", job.id, ctx.redact(str(exc)))


def _end(ctx: Context, job: Job, state: str, reason: str, **fields: Any) -> None:
    assert job.id is not None
    ctx.state.update(job.id, state=state, reason=ctx.redact(reason), **fields)
    log.info("job %s %s: %s", job.id, state, ctx.redact(reason))
