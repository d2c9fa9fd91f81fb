"""Parsing in worker processes: the same parses as here, in order; dead workers and parser errors; the term
counts an index build makes while its workers parse, and the embedding model it loads meanwhile."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from repoagent.config import load_settings
from repoagent.pipeline.wiring import PRELOAD_MIN_FILES, open_index
from retrieval import dense
from retrieval.cache import IndexCache
from retrieval.index import RepoIndex
from retrieval.lexical import FileBM25
from retrieval.parse_workers import CHUNK, ParseWorkerError, ParseWorkers
from retrieval.parser import parse_source
from retrieval.source import RepoSource
from retrieval.symbols import ParsedFile
from retrieval.tokenize import tokenize
from tests.support.gitrepo import make_repo

FIXTURES = Path(__file__).parents[1] / "support" / "fixtures"


def _items(n: int) -> list[tuple[bytes, str]]:
    py = (FIXTURES / "sample.py").read_bytes()
    js = (FIXTURES / "sample.js").read_bytes()
    return [(py + f"\nV{i} = {i}\n".encode(), "python") if i % 3 else (js, "javascript") for i in range(n)]


def test_workers_give_this_process_parses_in_order_report_progress_and_exit_when_closed() -> None:
    items = _items(3 * CHUNK + 5)
    seen: list[tuple[str, int, int]] = []
    ran: list[bool] = []
    with ParseWorkers(2) as pool:
        procs = list(pool._procs)
        got = pool.parse(items, lambda *a: seen.append(a), meanwhile=lambda: ran.append(True))
    assert got == [(p, p.to_json()) for p in (parse_source(*item) for item in items)]
    assert ran == [True]
    assert seen[-1] == ("parse", len(items), len(items))
    assert all(p.poll() is not None for p in procs)  # ended when their input closed


@pytest.mark.parametrize("dead", [1, 2])
def test_files_of_workers_that_died_are_parsed_here(dead: int) -> None:
    items = _items(4 * CHUNK)
    with ParseWorkers(2) as pool:
        for proc in pool._procs[:dead]:
            proc.kill()
            proc.wait()
        got = pool.parse(items)
    assert got == [(p, p.to_json()) for p in (parse_source(*item) for item in items)]


def test_a_worker_that_dies_midway_leaves_its_chunks_sent_and_queued_to_the_others_or_here() -> None:
    items = _items(12 * CHUNK)
    killed: list[int] = []
    with ParseWorkers(2) as pool:
        victim = pool._procs[0]

        def progress(step: str, done: int, total: int) -> None:
            if not killed:  # after the first answer: one chunk of the victim is likely being parsed, one queued
                victim.kill()
                killed.append(done)

        got = pool.parse(items, progress)
    assert killed and victim.poll() is not None
    assert got == [(p, p.to_json()) for p in (parse_source(*item) for item in items)]


def test_an_error_of_the_parser_in_a_worker_is_raised_with_its_traceback() -> None:
    items = [*_items(2), (b"x = 1\n", "no-such-language")]
    with ParseWorkers(2) as pool, pytest.raises(ParseWorkerError, match="KeyError: 'no-such-language'"):
        pool.parse(items)


def test_an_answer_that_cannot_be_read_is_an_error_not_a_hang(monkeypatch: pytest.MonkeyPatch) -> None:
    def unreadable(data: bytes) -> ParsedFile:
        raise ValueError("not a parse")

    monkeypatch.setattr(ParsedFile, "from_json", staticmethod(unreadable))
    with ParseWorkers(2) as pool, pytest.raises(ParseWorkerError, match="ValueError: not a parse"):
        pool.parse(_items(3 * CHUNK))


def test_an_index_parses_here_when_no_worker_can_be_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    repo = tmp_path / "repo"
    make_repo(repo, {f"p/m{i}.py": f"def f{i}():\n    return {i}\n" for i in range(450)})
    monkeypatch.setattr("sys.executable", str(tmp_path / "no-python"))
    index = RepoIndex.build(RepoSource(repo, "HEAD"), workers=2)
    assert index.stats.parsed == 450
    assert [s.qualname for s in index.files["p/m7.py"].symbols] == ["f7"]
    assert "parse workers could not be started" in caplog.text


def test_files_counted_while_parsed_leave_nothing_for_bm25_to_read_and_score_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "repo"
    files: dict[str, str | bytes] = {
        f"p/m{i}.py": (FIXTURES / "sample.py").read_text() + f"\ndef handler_{i}(payload):\n    return {i}\n"
        for i in range(450)  # enough files for the workers
    }
    files["tests/test_p.py"] = "def test_handler_7():\n    assert handler_7(None) == 7\n"
    make_repo(repo, files)
    query = tokenize("handler_7 returns the wrong payload")
    plain = RepoIndex.build(RepoSource(repo, "HEAD"), workers=1)
    expected = FileBM25(plain, plain.code_files(tests=False)).scores(query)
    tests_expected = FileBM25(plain, plain.code_files(tests=True)).scores(query)

    cache = IndexCache(tmp_path / "cache" / "index.sqlite3")
    index = open_index(load_settings(None, ["index.workers=2"], env={}), repo, "HEAD", cache, for_retrieval=True)
    assert index.stats.parsed == 451
    assert len(cache.memory.files._docs) == 451  # counted while the workers parsed

    def no_read(paths: list[str]) -> dict[str, bytes]:
        raise AssertionError(f"read {paths[:3]} again")

    monkeypatch.setattr(index, "read_many", no_read)
    assert FileBM25(index, index.code_files(tests=False)).scores(query) == expected
    assert FileBM25(index, index.code_files(tests=True)).scores(query) == tests_expected
    assert expected["p/m7.py"] == max(expected.values())


@pytest.mark.parametrize(("new_files", "loaded"), [(PRELOAD_MIN_FILES, True), (PRELOAD_MIN_FILES - 1, False)])
def test_many_new_files_load_the_embedding_model_while_they_are_parsed(
    tmp_path: Path, new_files: int, loaded: bool
) -> None:
    repo = tmp_path / "repo"
    make_repo(repo, {f"p/m{i}.py": f"def f{i}():\n    return {i}\n" for i in range(new_files)})
    dense._bundled_minilm.cache_clear()
    with IndexCache(tmp_path / "cache" / "index.sqlite3") as cache:
        open_index(load_settings(None, [], env={}), repo, "HEAD", cache, for_retrieval=True)
    for thread in threading.enumerate():
        if thread.name == "repoagent-model-load":
            thread.join()
    assert (dense._bundled_minilm.cache_info().currsize == 1) is loaded
    assert dense.bundled_minilm().encode(["x"]).shape == (1, 384)  # whether loaded ahead or now
