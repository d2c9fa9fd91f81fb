"""Where the official install specs come from: swebench 4.1.0's table (the last release that ships them), read
once from its wheel on PyPI and cached as JSON, or a JSON file given with ``--specs``.  The pure builders of the
environment's scripts and the instance's commands are in ``specs``."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from repoagent.errors import UserError
from swebench_runner.envs.specs import SPECS_RELEASE

SPECS_MEMBER = "swebench/harness/constants/python.py"
SPECS_TABLE = "MAP_REPO_VERSION_TO_SPECS_PY"
REQS_TABLE = "MAP_REPO_TO_REQS_PATHS"
ENV_YML_TABLE = "MAP_REPO_TO_ENV_YML_PATHS"


def load_specs(cache_dir: Path, path: Path | None = None) -> dict[str, dict[str, dict[str, Any]]]:
    """repository -> version -> spec: from ``path`` (JSON), else swebench 4.1.0's table (downloaded once)."""
    if path is not None:
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise UserError(f"--specs {path}: not a readable JSON file ({exc})") from None
        if not isinstance(data, dict):
            raise UserError(f"--specs {path}: want an object of repository -> version -> spec")
        return data
    cached = Path(cache_dir) / f"swebench-{SPECS_RELEASE}-specs-v3.json"
    if cached.is_file():
        return json.loads(cached.read_text())
    specs = _specs_from_wheel()
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(".tmp")
    tmp.write_text(json.dumps(specs, indent=1, sort_keys=True))
    tmp.replace(cached)
    return specs


def _specs_from_wheel() -> dict[str, dict[str, dict[str, Any]]]:
    with tempfile.TemporaryDirectory() as tmp:
        pip = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "-d", tmp]
        got = subprocess.run([*pip, f"swebench=={SPECS_RELEASE}"], capture_output=True, text=True, check=False)
        wheels = list(Path(tmp).glob("swebench-*.whl"))
        if got.returncode != 0 or not wheels:
            raise UserError(
                f"could not download swebench {SPECS_RELEASE} from PyPI for its install specs "
                f"({got.stderr.strip().splitlines()[-1:] or 'no wheel'}); pass --specs FILE (JSON: repository -> "
                "version -> spec)"
            )
        with zipfile.ZipFile(wheels[0]) as wheel:
            source = wheel.read(SPECS_MEMBER).decode()
    namespace: dict[str, Any] = {}
    exec(compile(source, SPECS_MEMBER, "exec"), namespace)  # constants only: the module imports nothing
    table = json.loads(json.dumps(namespace[SPECS_TABLE]))  # plain JSON values, keys as strings
    # "packages": "requirements.txt" means the first of the repository's requirement files that exists
    for repo, paths in namespace.get(REQS_TABLE, {}).items():
        for spec in table.get(repo, {}).values():
            spec.setdefault("requirements_paths", list(paths))
    # "packages": "environment.yml" means the first of these conda environment files that exists
    for repo, paths in namespace.get(ENV_YML_TABLE, {}).items():
        for spec in table.get(repo, {}).values():
            spec.setdefault("environment_paths", list(paths))
    return table
