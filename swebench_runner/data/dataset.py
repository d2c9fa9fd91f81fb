"""SWE-bench instances from a JSON list or JSON lines file (fields as on Hugging Face)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from repoagent.errors import UserError

REQUIRED = ("instance_id", "repo", "base_commit", "problem_statement", "patch")


@dataclass
class Instance:
    instance_id: str
    repo: str
    base_commit: str
    problem_statement: str
    patch: str
    test_patch: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, row: dict[str, Any], origin: str) -> Instance:
        missing = [k for k in REQUIRED if not row.get(k)]
        if missing:
            raise UserError(f"{origin}: instance {row.get('instance_id', '?')} lacks {', '.join(missing)}")
        known = {k: row[k] for k in (*REQUIRED, "test_patch") if k in row}
        return cls(**known, extra={k: v for k, v in row.items() if k not in known})


def load_instances(path: Path, ids: list[str] | None = None, limit: int | None = None) -> list[Instance]:
    """Read ``path``; keep ``ids`` (in file order) and at most ``limit`` instances."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        raise UserError(f"--dataset {path}: no such file") from None
    stripped = text.lstrip()
    try:
        if stripped.startswith("["):
            rows = json.loads(text)
        else:
            rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    except json.JSONDecodeError as exc:
        raise UserError(f"--dataset {path}: not JSON or JSON lines ({exc})") from None
    return _choose([Instance.from_dict(r, str(path)) for r in rows], ids, limit, str(path))


def _choose(instances: list[Instance], ids: list[str] | None, limit: int | None, origin: str) -> list[Instance]:
    if ids:
        known = {i.instance_id for i in instances}
        unknown = [i for i in ids if i not in known]
        if unknown:
            raise UserError(f"--instances: {', '.join(unknown)} not in {origin}")
        instances = [i for i in instances if i.instance_id in set(ids)]
    return instances[:limit] if limit else instances


def load_dataset(
    spec: str, split: str = "test", ids: list[str] | None = None, limit: int | None = None
) -> list[Instance]:
    """Instances from a local JSON or JSON-lines file, or a Hugging Face dataset by name (through ``datasets``)."""
    path = Path(spec)
    if path.exists() or path.suffix in (".json", ".jsonl") or "/" not in spec or spec.startswith((".", "/")):
        return load_instances(path, ids, limit)
    try:
        import datasets
    except ImportError:
        raise UserError(
            f"--dataset {spec}: a Hugging Face dataset needs the datasets package: pip install 'repoagent[swebench]'"
        ) from None
    try:
        rows = [dict(r) for r in datasets.load_dataset(spec, split=split)]
    except Exception as exc:  # datasets raises many kinds: offline, unknown name, unknown split
        raise UserError(f"--dataset {spec} --split {split}: cannot load it ({type(exc).__name__}: {exc})") from None
    instances = [Instance.from_dict(r, spec) for r in rows]
    return _choose(instances, ids, limit, spec)
