"""The webhook server: verify, remember, acknowledge within a second, and queue the work.

- ``POST /webhook``: ``X-Hub-Signature-256`` is an HMAC-SHA256 of the raw body
  with the webhook secret, compared in constant time (401 when missing or
  wrong); a body over ``max_body_bytes`` gets 413; an event that triggers
  nothing gets 204; a delivery seen before is acknowledged (200) and not run
  again; a new trigger is recorded with its delivery and answered 202.  The
  eyes reaction and the permission check of a comment's author happen after
  the answer, in the background, and only then is the job queued.
- ``GET /healthz``, and ``GET /jobs`` (recent jobs and their state; no secret, but repository names,
  senders and guidance): with ``jobs_token_file`` it wants that token as a bearer token; without one
  it answers only requests from loopback that no proxy forwarded (403 otherwise).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import re
from collections.abc import Callable
from typing import Any

from fastapi import BackgroundTasks, FastAPI, Request, Response
from fastapi.responses import JSONResponse

from repoagent.github_app.jobs import Context, refusal
from repoagent.github_app.state import Job

log = logging.getLogger("repoagent.app")
Enqueue = Callable[[int], None]


def signature_ok(secret: bytes, body: bytes, header: str | None) -> bool:
    if not header or not header.startswith("sha256="):
        return False
    expected = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), header.encode())


def trigger(event: str, payload: dict[str, Any], ctx: Context) -> Job | None:
    """The job a webhook asks for, or None."""
    s = ctx.settings
    repo = str((payload.get("repository") or {}).get("full_name") or "")
    installation = int((payload.get("installation") or {}).get("id") or 0)
    sender = str((payload.get("sender") or {}).get("login") or "")
    issue = payload.get("issue") or payload.get("pull_request") or {}
    if not repo or not installation or not issue:
        return None
    if s.allow_repos and repo not in s.allow_repos:
        return None
    if (sender.endswith("[bot]")) or (payload.get("sender") or {}).get("type") == "Bot":
        return None  # never answer bots, the App itself included
    if event == "issues" and payload.get("action") == "labeled":
        if (payload.get("label") or {}).get("name") != s.label or "pull_request" in issue:
            return None
        return Job(kind="label", repo=repo, issue=int(issue["number"]), installation=installation, sender=sender)
    if event == "pull_request_review_comment" and payload.get("action") == "created":
        comment = payload.get("comment") or {}
        guidance = _command(str(comment.get("body") or ""), s.command)
        if guidance is None:
            return None
        line = comment.get("line") or comment.get("original_line")
        guidance += f"\n(The reviewer points at {comment.get('path')}, line {line}.)"
        job = Job(kind="review", repo=repo, issue=int(issue["number"]), installation=installation, sender=sender)
        job.comment_id, job.guidance = int(comment.get("id") or 0), guidance.strip()
        job.association = str(comment.get("author_association") or "")
        return job
    if event == "issue_comment" and payload.get("action") == "created":
        comment = payload.get("comment") or {}
        body = str(comment.get("body") or "").strip()
        if not (body == s.command or body.startswith(s.command + " ") or body.startswith(s.command + "\n")):
            return None
        guidance = body[len(s.command) :].strip()
        kind = "guidance" if "pull_request" in issue else "comment"
        job = Job(kind=kind, repo=repo, issue=int(issue["number"]), installation=installation, sender=sender)
        job.comment_id, job.guidance = int(comment.get("id") or 0), guidance
        job.association = str(comment.get("author_association") or "")
        return job
    return None


def installation_event(event: str, payload: dict[str, Any], ctx: Context) -> list[str]:
    """Keep the list of served repositories; return those newly served (their label is to be made)."""
    installation = int((payload.get("installation") or {}).get("id") or 0)
    action = str(payload.get("action") or "")
    allowed = ctx.settings.allow_repos

    def names(key: str) -> list[str]:
        found = [str(r.get("full_name") or "") for r in payload.get(key) or []]
        return [n for n in found if n and (not allowed or n in allowed)]

    if not installation:
        return []
    if event == "installation" and action in ("deleted", "suspend"):
        ctx.state.uninstalled(installation)
        return []
    if event == "installation" and action in ("created", "unsuspend", "new_permissions_accepted"):
        repos = names("repositories")
        ctx.state.installed(installation, repos, replace=action == "created")
        return repos
    if event == "installation_repositories":
        ctx.state.uninstalled(installation, names("repositories_removed"))
        added = names("repositories_added")
        ctx.state.installed(installation, added)
        return added
    return []


def create_labels(ctx: Context, payload: dict[str, Any], repos: list[str]) -> None:
    """Installing creates the trigger label in each repository served (GitHub sends no event for a missing one)."""
    installation = int((payload.get("installation") or {}).get("id") or 0)
    for repo in repos:
        try:
            made = ctx.github.installation(installation, repo).ensure_label(repo, ctx.settings.label)
            log.info("label %r %s in %s", ctx.settings.label, "created" if made else "already there", repo)
        except Exception as exc:  # noqa: BLE001 - said in the log; the README says how to make it by hand
            log.warning("cannot create the label %r in %s: %s", ctx.settings.label, repo, ctx.redact(str(exc)))


def _command(body: str, command: str) -> str | None:
    """The guidance after ``command`` at the start of ``body`` ("" for the bare command); None: not the command."""
    body = body.strip()
    if body == command or body.startswith(command + " ") or body.startswith(command + "\n"):
        return body[len(command) :].strip()
    return None


def ack(ctx: Context, enqueue: Enqueue, job_id: int) -> None:
    """A new job: check that its sender may ask (failing closed), react with eyes, and queue it."""
    job = ctx.state.job(job_id)
    if job is None or job.state != "new":
        return
    try:
        gh = ctx.github.installation(job.installation, job.repo)
        why = refusal(ctx, job, gh)
    except Exception as exc:  # noqa: BLE001 - no installation client, no check: nothing runs
        why = f"the permission check could not be made ({type(exc).__name__}); not run"
    if why is not None:
        log.warning("job %s: %s", job_id, ctx.redact(why))
        ctx.state.update(job_id, state="failed", reason=ctx.redact(why))
        return
    try:
        if job.comment_id and job.kind == "review":
            gh.react_to_review_comment(job.repo, job.comment_id)
        elif job.comment_id:
            gh.react_to_comment(job.repo, job.comment_id)
        else:
            gh.react_to_issue(job.repo, job.issue)
    except Exception as exc:  # a reaction that fails does not stop an allowed job
        log.warning("job %s: the eyes reaction failed: %s", job_id, ctx.redact(str(exc)))
    ctx.state.update(job_id, state="queued")
    enqueue(job_id)


def recover(ctx: Context, enqueue: Enqueue) -> list[int]:
    """At start: acknowledge new jobs, queue queued ones again, and run again (or fail) those cut by a stop."""
    touched = []
    for job in ctx.state.unfinished():
        assert job.id is not None
        touched.append(job.id)
        if job.state == "new":
            ack(ctx, enqueue, job.id)
        elif job.state == "queued":
            enqueue(job.id)
        elif job.attempts >= ctx.settings.max_attempts:
            why = f"the server stopped while this job ran, {job.attempts} time(s); not run again"
            ctx.state.update(job.id, state="failed", reason=why)
            try:
                gh = ctx.github.installation(job.installation, job.repo)
                gh.comment(job.repo, job.issue, f"repoagent could not finish this fix: {why}.")
            except Exception as exc:
                log.warning("job %s: cannot comment: %s", job.id, ctx.redact(str(exc)))
        else:
            ctx.state.update(job.id, state="queued", reason="run again: the server stopped while it ran")
            enqueue(job.id)
    return touched


FORWARDED = ("forwarded", "x-forwarded-for", "x-real-ip")


def _jobs_refusal(request: Request, token: str) -> JSONResponse | None:
    """None when ``request`` may read /jobs: the bearer token when one is set, else loopback, unforwarded."""
    if token:
        given = request.headers.get("authorization", "")
        if given.startswith("Bearer ") and hmac.compare_digest(given[7:].strip().encode(), token.encode()):
            return None
        return JSONResponse({"error": "GET /jobs wants the jobs token as a bearer token"}, status_code=401)
    host = request.client.host if request.client else ""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if loopback and not any(h in request.headers for h in FORWARDED):
        return None
    return JSONResponse(
        {"error": "GET /jobs answers only this machine; set jobs_token_file to read it from elsewhere"},
        status_code=403,
    )


def create_app(ctx: Context, enqueue: Enqueue) -> FastAPI:
    app = FastAPI(title="repoagent GitHub App", docs_url=None, redoc_url=None, openapi_url=None)
    s = ctx.settings

    def acknowledge(job_id: int) -> None:
        ack(ctx, enqueue, job_id)

    @app.post("/webhook")
    async def webhook(request: Request, background: BackgroundTasks) -> Response:
        size = request.headers.get("content-length")
        if size is not None and size.isdigit() and int(size) > s.max_body_bytes:
            return JSONResponse({"error": "body too large"}, status_code=413)
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > s.max_body_bytes:
                return JSONResponse({"error": "body too large"}, status_code=413)
        if not signature_ok(ctx.secrets.webhook_secret, body, request.headers.get("x-hub-signature-256")):
            return JSONResponse({"error": "missing or wrong signature"}, status_code=401)
        delivery = request.headers.get("x-github-delivery")
        event = request.headers.get("x-github-event", "")
        if not delivery:
            return JSONResponse({"error": "no X-GitHub-Delivery"}, status_code=400)
        try:
            payload = json.loads(body)
        except ValueError:
            return JSONResponse({"error": "the body is not JSON"}, status_code=400)
        if event in ("installation", "installation_repositories") and isinstance(payload, dict):
            served = installation_event(event, payload, ctx)
            if served:
                background.add_task(create_labels, ctx, payload, served)
            return JSONResponse({"served": served}, status_code=200)
        job = trigger(event, payload, ctx) if isinstance(payload, dict) else None
        if job is None or not ctx.state.serves(job.installation, job.repo):
            return Response(status_code=204)
        new, job_id = ctx.state.accept(delivery, event, job)
        if not new:
            return JSONResponse({"duplicate": True, "job": job_id}, status_code=200)
        assert job_id is not None
        background.add_task(acknowledge, job_id)
        return JSONResponse({"job": job_id}, status_code=202)

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        return {"ok": True, "deliveries": ctx.state.deliveries()}

    @app.get("/jobs", response_model=None)
    def jobs(request: Request, limit: int = 50) -> list[dict[str, Any]] | JSONResponse:
        refused = _jobs_refusal(request, ctx.secrets.jobs_token)
        if refused is not None:
            return refused
        return [j.public() for j in ctx.state.recent(max(1, min(limit, 1000)))]

    @app.get("/runs/{run_id}/report", response_model=None)
    def report(request: Request, run_id: str) -> Response:
        refused = _jobs_refusal(request, ctx.secrets.jobs_token)
        if refused is not None:
            return refused
        page = ctx.state.folder / "runs" / run_id / "report.html"
        if not re.fullmatch(r"[\w-]+", run_id) or not page.is_file():
            return JSONResponse({"error": "no such run"}, status_code=404)
        return Response(page.read_bytes(), media_type="text/html; charset=utf-8")

    return app
