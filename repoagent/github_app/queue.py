"""The job queue: huey, with SQLite on one machine (no server) or Redis across machines.

The handlers are the same for both: one task, ``repoagent.fix_job(job_id, job)``,
whose message carries the job's whole description; the job's own state lives
in the App's database (shared by every server with ``state_url``), so a task
that runs twice (a restart re-queues what was queued) finds its job started
and does nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from repoagent.github_app.settings import AppSettings

TASK = "repoagent.fix_job"


def make_huey(settings: AppSettings, folder: Path) -> Any:
    if settings.queue == "redis":
        from huey import RedisHuey

        return RedisHuey("repoagent", url=settings.redis_url, results=False)
    from huey import SqliteHuey

    return SqliteHuey("repoagent", filename=str(Path(folder) / "queue.sqlite3"), results=False)


def job_queue(huey: Any, state: Any, run: Callable[[int, dict[str, Any]], None]) -> Callable[[int], None]:
    """Register the task on ``huey``; return the function that queues a job (its id and description)."""
    task = huey.task(name=TASK)(run)

    def enqueue(job_id: int) -> None:
        job = state.job(job_id)
        task(job_id, job.public() if job is not None else {})

    return enqueue
