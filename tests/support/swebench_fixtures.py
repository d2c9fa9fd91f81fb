"""A small SWE-bench-format dataset made from git repositories built in the test.

Each instance has a base commit with a bug, a later commit with the fix and its
test (the gold patch and the test patch are the diff between them), and
FAIL_TO_PASS / PASS_TO_PASS lists, as on Hugging Face.  The later commits stay
in the repositories: the runner must keep them from the agent.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.support.cli_helpers import run_cli
from tests.support.gitrepo import git, make_repo

CALC_BASE = {
    "calc/__init__.py": "",
    "calc/ops.py": "def add(a, b):\n    return a + b\n\n\ndef mul(a, b):\n    return a + b\n",
    "tests/test_ops.py": "from calc.ops import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n",
}
CALC_FIX = {
    "calc/ops.py": "def add(a, b):\n    return a + b\n\n\ndef mul(a, b):\n    return a * b\n",
    "tests/test_ops.py": CALC_BASE["tests/test_ops.py"] + "\n\ndef test_mul():\n    assert mul(2, 3) == 6\n",
}
CALC_FIX["tests/test_ops.py"] = CALC_FIX["tests/test_ops.py"].replace("import add\n", "import add, mul\n")
CALC_NEXT = {  # a later bug, in a function with a module-level constant beside it
    "calc/ops.py": CALC_FIX["calc/ops.py"] + "\n\nSCALE = 10\n\n\ndef scaled(a):\n    return a + SCALE\n",
}
CALC_NEXT_FIX = {
    "calc/ops.py": CALC_FIX["calc/ops.py"] + "\n\nSCALE = 10\n\n\ndef scaled(a):\n    return a * SCALE\n",
    "tests/test_scaled.py": "from calc.ops import scaled\n\n\ndef test_scaled():\n    assert scaled(3) == 30\n",
}
TEXT_BASE = {
    "words/__init__.py": "",
    "words/shout.py": (
        '"""Loud words."""\n\nimport string\n\n\ndef shout(text):\n    """Upper case, with an exclamation mark."""\n'
        "    return text.lower() + '!'\n"
    ),
    "tests/test_shout.py": "def test_nothing():\n    assert True\n",
}
TEXT_FIX = {
    "words/shout.py": TEXT_BASE["words/shout.py"].replace("text.lower()", "text.upper()"),
    "tests/test_shout.py": TEXT_BASE["tests/test_shout.py"]
    + "\n\ndef test_shout():\n    from words.shout import shout\n\n    assert shout('hi') == 'HI!'\n",
}
ISSUES = {
    "demo__calc-1": "mul(2, 3) returns 5 instead of 6: the multiplication in calc/ops.py adds.",
    "demo__calc-2": "scaled(3) should be 30 but it is 13; scaled in calc/ops.py adds SCALE instead of multiplying.",
    "demo__words-1": "shout('hi') gives 'hi!' but it should shout: 'HI!'. See words/shout.py.",
}


def _diff(repo: Path, a: str, b: str, paths: list[str]) -> str:
    return git(repo, "diff", a, b, "--", *paths) + "\n"


def _instance(
    repo: Path, slug: str, iid: str, base: str, fixed: str, code: list[str], tests: list[str], f2p: list[str]
) -> dict[str, Any]:
    f2p = [f"{tests[0]}::{name}" for name in f2p]
    return {
        "instance_id": iid,
        "repo": slug,
        "base_commit": base,
        "problem_statement": ISSUES[iid],
        "patch": _diff(repo, base, fixed, code),
        "test_patch": _diff(repo, base, fixed, tests),
        "FAIL_TO_PASS": json.dumps(f2p),
        "PASS_TO_PASS": json.dumps([]),
        "version": "1.0",
        "created_at": "2026-01-01T00:00:00Z",
        "environment_setup_commit": base,
        "hints_text": "",
    }


def make_dataset(root: Path) -> tuple[Path, Path, list[dict[str, Any]]]:
    """Repositories under ``root/repos`` (``owner__name`` layout) and ``root/dataset.jsonl``; returns both and rows."""
    repos = root / "repos"
    calc = repos / "demo__calc"
    c1 = make_repo(calc, CALC_BASE, "calc with a bug in mul")
    c2 = make_repo(calc, CALC_FIX, "fix mul")
    c3 = make_repo(calc, CALC_NEXT, "add scaled")
    c4 = make_repo(calc, CALC_NEXT_FIX, "fix scaled")
    words = repos / "demo__words"
    w1 = make_repo(words, TEXT_BASE, "shout")
    w2 = make_repo(words, TEXT_FIX, "fix shout")
    rows = [
        _instance(calc, "demo/calc", "demo__calc-1", c1, c2, ["calc/ops.py"], ["tests/test_ops.py"], ["test_mul"]),
        _instance(
            calc, "demo/calc", "demo__calc-2", c3, c4, ["calc/ops.py"], ["tests/test_scaled.py"], ["test_scaled"]
        ),
        _instance(
            words, "demo/words", "demo__words-1", w1, w2, ["words/shout.py"], ["tests/test_shout.py"], ["test_shout"]
        ),
    ]
    dataset = root / "dataset.jsonl"
    dataset.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return repos, dataset, rows


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def fix_row(repo: Path, iid: str, base: str, fixed: str, tests: list[str], **extra: Any) -> dict[str, Any]:
    """An instance of ``demo/calc`` made from two commits of ``repo``: the gold patch is ``calc/``'s diff from
    ``base`` to ``fixed``, the test patch the rest; ``tests`` are its FAIL_TO_PASS ids; ``extra`` fields win."""
    return {
        "instance_id": iid, "repo": "demo/calc", "base_commit": base, "version": "1.0",
        "problem_statement": iid, "environment_setup_commit": base,
        "patch": git(repo, "diff", base, fixed, "--", "calc") + "\n",
        "test_patch": git(repo, "diff", base, fixed, "--", ".", ":!calc") + "\n",
        "FAIL_TO_PASS": json.dumps(tests), "PASS_TO_PASS": "[]", **extra,
    }  # fmt: skip


def validate_rows(tmp_path: Path, rows: list[dict[str, Any]], spec: dict[str, Any]) -> Path:
    """``repoagent swebench validate`` on ``rows`` of demo/calc (repositories under ``tmp_path/repos``) with
    ``spec``; the output folder."""
    dataset, specs, out = tmp_path / "d.jsonl", tmp_path / "specs.json", tmp_path / "v"
    dataset.write_text("".join(json.dumps(row) + "\n" for row in rows))
    specs.write_text(json.dumps({"demo/calc": {"1.0": spec}}))
    args = ["swebench", "validate", "--dataset", str(dataset), "--repos", str(tmp_path / "repos")]
    proc = run_cli(*args, "--specs", str(specs), "--out", str(out), home=tmp_path / "home", timeout=900)
    assert proc.returncode == 0, proc.stderr
    return out
