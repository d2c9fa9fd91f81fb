"""The one place that knows the official ``swebench`` package: its versions' commands, images and reports.

- Version 5 and later: ``swebench eval DATASET -p PREDICTIONS --run-id ID -j N``
  (DATASET may be a local file; ``swebench report RUN_ID`` re-grades from logs).
- Earlier versions: ``python -m swebench.harness.run_evaluation --dataset_name ...
  --predictions_path ... --max_workers N --run_id ID``.

Both write ``logs/run_evaluation/<run_id>/<model>/<instance_id>/report.json``
(``{instance_id: {"resolved": bool, "tests_status": ...}}``) under the folder
they run in; ``collect_reports`` reads those back.  Scores are never guessed:
when Docker or an instance's image is missing, ``not_ready`` says so and the
evaluation does not start.
"""

from __future__ import annotations

import json
import shutil
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from packaging.version import Version

from swebench_runner.run.worker import official_image_names, present_image

LOG_ROOT = Path("logs") / "run_evaluation"


def official_version() -> str | None:
    try:
        return metadata.version("swebench")
    except metadata.PackageNotFoundError:
        return None


def load_predictions(path: Path, dataset: str, split: str = "test") -> list[dict[str, Any]]:
    """The predictions as the official package reads them (its own loading code)."""
    from swebench.harness.utils import get_predictions_from_file

    return list(get_predictions_from_file(str(path), dataset, split))


def not_ready(instance_ids: list[str], client: Any = None) -> str | None:
    """Why the official grader cannot run here (one line), or None when it can."""
    version = official_version()
    if version is None:
        return "the official swebench package is not installed: pip install 'repoagent[swebench]'"
    try:
        if client is None:
            from repoagent.sandbox.docker_box import docker_client

            client = docker_client()
    except Exception as exc:
        return f"no Docker engine answers ({exc}); the official grader runs every instance in Docker"
    missing = [i for i in instance_ids if present_image(client, official_image_names(i)) is None]
    if missing:
        shown = ", ".join(official_image_names(missing[0]))
        return (
            f"{len(missing)} of {len(instance_ids)} instance images are not in Docker here (the first: {shown}); "
            "pull or build them first (swebench's images come from a registry), or grade with --grader local "
            "once it exists here"
        )
    return None


def eval_command(dataset: str, predictions: Path, run_id: str, workers: int, version: str) -> list[str]:
    """The official grader's command line for the installed ``version``."""
    if Version(version) >= Version("5"):
        exe = shutil.which("swebench", path=str(Path(sys.executable).parent)) or "swebench"
        return [exe, "eval", dataset, "-p", str(predictions), "--run-id", run_id, "-j", str(workers)]
    return [
        sys.executable,
        "-m",
        "swebench.harness.run_evaluation",
        "--dataset_name",
        dataset,
        "--predictions_path",
        str(predictions),
        "--max_workers",
        str(workers),
        "--run_id",
        run_id,
    ]


def collect_reports(folder: Path, run_id: str) -> dict[str, dict[str, Any]]:
    """Every per-instance ``report.json`` of ``run_id`` under ``folder``, by instance id."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted((Path(folder) / LOG_ROOT / run_id).glob("*/*/report.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        for instance_id, report in data.items() if isinstance(data, dict) else []:
            if isinstance(report, dict):
                found[instance_id] = report
    return found


def evaluation_record(reports: dict[str, dict[str, Any]], grader: str, run_id: str) -> dict[str, Any]:
    """What ``evaluation.json`` holds: the grader's name and each instance's verdict."""
    return {
        "grader": grader,
        "run_id": run_id,
        "instances": {
            i: {
                "resolved": bool(r.get("resolved")),
                "patch_applied": bool(r.get("patch_successfully_applied", r.get("patch_exists", False))),
                "tests_status": r.get("tests_status", {}),
                "graded": bool(r.get("graded", True)),  # False: the local grader could not run its tests
                **({"not_graded_reason": str(r.get("environment_failed", ""))} if r.get("graded") is False else {}),
            }
            for i, r in sorted(reports.items())
        },
    }
