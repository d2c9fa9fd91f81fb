"""Everything ``repoagent serve`` starts: settings, secrets, state, GitHub, the queue's workers and the server."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from repoagent.errors import ConfigError
from repoagent.github_app import proxy
from repoagent.github_app.github import GitHubApp
from repoagent.github_app.jobs import UNSANDBOXED, Context, Redactor, isolation_problem, run_job
from repoagent.github_app.queue import job_queue, make_huey
from repoagent.github_app.server import create_app, recover
from repoagent.github_app.settings import load_app_settings, load_secrets
from repoagent.github_app.state import State


class RedactingFilter(logging.Filter):
    """No log line carries a secret: every record's message is redacted before it is written."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self.redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.redact(record.getMessage())
        record.args = ()
        return True


def serve(config: Path | None, overrides: list[str], host: str, port: int, workers: int | None) -> None:
    import uvicorn

    settings = load_app_settings(config, overrides)
    if workers is not None:
        settings = settings.model_copy(update={"concurrency": workers})
    secrets = load_secrets(settings)
    redact = Redactor(secrets)
    for var, value in os.environ.items():  # model keys and other credentials the process holds
        if var.endswith(("_API_KEY", "_TOKEN", "_SECRET", "_PASSWORD")) and len(value) >= 8:
            redact.add(value)
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactingFilter(redact))
    state = State(settings.resolved_state_dir(), settings.state_url)
    if settings.queue == "redis" and not settings.state_url:
        logging.getLogger("repoagent.app").warning(
            "queue: redis with the state in this machine's SQLite file: one server only; for several, set state_url"
        )
    ctx = Context(settings, secrets, state, GitHubApp(settings, secrets), redact)
    problem = isolation_problem(ctx)
    if problem is not None:
        raise ConfigError(f"serve will not start: {problem}")
    if settings.allow_unsandboxed:
        logging.getLogger("repoagent.app").warning("allow_unsandboxed: %s", UNSANDBOXED)
    huey = make_huey(settings, state.folder)
    enqueue = job_queue(huey, state, lambda job_id, job: run_job(ctx, job_id, job))
    recover(ctx, enqueue)
    consumer = huey.create_consumer(workers=settings.concurrency, worker_type="thread", periodic=False)
    consumer.start()
    stop = threading.Event()
    if settings.webhook_proxy_url:
        local = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        proxy.start(settings.webhook_proxy_url, f"http://{local}:{port}/webhook", stop)
    try:
        uvicorn.run(create_app(ctx, enqueue), host=host, port=port, log_level="info", access_log=False)
    finally:
        stop.set()
        consumer.stop(graceful=False)
