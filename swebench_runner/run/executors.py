"""Where jobs run: a local pool of worker processes (the default), or Ray actors on a cluster.

Both keep one ``Worker`` per process or actor for the whole run and hand
results back to the driver; neither writes the output folder.  A worker that
dies (killed, out of memory) costs its job an error row, never the run.
"""

from __future__ import annotations

import multiprocessing
import pickle
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from repoagent.protocols import Executor
from swebench_runner.run.journal import InstanceRow
from swebench_runner.run.pool_process import init_process
from swebench_runner.run.worker import Job, JobResult, RunConfig, Worker, run_in_process

BatchExecutor = Executor[Job, JobResult]


def _lost(job: Job, why: str) -> JobResult:
    return JobResult(
        InstanceRow(
            instance_id=job.instance_id, repo=job.repo, status="error", patch="", error=why, error_kind="worker"
        )
    )


class LocalPool:
    """``workers`` processes (spawned: the driver's threads are not copied), each with its own ``Worker``."""

    def __init__(self, config: RunConfig, workers: int) -> None:
        self.config = config
        self.slots = max(1, workers)
        self.pending: dict[Future[JobResult], Job] = {}
        self.pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            self.slots,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=init_process,
            initargs=(pickle.dumps(self.config),),  # unpickled (importing the pipeline) once tied to the driver
        )

    def submit(self, job: Job) -> None:
        self.pending[self.pool.submit(run_in_process, job)] = job

    def next_done(self, timeout: float) -> tuple[Job, JobResult] | None:
        if not self.pending:
            return None
        done, _ = wait(list(self.pending), timeout=timeout, return_when=FIRST_COMPLETED)
        if not done:
            return None
        future = done.pop()
        job = self.pending.pop(future)
        try:
            return job, future.result()
        except BrokenProcessPool:
            # A worker died: every job still in this pool is lost with it; the pool is made again.
            lost = list(self.pending.items())
            self.pending.clear()
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = self._new_pool()
            for _, other in lost:
                self.submit(other)
            return job, _lost(job, "the worker process died (killed, or out of memory)")
        except Exception as exc:  # the result could not come back (it did not pickle)
            return job, _lost(job, f"{type(exc).__name__}: {exc}")

    def close(self, wait: bool = True) -> None:
        """Stop; ``wait=False`` leaves running jobs to die with this process (the workers' death signal)."""
        self.pool.shutdown(wait=wait, cancel_futures=True)


class RayWorker:
    """A Ray actor around one ``Worker``."""

    def __init__(self, config: RunConfig) -> None:
        self.worker = Worker(config)

    def run(self, job: Job) -> JobResult:
        return self.worker.run(job)


class RayPool:
    """``workers`` Ray actors; ``address`` is a cluster's (``ray://HOST:10001`` or ``auto``), None starts Ray here."""

    def __init__(self, config: RunConfig, workers: int, address: str | None = None) -> None:
        import ray

        self.ray = ray
        self.started = not ray.is_initialized()
        if self.started:
            extra: dict[str, Any] = {}
            if address is None:  # a local Ray: small, quiet, with room for one worker per slot
                extra = {"num_cpus": max(1, workers), "object_store_memory": 256 * 1024 * 1024}
            ray.init(address=address, include_dashboard=False, log_to_driver=False, **extra)
        actor = ray.remote(num_cpus=1, max_restarts=3)(RayWorker)  # a dead actor comes back for the next job
        self.slots = max(1, workers)
        self.actors = [actor.remote(config) for _ in range(self.slots)]
        self.idle = list(self.actors)
        self.pending: dict[Any, tuple[Job, Any]] = {}

    def submit(self, job: Job) -> None:
        actor = self.idle.pop()
        self.pending[actor.run.remote(job)] = (job, actor)

    def next_done(self, timeout: float) -> tuple[Job, JobResult] | None:
        if not self.pending:
            return None
        ready, _ = self.ray.wait(list(self.pending), num_returns=1, timeout=timeout)
        if not ready:
            return None
        job, actor = self.pending.pop(ready[0])
        self.idle.append(actor)
        try:
            return job, self.ray.get(ready[0])
        except Exception as exc:  # the actor died, or the task raised past the worker
            return job, _lost(job, f"Ray: {type(exc).__name__}: {str(exc)[:300]}")

    def close(self, wait: bool = True) -> None:
        for actor in self.actors:
            self.ray.kill(actor)
        if self.started:
            self.ray.shutdown()
