"""``repoagent swebench evaluate``: a run's predictions (or another system's) graded officially or locally, and
the verdicts merged into the run's ``evaluation.json`` and summary."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from repoagent.cancel import CancelToken
from repoagent.config import Settings
from repoagent.errors import UserError
from swebench_runner.data.dataset import Instance, load_dataset
from swebench_runner.grading.official import (
    collect_reports,
    eval_command,
    evaluation_record,
    not_ready,
    official_version,
)
from swebench_runner.run.batch import refresh_summary
from swebench_runner.run.journal import InstanceRow, Journal
from swebench_runner.run.summary import EVALUATION, write_summary

Progress = Callable[[str, int, int], None]


def read_predictions(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise UserError(f"--predictions {path}: no such file")
    try:
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    except ValueError as exc:
        raise UserError(f"--predictions {path}: not JSON lines ({exc})") from None


def evaluate_run(
    predictions: Path,
    dataset: str,
    split: str,
    run_id: str | None,
    workers: int,
    local: LocalGrading | None = None,
) -> dict[str, Any]:
    """Grade ``predictions`` (officially, or ``local``ly); merge the verdicts into the run's summary."""
    ids = [p["instance_id"] for p in read_predictions(predictions)]
    if local is not None:
        return _evaluate_locally(predictions, dataset, split, run_id, workers, local)
    why = not_ready(ids)
    if why is not None:
        raise UserError(f"cannot score officially: {why}")
    version = official_version()
    assert version is not None
    run_id = run_id or f"repoagent-{time.strftime('%Y%m%d-%H%M%S')}"
    out = predictions.resolve().parent
    data = str(Path(dataset).resolve()) if Path(dataset).exists() else dataset
    proc = subprocess.run(eval_command(data, predictions.resolve(), run_id, workers, version), cwd=out, check=False)
    reports = collect_reports(out, run_id)
    if proc.returncode != 0 and not reports:
        raise UserError(f"the official grader failed (exit {proc.returncode}) and wrote no report")
    return merge_reports(out, dataset, split, reports, f"official (swebench {version})", run_id)


def merge_reports(
    out: Path,
    dataset: str,
    split: str,
    reports: dict[str, dict[str, Any]],
    grader: str,
    run_id: str,
    predictions: list[dict[str, Any]] | None = None,
    predicted: list[Instance] | None = None,
) -> dict[str, Any]:
    """Write ``evaluation.json`` and the summary again with the verdicts in it.  Predictions that no ``swebench
    run`` in ``out`` made (another system's) get a summary of their own instances (``predicted``, when the caller
    has read them from the dataset already), under their model's name."""
    (out / EVALUATION).write_text(json.dumps(evaluation_record(reports, grader, run_id), indent=2) + "\n")
    done = Journal(out).read()
    if predictions is None or any(p["instance_id"] in done for p in predictions):
        return refresh_summary(out, load_dataset(dataset, split))
    wanted = {p["instance_id"]: p for p in predictions}
    instances = [i for i in predicted or load_dataset(dataset, split) if i.instance_id in wanted]
    rows = [InstanceRow(instance_id=i, status="external", patch=p.get("model_patch") or "") for i, p in wanted.items()]
    models = sorted({str(p.get("model_name_or_path") or "") for p in predictions} - {""})
    return write_summary(out, instances, rows, "", ", ".join(models) or "unnamed", dataset)


@dataclass(frozen=True)
class LocalGrading:
    """What ``evaluate --grader local`` needs beyond the official grader's inputs."""

    settings: Settings
    specs: Path | None = None
    repos: Path | None = None
    repo_map: Path | None = None
    timeout: float = 1800
    cancel: CancelToken | None = None
    progress: Progress = field(default=lambda task, done, total: None)  # the caller draws it (the CLI's bar)


def _evaluate_locally(
    predictions: Path, dataset: str, split: str, run_id: str | None, workers: int, local: LocalGrading
) -> dict[str, Any]:
    from swebench_runner.grading.local import grader_name, not_graded
    from swebench_runner.grading.runs import environments, grade_locally

    if official_version() is None:
        raise UserError("local grading uses the official parsers and grading: pip install 'repoagent[swebench]'")
    wanted = read_predictions(predictions)
    ids = {p["instance_id"] for p in wanted}
    instances = [i for i in load_dataset(dataset, split) if i.instance_id in ids]
    run_id = run_id or f"repoagent-local-{time.strftime('%Y%m%d-%H%M%S')}"
    out = predictions.resolve().parent
    envs = environments(local.settings, local.specs, local.repos, local.repo_map, local.cancel)
    reports = grade_locally(envs, out, run_id, instances, wanted, workers, local.progress, local.timeout)
    for iid in sorted(ids - set(reports)):  # a prediction of an instance the dataset has not: said, not graded
        reports[iid] = not_graded(iid, f"{iid} is not in --dataset {dataset}")
    summary = merge_reports(out, dataset, split, reports, grader_name(), run_id, wanted, instances)
    if not any(r.get("graded") for r in reports.values()):
        reasons = sorted({str(r.get("environment_failed", ""))[:300] for r in reports.values()})
        raise UserError("nothing could be graded: " + "; ".join(reasons[:3]))
    return summary
