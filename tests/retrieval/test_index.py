from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest

from retrieval.cache import CHECK_SECONDS, IndexCache
from retrieval.errors import SourceError
from retrieval.index import RepoIndex
from retrieval.source import RepoSource, git_blob_id
from retrieval.symbols import ParsedFile
from tests.support.gitrepo import git, make_repo

FIXTURES = Path(__file__).parents[1] / "support" / "fixtures"


def _project() -> dict[str, str | bytes]:
    return {
        "pkg/__init__.py": "",
        "pkg/core.py": (FIXTURES / "sample.py").read_text(),
        "pkg/util.py": "def add(a, b):\n    return a + b\n",
        "web/app.js": (FIXTURES / "sample.js").read_text(),
        "tests/test_core.py": "from pkg.core import helper\n\ndef test_helper():\n    assert helper(2) == 4\n",
        "README.md": "# demo\n",
        "data.bin": b"\x00\x01\x02binary",
        "pkg/blob.py": b"\x00\x00not really python",
        "pkg/huge.py": "X = 1\n" * 50_000,
    }


def test_commit_index_and_cache_reuse(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    first = make_repo(repo, _project())
    cache = IndexCache(tmp_path / "cache" / "index.sqlite3")
    idx = RepoIndex.build(RepoSource(repo, first), cache=cache, max_file_bytes=100_000)
    assert idx.stats.parsed == 5 and idx.stats.reused == 0
    assert idx.stats.skipped_reasons == {"binary": 1, "too_large": 1}
    assert idx.files["tests/test_core.py"].is_test and not idx.files["pkg/core.py"].is_test
    assert idx.symbol("pkg/core.py", "Point.moved") is not None
    assert idx.read("pkg/util.py") == b"def add(a, b):\n    return a + b\n"
    # Change one file in a new commit: only that blob is parsed again.
    (repo / "pkg/util.py").write_text("def add(a, b):\n    return b + a\n\ndef sub(a, b):\n    return a - b\n")
    git(repo, "commit", "-qam", "change util")
    second = git(repo, "rev-parse", "HEAD")
    idx2 = RepoIndex.build(RepoSource(repo, second), cache=cache, max_file_bytes=100_000)
    assert idx2.stats.parsed == 1 and idx2.stats.reused == 4
    assert idx2.symbol("pkg/util.py", "sub") is not None
    # The first commit is still readable from git objects although the work tree moved on.
    idx1 = RepoIndex.build(RepoSource(repo, first), cache=cache, max_file_bytes=100_000)
    assert idx1.stats.parsed == 0 and idx1.symbol("pkg/util.py", "sub") is None


def test_working_tree_and_plain_folder_use_content_ids(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    make_repo(repo, {"a.py": "def f():\n    pass\n"})
    (repo / "b.py").write_text("def g():\n    pass\n")  # untracked, not ignored
    (repo / "a.py").write_text("def f():\n    return 2\n")  # modified
    idx = RepoIndex.build(RepoSource(repo))
    assert set(idx.files) == {"a.py", "b.py"}
    assert idx.files["a.py"].blob_id == git_blob_id(b"def f():\n    return 2\n")
    folder = tmp_path / "plain"
    folder.mkdir()
    (folder / "m.py").write_text("class C:\n    pass\n")
    idx = RepoIndex.build(RepoSource(folder))
    assert idx.symbol("m.py", "C") is not None and not idx.source.is_git


def test_symlinks_submodules_and_empty_repo(tmp_path: Path) -> None:
    sub = tmp_path / "sub"
    make_repo(sub, {"s.py": "x = 1\n"})
    repo = tmp_path / "repo"
    make_repo(repo, {"real.py": "def f():\n    pass\n"})
    os.symlink("real.py", repo / "link.py")
    git(repo, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(sub), "vendored")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "link and submodule")
    idx = RepoIndex.build(RepoSource(repo, "HEAD"))
    assert idx.stats.skipped_reasons == {"submodule": 1, "symlink": 1}
    assert "real.py" in idx.files and "link.py" not in idx.files
    empty = tmp_path / "empty"
    empty.mkdir()
    git(empty, "init", "-q")
    assert RepoIndex.build(RepoSource(empty)).stats.files == 0


def test_bad_inputs_name_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such folder"):
        RepoSource(tmp_path / "missing")
    make_repo(tmp_path / "r", {"a.py": "x = 1\n"})
    with pytest.raises(SourceError, match="no commit named 'nope'"):
        RepoSource(tmp_path / "r", "nope")
    with pytest.raises(SourceError, match="not a git repository"):
        RepoSource(tmp_path, "HEAD")


def test_corrupt_cache_is_rebuilt(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    make_repo(repo, {"a.py": "def f():\n    pass\n"})
    db = tmp_path / "cache" / "index.sqlite3"
    db.parent.mkdir()
    db.write_bytes(b"this is not a database" * 100)
    cache = IndexCache(db)
    idx = RepoIndex.build(RepoSource(repo, "HEAD"), cache=cache)
    assert idx.stats.parsed == 1
    assert list(db.parent.glob("index.sqlite3.corrupt-*"))
    again = RepoIndex.build(RepoSource(repo, "HEAD"), cache=cache)
    assert again.stats.reused == 1


def test_the_whole_file_is_checked_once_a_day_or_after_a_command_met_damage(tmp_path: Path) -> None:
    db = tmp_path / "cache" / "index.sqlite3"

    def checked_at() -> float:
        with closing(sqlite3.connect(db)) as conn:
            return conn.execute("SELECT at FROM checks WHERE name = 'quick_check'").fetchone()[0]

    IndexCache(db).close()
    first = checked_at()
    IndexCache(db).close()
    assert checked_at() == first  # the same day: not again
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("UPDATE checks SET at = ?", (first - CHECK_SECONDS - 1,))
    IndexCache(db).close()
    assert checked_at() >= first  # a day later: checked again
    db.with_name("index.sqlite3.check").touch()  # what a query that met a damaged page leaves (``CacheDamaged``)
    before = checked_at()
    time.sleep(0.01)
    IndexCache(db).close()
    assert checked_at() > before and not db.with_name("index.sqlite3.check").exists()


def test_two_processes_index_at_once(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    files: dict[str, str | bytes] = {f"m{i}.py": f"def f{i}():\n    return {i}\n" for i in range(60)}
    make_repo(repo, files)
    db = tmp_path / "cache" / "index.sqlite3"
    code = (
        "import json, sys; from pathlib import Path\n"
        "from retrieval.cache import IndexCache; from retrieval.index import RepoIndex\n"
        "from retrieval.source import RepoSource\n"
        "idx = RepoIndex.build(RepoSource(Path(sys.argv[1]), 'HEAD'), cache=IndexCache(Path(sys.argv[2])), workers=1)\n"
        "print(json.dumps(idx.stats.to_dict()))\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(repo), str(db)], stdout=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    outs = [json.loads(p.communicate(timeout=120)[0]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert all(o["symbols"] == 60 for o in outs)
    final = RepoIndex.build(RepoSource(repo, "HEAD"), cache=IndexCache(db))
    assert final.stats.reused == 60


@pytest.mark.parametrize("rev", ["HEAD", None])  # a commit's workers start before the reading, a tree's after
def test_parallel_parse_matches_serial(tmp_path: Path, rev: str | None) -> None:
    repo = tmp_path / "repo"
    files: dict[str, str | bytes] = {
        f"p/m{i}.py": (FIXTURES / "sample.py").read_text() + f"\nV{i} = {i}\n" for i in range(450)
    }
    make_repo(repo, files)
    serial = RepoIndex.build(RepoSource(repo, rev), workers=1)
    parallel = RepoIndex.build(RepoSource(repo, rev), workers=2)
    assert parallel.stats.parsed == 450
    assert serial.stats.symbols == parallel.stats.symbols
    assert serial.files["p/m7.py"].parsed == parallel.files["p/m7.py"].parsed


def test_small_reads_share_one_git_process_which_is_started_again_when_it_dies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reads of a few files at a time (retrieval, the neighbours of a definition) go through one long-lived
    ``git cat-file --batch``; a process that died is replaced; a large read streams through its own."""
    from retrieval import source as source_module

    repo = tmp_path / "r"
    make_repo(repo, {f"m{i}.py": f"def f{i}():\n    return {i}\n" for i in range(40)})
    started: list[object] = []
    real = source_module.git_process
    monkeypatch.setattr(source_module, "git_process", lambda *a: started.append(a) or real(*a))
    index = RepoIndex.build(RepoSource(repo, "HEAD"))
    started.clear()
    for i in range(10):
        assert index.read(f"m{i}.py") == f"def f{i}():\n    return {i}\n".encode()
    assert len(started) == 1
    reader = index.source._reader
    assert reader is not None and reader._proc is not None
    reader._proc.kill()
    reader._proc.wait()
    assert index.read("m20.py").startswith(b"def f20")
    assert len(started) == 2
    assert len(index.read_many([f"m{i}.py" for i in range(21, 40)])) == 19  # past the few: a process of its own
    assert len(started) == 3


def test_a_kept_parse_is_decoded_when_first_read_and_a_damaged_one_is_parsed_again_and_replaced(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    repo = tmp_path / "repo"
    a = "def f():\n    return 1\n\n\nclass C:\n    def m(self):\n        pass\n"
    make_repo(repo, {"a.py": a, "b.py": "def g(:\n"})
    cache = IndexCache(tmp_path / "cache.sqlite3")
    first = RepoIndex.build(RepoSource(repo, "HEAD"), cache=cache)
    second = RepoIndex.build(RepoSource(repo, "HEAD"), cache=cache)
    assert second.stats.reused == 2 and second.stats.parsed == 0
    # counted from the kept summaries, nothing decoded
    assert (second.stats.symbols, second.stats.with_errors) == (first.stats.symbols, first.stats.with_errors)
    assert first.stats.symbols >= 3 and first.stats.with_errors == 1
    entry = second.files["a.py"]
    assert entry._kept is not None and entry.has_parse
    assert [f.path for f in second.code_files()] == ["a.py", "b.py"] and entry._kept is not None
    assert entry.parsed == first.files["a.py"].parsed and entry._kept is None

    blob = entry.blob_id
    cache.conn.execute("UPDATE parses SET data = ? WHERE blob_id = ?", (b'{"language": ', blob))
    third = RepoIndex.build(RepoSource(repo, "HEAD"), cache=cache)
    assert [s.qualname for s in third.files["a.py"].visible_definitions] == ["f", "C", "C.m"]
    assert "cached parse of a.py" in caplog.text and "is damaged" in caplog.text
    kept = cache.conn.execute("SELECT data FROM parses WHERE blob_id = ?", (blob,)).fetchone()[0]
    assert ParsedFile.from_json(kept) == first.files["a.py"].parsed  # the new parse replaced the damaged one
    cache.close()


def test_a_damaged_parse_of_a_file_changed_on_disk_since_is_not_replaced_by_the_new_contents(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    repo = tmp_path / "repo"
    make_repo(repo, {"a.py": "def f():\n    return 1\n"})
    cache = IndexCache(tmp_path / "cache.sqlite3")
    blob = RepoIndex.build(RepoSource(repo), cache=cache).files["a.py"].blob_id
    cache.conn.execute("UPDATE parses SET data = ? WHERE blob_id = ?", (b"[", blob))
    index = RepoIndex.build(RepoSource(repo), cache=cache)  # holds the damaged parse, not decoded yet
    (repo / "a.py").write_text("def g():\n    return 2\n")
    assert index.files["a.py"].parsed is None and index.files["a.py"].symbols == []
    assert "changed since it was indexed" in caplog.text
    assert cache.conn.execute("SELECT data FROM parses WHERE blob_id = ?", (blob,)).fetchone()[0] == b"["
    cache.close()
