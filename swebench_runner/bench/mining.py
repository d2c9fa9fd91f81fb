"""``repoagent bench mine``: issue-and-fix pairs mined from a repository's history, for tuning localization.

A commit whose message reads like a bug report (a fix, a crash, an error...,
and no sign of docs, releases or refactoring) and that changes one to three
non-test Python files becomes a pair: its message stands for the issue, its
parent for the base commit, its diff of those files for the gold patch (the
test files' diff is kept apart, as the test patch), and the innermost
definitions the diff changes, read in the parent's files, for the gold
definitions.  Rows are SWE-bench-shaped, so ``bench localize`` reads them.

Nothing of the SWE-bench test splits may be mined: their twelve repositories
are refused by name.  The same command over the same commits rebuilds the same
rows, so a list of commits (``--commits``) is all a tuning set needs to ship.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from editing.patches import innermost_definitions, parse_patch
from repoagent.errors import UserError
from retrieval.git import git
from retrieval.languages import language_for_path
from retrieval.parser import parse_source
from retrieval.testpaths import is_test_path

# The repositories of the SWE-bench test splits (Lite, Verified, full): never mined, never tuned on.
TEST_SPLIT_REPOSITORIES = frozenset(
    {
        "astropy/astropy", "django/django", "pallets/flask", "matplotlib/matplotlib", "pylint-dev/pylint",
        "pytest-dev/pytest", "psf/requests", "scikit-learn/scikit-learn", "mwaskom/seaborn",
        "sphinx-doc/sphinx", "sympy/sympy", "pydata/xarray",
    }
)  # fmt: skip
_BUG = re.compile(
    r"\b(fix(e[sd])?|bugs?|errors?|crash(e[sd])?|fail(s|ed|ure|ing)?|wrong|incorrect(ly)?|regression|broken"
    r"|exceptions?|traceback|raises?|\w+Error)\b",
    re.I,
)
_NOT_A_BUG = re.compile(
    r"\b(typos?|docs?|docstrings?|documentation|readme|changelog|release|bump|revert|style|lint|flake8|mypy"
    r"|format(ting)?|refactor(ing)?|cleanup|whitespace|ci|tests? only|deprecat\w*)\b",
    re.I,
)
MIN_MESSAGE = 40  # characters: a subject alone ("Fix bug") says too little to localize from
MAX_CODE_FILES = 3


@dataclass
class Mined:
    """What mining saw: the rows kept and, by reason, the commits skipped."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    read: int = 0

    def summary(self) -> dict[str, Any]:
        return {"commits_read": self.read, "kept": len(self.rows), "skipped": dict(self.skipped.most_common())}


def refuse_test_split(name: str) -> None:
    """Stop before any work when ``name`` (owner/name) is a repository of the SWE-bench test splits."""
    if name.lower() in TEST_SPLIT_REPOSITORIES or name.lower().rsplit("/", 1)[-1] in {
        r.rsplit("/", 1)[-1] for r in TEST_SPLIT_REPOSITORIES
    }:
        raise UserError(f"{name} is a repository of the SWE-bench test splits: it is never mined")


def reads_like_a_bug(message: str) -> bool:
    subject = message.strip().splitlines()[0] if message.strip() else ""
    return len(message.strip()) >= MIN_MESSAGE and bool(_BUG.search(message)) and not _NOT_A_BUG.search(subject)


def commits(git_dir: Path, rev: str, wanted: list[str] | None = None) -> Iterator[tuple[str, str, str]]:
    """(commit, its only parent, its message), newest first; merges and root commits are left out."""
    if wanted is not None:
        for sha in wanted:
            proc = git(git_dir, "log", "-1", "--format=%H%x1f%P%x1f%B", sha)
            if proc.returncode != 0:
                raise UserError(f"--commits: {sha} is not a commit of {git_dir}")
            head, parents, message = proc.stdout.decode(errors="replace").split("\x1f", 2)
            if len(parents.split()) == 1:
                yield head.strip(), parents.strip(), message
        return
    proc = git(git_dir, "log", "--no-merges", "--format=%H%x1f%P%x1f%B%x1e", rev)
    if proc.returncode != 0:
        raise UserError(f"{git_dir}: cannot read the history of {rev}: {proc.stderr.decode(errors='replace')[:200]}")
    for record in proc.stdout.decode(errors="replace").split("\x1e"):
        parts = record.strip("\n").split("\x1f", 2)
        if len(parts) == 3 and len(parts[1].split()) == 1:
            yield parts[0].strip(), parts[1].strip(), parts[2]


def mine_commit(git_dir: Path, name: str, sha: str, parent: str, message: str) -> dict[str, Any] | str:
    """The pair of one commit, or why it is not one (a short reason, counted in the summary)."""
    if not reads_like_a_bug(message):
        return "message"
    listed = git(git_dir, "diff", "--no-renames", "--name-only", parent, sha)
    if listed.returncode != 0:
        return "unreadable"
    files = [f for f in listed.stdout.decode(errors="replace").splitlines() if f]
    code = [f for f in files if language_for_path(f) == "python" and not is_test_path(f)]
    tests = [f for f in files if is_test_path(f)]
    if not 1 <= len(code) <= MAX_CODE_FILES:
        return "files"
    patch = git(git_dir, "diff", "--no-renames", parent, sha, "--", *code)
    if patch.returncode != 0:
        return "unreadable"  # a partial clone that lacks a blob
    text = patch.stdout.decode("utf-8", errors="replace")
    symbols: list[str] = []
    for fp in parse_patch(text):
        before = git(git_dir, "show", f"{parent}:{fp.old_path}") if fp.old_path != "/dev/null" else None
        if before is None or before.returncode != 0:
            return "new file"  # nothing at the base commit to find
        parsed = parse_source(before.stdout, "python")
        symbols += [f"{fp.old_path}::{q}" for q in sorted(innermost_definitions(parsed, fp.changed_lines))]
    test_patch = git(git_dir, "diff", "--no-renames", parent, sha, "--", *tests) if tests else None
    return {
        "instance_id": f"{name.replace('/', '__')}-{sha[:12]}",
        "repo": name,
        "base_commit": parent,
        "commit": sha,
        "problem_statement": message.strip(),
        "patch": text,
        "test_patch": test_patch.stdout.decode("utf-8", errors="replace") if test_patch else "",
        "gold_files": code,
        "gold_symbols": symbols,
    }


def mine(
    git_dir: Path,
    name: str,
    rev: str = "HEAD",
    limit: int | None = None,
    wanted: list[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Mined:
    """Mine ``git_dir`` (the repository ``name``) from ``rev`` back, or exactly the ``wanted`` commits."""
    refuse_test_split(name)
    found = Mined()
    if wanted is not None:
        total = len(wanted)
    else:
        counted = git(git_dir, "rev-list", "--no-merges", "--count", rev)
        total = int(counted.stdout or 0) if counted.returncode == 0 else 0
    for sha, parent, message in commits(git_dir, rev, wanted):
        found.read += 1
        row = mine_commit(git_dir, name, sha, parent, message)
        if isinstance(row, str):
            found.skipped[row] += 1
        else:
            found.rows.append(row)
            if limit and len(found.rows) >= limit:
                break
        if progress:
            progress(found.read, total)
    return found


def read_commits(path: Path) -> list[str]:
    """A list of commits: one a line, ``#`` comments and blank lines ignored."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as exc:
        raise UserError(f"--commits {path}: {exc.strerror or exc}") from None
    return [ln.split("#", 1)[0].strip() for ln in lines if ln.split("#", 1)[0].strip()]


def write_rows(rows: list[dict[str, Any]], out: Path, split: str) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps({**row, "split": split}) + "\n" for row in rows))


def write_mined(found: Mined, out: Path, split: str, name: str, head: str) -> None:
    """The pairs as rows in ``out`` and, beside them, the list of their commits that ``--commits`` rebuilds."""
    write_rows(found.rows, out, split)
    listing = [f"# {name} at {head}: bench mine --commits rebuilds these {len(found.rows)} pairs"]
    out.with_name(out.name + ".commits").write_text("\n".join([*listing, *(r["commit"] for r in found.rows)]) + "\n")
