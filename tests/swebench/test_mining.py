"""``repoagent bench mine``: issue-and-fix pairs from a history built in the test, read back by ``bench localize``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from swebench_runner.bench.mining import reads_like_a_bug
from tests.support.cli_helpers import run_cli
from tests.support.gitrepo import git, make_repo

CART = (
    "def total(items):\n    return sum(items) / len(items)\n\n\n"
    "def add(items, item):\n    items.append(item)\n    return items\n"
)
CRASH = "Fix a crash in total when the cart is empty\n\ntotal() raised ZeroDivisionError for an empty list of items."


def _history(repo: Path) -> dict[str, str]:
    """A history with one commit of each kind; returns their ids by kind."""
    ids = {"base": make_repo(repo, {"shop/cart.py": CART, "shop/util.py": "X = 1\n", "tests/test_cart.py": ""})}
    fixed = CART.replace("return sum(items) / len(items)", "return sum(items) / len(items) if items else 0")
    ids["fix"] = make_repo(repo, {"shop/cart.py": fixed, "tests/test_cart.py": "def test_empty():\n    pass\n"}, CRASH)
    ids["docs"] = make_repo(repo, {"shop/util.py": '"""Helpers."""\nX = 1\n'}, "Docs: explain why util raises errors")
    many = {f"shop/m{i}.py": f"Y = {i}\n" for i in range(4)}
    ids["new"] = make_repo(
        repo, {"shop/fresh.py": "Z = 1\n"}, "Fix the missing helper that made imports fail at startup"
    )
    make_repo(repo, many, "Add modules")
    ids["wide"] = make_repo(
        repo, {f"shop/m{i}.py": f"Y = {i + 1}\n" for i in range(4)}, "Fix wrong constants in every module of the shop"
    )
    git(repo, "checkout", "-q", "-b", "side")
    ids["side"] = make_repo(
        repo, {"shop/util.py": '"""Helpers."""\nX = 2\n'}, "Fix the wrong default of X that broke the totals"
    )
    git(repo, "checkout", "-q", "main")
    git(repo, "merge", "-q", "--no-ff", "-m", "Merge the fix for a crash in the totals when X is wrong", "side")
    return ids


def test_a_history_becomes_pairs_of_bug_reports_and_their_fixes(tmp_path: Path) -> None:
    repo = tmp_path / "shop"
    ids = _history(repo)
    out = tmp_path / "mined" / "shop.jsonl"
    proc = run_cli("bench", "mine", "--repo", str(repo), "--name", "acme/shop", "--out", str(out), home=tmp_path)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    # 6 commits read (not the merge, not the root); kept: the crash fix and the side branch's fix
    assert summary == {
        "repo": "acme/shop", "split": "train", "commits_read": 6, "kept": 2,
        "skipped": {"message": 2, "new file": 1, "files": 1},
    }  # fmt: skip
    rows = {r["commit"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert set(rows) == {ids["fix"], ids["side"]}
    fix = rows[ids["fix"]]
    assert fix["base_commit"] == ids["base"] and fix["problem_statement"] == CRASH
    assert fix["gold_files"] == ["shop/cart.py"] and fix["gold_symbols"] == ["shop/cart.py::total"]
    assert "tests/test_cart.py" in fix["test_patch"] and "tests/" not in fix["patch"]
    assert fix["instance_id"] == f"acme__shop-{ids['fix'][:12]}" and fix["split"] == "train"
    assert rows[ids["side"]]["gold_symbols"] == []  # a module-level constant: a file, no definition

    # the commits file rebuilds the same rows
    again = tmp_path / "again.jsonl"
    listed = str(out) + ".commits"
    args = ("bench", "mine", "--repo", str(repo), "--name", "acme/shop", "--out", str(again), "--commits", listed)
    proc = run_cli(*args, home=tmp_path)
    assert proc.returncode == 0 and again.read_text() == out.read_text()

    # and bench localize reads the pairs as it reads SWE-bench instances
    loc = tmp_path / "loc.jsonl"
    proc = run_cli("bench", "localize", "--dataset", str(out), "--repo-map", _map(tmp_path, repo), "--no-llm",
                   "--out", str(loc), "-o", "retrieval.dense=false", home=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["instances"] == 2 and result["errors"] == 0
    first = {r["instance_id"]: r for r in map(json.loads, loc.read_text().splitlines())}[fix["instance_id"]]
    assert first["gold_files"] == ["shop/cart.py"] and first["ranked_files"][0] == "shop/cart.py"


def _map(tmp_path: Path, repo: Path) -> str:
    path = tmp_path / "map.json"
    path.write_text(json.dumps({"acme/shop": str(repo)}))
    return str(path)


@pytest.mark.parametrize("name", ["django/django", "sympy/sympy", "someone/requests"])
def test_the_repositories_of_the_swebench_test_splits_are_refused(tmp_path: Path, name: str) -> None:
    repo = tmp_path / "r"
    make_repo(repo, {"a.py": "X = 1\n"})
    out = tmp_path / "out.jsonl"
    proc = run_cli("bench", "mine", "--repo", str(repo), "--name", name, "--out", str(out), home=tmp_path)
    assert proc.returncode == 2 and "never mined" in proc.stderr and not out.exists()


@pytest.mark.parametrize(
    ("message", "bug"),
    [
        (CRASH, True),
        ("Fix bug", False),  # too short to localize from
        ("Docs: fix the wrong example in the tutorial of the parser", False),
        ("Refactor the parser, which fixes a crash on empty input files", False),
        ("Handle None in parse_date\n\nparse_date(None) raised TypeError instead of returning None.", True),
    ],
)
def test_what_reads_like_a_bug_report(message: str, bug: bool) -> None:
    assert reads_like_a_bug(message) is bug
