"""The history prior: how often each candidate file changed in the commits before the indexed state."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest

from retrieval import history
from retrieval.features import FILE_FEATURES
from retrieval.history import change_counts
from retrieval.index import RepoIndex
from retrieval.retriever import Retriever
from retrieval.source import RepoSource
from tests.support.gitrepo import git, make_repo

ISSUE = "rounding is wrong in round_price and in parse_price\n\nround_price(2.5) gives 2; parse_price too."


def _module(name: str, version: int) -> str:
    return f"def {name}_price(value):\n    return value * {version}\n"


def _shop(repo: Path) -> list[str]:
    """``shop/rounding.py`` made, then changed twice; ``shop/parsing.py`` made with it; commit ids, oldest first."""
    commits = [make_repo(repo, {"shop/rounding.py": _module("round", 0), "shop/parsing.py": _module("parse", 0)})]
    for i in (1, 2):
        commits.append(make_repo(repo, {"shop/rounding.py": _module("round", i)}, f"Fix rounding {i}"))
    return commits


def _changes(index: RepoIndex) -> dict[str, tuple[float, float]]:
    rows = Retriever(index).retrieve(ISSUE, keep_features=True).features
    assert rows is not None
    col = [FILE_FEATURES.index("changes_100_rel"), FILE_FEATURES.index("changes_1000_rel")]
    return {p: (float(rows.files.x[i, col[0]]), float(rows.files.x[i, col[1]])) for i, p in enumerate(rows.files.paths)}


def test_rows_count_changes_back_from_the_indexed_commit(tmp_path: Path) -> None:
    repo = tmp_path / "shop"
    first, _, _ = _shop(repo)
    at_head = _changes(RepoIndex.build(RepoSource(repo, "HEAD")))
    # the first commit is not counted (it names every file it makes)
    assert at_head == {"shop/rounding.py": (1.0, 1.0), "shop/parsing.py": (0.0, 0.0)}
    # a working tree counts from HEAD, the same
    assert _changes(RepoIndex.build(RepoSource(repo))) == at_head
    # an older commit sees only its own past: the first commit has none
    assert all(math.isnan(v) for pair in _changes(RepoIndex.build(RepoSource(repo, first))).values() for v in pair)
    fix = make_repo(repo, {"shop/parsing.py": _module("parse", 5)}, "Fix parsing")
    assert _changes(RepoIndex.build(RepoSource(repo, fix))) == {
        "shop/rounding.py": (1.0, 1.0),
        "shop/parsing.py": (0.5, 0.5),
    }


def test_a_shallow_copy_counts_only_commits_with_their_parent(tmp_path: Path) -> None:
    repo = tmp_path / "shop"
    _shop(repo)
    one, two = tmp_path / "one", tmp_path / "two"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{repo}", str(one))
    git(tmp_path, "clone", "-q", "--depth", "2", f"file://{repo}", str(two))
    assert change_counts(RepoSource(one)) is None  # one commit: no history
    recent, wider = change_counts(RepoSource(two))  # type: ignore[misc]
    assert recent == wider == {"shop/rounding.py": 1}  # the newest fix; its parent is where the copy ends


def test_a_folder_without_history_has_missing_values(tmp_path: Path) -> None:
    repo = tmp_path / "shop"
    _shop(repo)
    plain = tmp_path / "plain"
    shutil.copytree(repo, plain, ignore=shutil.ignore_patterns(".git"))
    source = RepoSource(plain)
    assert not source.is_git and change_counts(source) is None
    values = _changes(RepoIndex.build(source))
    assert set(values) == {"shop/rounding.py", "shop/parsing.py"}
    assert all(math.isnan(v) for pair in values.values() for v in pair)
    # an empty repository (no commit yet) has no history either
    empty = tmp_path / "empty"
    empty.mkdir()
    git(empty, "init", "-q", "-b", "main")
    assert change_counts(RepoSource(empty)) is None


def test_windows_count_the_newest_commits_and_leave_merges_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(history, "WINDOWS", (1, 3))
    repo = tmp_path / "shop"
    _shop(repo)  # rounding, rounding, both (newest first)
    git(repo, "checkout", "-q", "-b", "side")
    make_repo(repo, {"shop/parsing.py": _module("parse", 9)}, "Fix parsing on a branch")
    git(repo, "checkout", "-q", "main")
    make_repo(repo, {"shop/extra.py": "X = 1\n"}, "Add extra")
    git(repo, "merge", "-q", "--no-ff", "-m", "Merge side", "side")
    recent, wider = change_counts(RepoSource(repo, "HEAD"))  # type: ignore[misc]
    # newest first, merges left out: "Add extra" or the branch's fix (same time: either is first), then rounding
    assert sum(recent.values()) == 1 and set(recent) <= {"shop/extra.py", "shop/parsing.py"}
    assert wider == {"shop/extra.py": 1, "shop/parsing.py": 1, "shop/rounding.py": 1}


def test_a_repository_missing_objects_counts_what_git_read(tmp_path: Path) -> None:
    repo = tmp_path / "shop"
    _, second, _ = _shop(repo)
    make_repo(repo, {"shop/parsing.py": _module("parse", 5)}, "Fix parsing")
    tree = git(repo, "rev-parse", f"{second}^{{tree}}")
    (repo / ".git" / "objects" / tree[:2] / tree[2:]).unlink()  # as a partial mirror lacks an old tree
    recent, _ = change_counts(RepoSource(repo, "HEAD"))  # type: ignore[misc]
    assert recent == {"shop/parsing.py": 1}  # git stopped at "Fix rounding 2", whose parent's tree is gone


def test_a_whole_history_is_kept_by_commit_and_a_partial_one_read_each_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the deepest window full, the counts are kept in the index cache by commit: the next index of that
    commit (another process) reads no history, and gets the same counts.  A history shorter than the window (a
    shallow or young copy) is never kept, so a fuller copy of the same commit is not given its counts."""
    from retrieval.cache import IndexCache

    monkeypatch.setattr(history, "WINDOWS", (1, 3))
    repo = tmp_path / "shop"
    commits = _shop(repo)
    commits.append(make_repo(repo, {"shop/parsing.py": _module("parse", 7)}, "Fix parsing"))
    cache = IndexCache(tmp_path / "cache.sqlite3")
    young = RepoIndex.build(RepoSource(repo, commits[1]), cache=cache)  # two commits: shorter than the window
    assert young.change_counts is not None
    assert cache.get_history(commits[1], history.HISTORY_VERSION) is None
    first = RepoIndex.build(RepoSource(repo, "HEAD"), cache=cache)
    counts = first.change_counts
    assert counts is not None and counts[1]["shop/rounding.py"] == 2 and counts[1]["shop/parsing.py"] == 1
    step = {s.name: s for s in first.steps.to_list()}["history"]
    assert step.counts["cached"] is False

    def unread(source: RepoSource) -> object:
        raise AssertionError("read the history again")

    monkeypatch.setattr("retrieval.index.read_changes", unread)
    later = IndexCache(tmp_path / "cache.sqlite3")
    again = RepoIndex.build(RepoSource(repo, "HEAD"), cache=later)
    assert again.change_counts == counts
    assert {s.name: s for s in again.steps.to_list()}["history"].counts["cached"] is True
    cache.close()
    later.close()
