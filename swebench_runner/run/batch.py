"""``repoagent swebench run``: the driver of a batch run.

The driver picks the instances still to do (from the journal), hands them to
an executor at most ``slots`` at a time, and, as each one ends, unpacks its
run folder into ``OUT/instances/<id>/``, appends its row to the journal and
rewrites ``predictions.jsonl``.  It alone writes the output folder.  Once the
run's cost cap is reached no new instance starts, and the summary says so.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from repoagent.cancel import CancelToken
from swebench_runner.data.dataset import Instance
from swebench_runner.data.gold import gold_files
from swebench_runner.run.executors import BatchExecutor
from swebench_runner.run.journal import InstanceRow, Journal, write_predictions
from swebench_runner.run.summary import write_summary
from swebench_runner.run.worker import ORACLE, Job, untar

INSTANCES = "instances"


@dataclass
class BatchOptions:
    out: Path
    model: str
    redo: bool = False
    retry_errors: bool = False
    max_cost: float | None = None
    dataset: str = ""


@dataclass
class Tally:
    """What the progress bar shows."""

    total: int = 0
    done: int = 0
    patches: int = 0
    errors: int = 0
    cost: float = 0.0
    running: int = 0
    skipped: int = 0
    capped: str = ""
    started: float = field(default_factory=time.monotonic)


Progress = Callable[[Tally], None]


def job_for(inst: Instance, model: str) -> Job:
    """The part of an instance a worker gets: never the test patch or the tests; the gold patch for the oracle."""
    return Job(
        instance_id=inst.instance_id,
        repo=inst.repo,
        base_commit=inst.base_commit,
        problem_statement=inst.problem_statement,
        version=str(inst.extra.get("version") or ""),
        environment_commit=str(inst.extra.get("environment_setup_commit") or ""),
        gold_patch=inst.patch if model == ORACLE else "",
    )


def gold_ranks(inst: Instance, ranked: list[str]) -> dict[str, int | None]:
    """The rank (1-based) of each gold file in the localization's file list; None when it is not there."""
    return {g: (ranked.index(g) + 1 if g in ranked else None) for g in gold_files(inst.patch)}


def run_batch(
    instances: list[Instance],
    options: BatchOptions,
    executor: BatchExecutor,
    progress: Progress,
    cancel: CancelToken | None = None,
) -> dict:
    """Run what is not done yet; return the summary (also in ``summary.json`` and ``summary.html``).

    When ``cancel`` is set (Ctrl-C) no new instance starts and the ones running are left unrecorded:
    a rerun does them again.
    """
    journal = Journal(options.out)
    options.out.mkdir(parents=True, exist_ok=True)
    if options.redo:
        journal.clear()
    done = journal.read()
    wanted = {i.instance_id for i in instances}

    def finished() -> list[InstanceRow]:
        return [done[i.instance_id] for i in instances if i.instance_id in done]

    write_predictions(options.out, finished(), options.model)
    todo = [
        i for i in instances if i.instance_id not in done or (options.retry_errors and done[i.instance_id].is_error)
    ]
    todo_ids = {i.instance_id for i in todo}
    tally = Tally(total=len(instances), skipped=len(instances) - len(todo))
    for row in finished():
        if row.instance_id not in todo_ids:
            _count(tally, row)
    tally.cost = sum(r.cost for r in done.values() if r.instance_id in wanted)
    by_id = {i.instance_id: i for i in instances}
    queue = list(todo)
    progress(tally)
    while queue or tally.running:
        if cancel is not None and cancel.cancelled:
            tally.capped = (
                f"interrupted ({cancel.reason}): {tally.running} running and {len(queue)} waiting not recorded"
            )
            break
        while queue and tally.running < executor.slots and not tally.capped:
            if options.max_cost is not None and tally.cost >= options.max_cost:
                tally.capped = (
                    f"the run's cost cap (${options.max_cost:g}) was reached after ${tally.cost:.4f}: "
                    f"{len(queue)} instance(s) not started"
                )
                break
            executor.submit(job_for(queue.pop(0), options.model))
            tally.running += 1
        if not tally.running:
            break
        got = executor.next_done(timeout=1.0)
        if got is None:
            progress(tally)
            continue
        job, result = got
        tally.running -= 1
        row = result.row
        inst = by_id[job.instance_id]
        row.gold_ranks = gold_ranks(inst, row.ranked_files)
        untar(result.run_folder, options.out / INSTANCES / job.instance_id)
        journal.append(row)
        done[job.instance_id] = row
        write_predictions(options.out, finished(), options.model)
        tally.cost += row.cost
        _count(tally, row)
        progress(tally)
    return write_summary(options.out, instances, finished(), tally.capped, options.model, options.dataset)


def _count(tally: Tally, row: InstanceRow) -> None:
    tally.done += 1
    tally.patches += bool(row.patch)
    tally.errors += row.is_error


def refresh_summary(out: Path, instances: list[Instance]) -> dict:
    """Write the summary again from the journal (after ``evaluate`` merged its verdicts)."""
    import json

    old_path = Path(out) / "summary.json"
    old = json.loads(old_path.read_text()) if old_path.exists() else {}
    done = Journal(out).read()
    rows = [done[i.instance_id] for i in instances if i.instance_id in done]
    return write_summary(out, instances, rows, old.get("stopped", ""), old.get("model", ""), old.get("dataset", ""))
