from __future__ import annotations

from collections import Counter
from pathlib import Path

import bm25s
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retrieval.cache import IndexCache
from retrieval.dense import DenseIndex, ShortlistDense, document_id, load_model, model_key
from retrieval.documents import lexical_file_text, symbol_text
from retrieval.index import RepoIndex
from retrieval.issue_signals import extract_signals
from retrieval.lexical import BM25Model, FileBM25, TermCounts, TokenCache, file_counts, symbol_counts
from retrieval.postings import Postings, PostingsStore
from retrieval.retriever import FusionWeights, Retriever
from retrieval.source import RepoSource
from retrieval.testpaths import is_auxiliary_path
from retrieval.tokenize import count_tokens, split_identifier, stem_tokens, tokenize
from tests.conftest import SHOP_ISSUE
from tests.support.gitrepo import git, make_repo


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="abcXYZ_09 .(\n\té", max_size=80))
def test_counted_tokens_are_those_of_the_token_list(text: str) -> None:
    tokens = tokenize(text)
    assert count_tokens(text) == (Counter(tokens), len(tokens))


def test_identifier_tokens() -> None:
    assert split_identifier("getHTTPResponseCode") == ["get", "http", "response", "code"]
    assert split_identifier("apply_discount") == ["apply", "discount"]
    toks = tokenize("Cart.total calls apply_discount(self)")
    assert {"cart", "total", "apply_discount", "apply", "discount"} <= set(toks)
    assert "self" not in toks


def test_stems_join_inflections() -> None:
    assert stem_tokens(["deprecated", "deprecation", "deprecating"]) == ["deprec"] * 3
    assert stem_tokens(tokenize("Rounding fails")) == stem_tokens(tokenize("rounded failed"))


def test_auxiliary_paths() -> None:
    for path in ("docs/conf.py", "examples/plot.py", "setup.py", "benchmarks/bench_io.py", ".github/x.py"):
        assert is_auxiliary_path(path), path
    for path in ("pkg/docs.py", "pkg/examples/base.py", "src/pkg/setup.py", "pkg/tools/util.py"):
        assert not is_auxiliary_path(path), path


def test_title_stems_and_auxiliary_files_in_the_ranking(tmp_path: Path) -> None:
    """A title's inflection finds its file through the stems; a docs/ copy of the same words ranks below."""
    files = {
        "pkg/money.py": 'def round_price(price):\n    """Rounded prices."""\n    return round(price, 2)\n',
        "docs/money_example.py": 'def round_example(price):\n    """Rounded prices."""\n    return round(price)\n',
        "pkg/other.py": "def other(value):\n    return value\n",
        "pkg/more.py": "def more(value):\n    return value\n",
    }
    make_repo(tmp_path / "r", files)
    index = RepoIndex.build(RepoSource(tmp_path / "r", "HEAD"))
    retriever = Retriever(index)
    stems = retriever.code_bm25.scores(tokenize("Rounding is wrong"), stems=True)
    assert set(stems) == {"pkg/money.py", "docs/money_example.py"}
    assert retriever.code_bm25.scores(tokenize("Rounding is wrong")) == {}
    ranked = retriever.retrieve("Rounding is wrong\nprices come out rounded the wrong way")
    assert [f.path for f in ranked.files[:2]] == ["pkg/money.py", "docs/money_example.py"]
    assert "auxiliary x0.5" in ranked.files[1].reasons
    flat = Retriever(index, weights=FusionWeights(auxiliary=1.0)).retrieve("Rounding is wrong")
    assert all(not r.startswith("auxiliary") for f in flat.files for r in f.reasons)


@pytest.fixture()
def shop_index(shop_repo: Path) -> RepoIndex:
    return RepoIndex.build(RepoSource(shop_repo, "HEAD"))


def test_issue_signals_find_frames_paths_names_and_messages(shop_index: RepoIndex) -> None:
    sig = extract_signals(shop_index, SHOP_ISSUE)
    kinds = {(s.kind, s.path, s.qualname) for s in sig.signals}
    assert ("frame", "shop/pricing.py", "apply_discount") in kinds
    assert ("frame", "shop/cart.py", "Cart.total") in kinds
    assert ("identifier", "shop/cart.py", "Cart") in kinds
    message = extract_signals(shop_index, "I get 'not enough stock to reserve the item' when ordering")
    assert [s.path for s in message.signals if s.kind == "message"] == ["shop/inventory.py"]
    module = extract_signals(shop_index, "the shop.users module has no logout")
    assert any(s.kind == "module" and s.path == "shop/users.py" for s in module.signals)


def test_paths_of_an_installed_copy_name_the_repository_files(shop_index: RepoIndex) -> None:
    text = (
        'File "/usr/lib/python3.11/site-packages/shop/pricing.py", line 3, in apply_discount\n'
        "/home/me/env/lib/python3.11/site-packages/shop/cart.py:12: DeprecationWarning: old\n"
        "see /usr/lib/python3.11/logging/__init__.py too\n"
    )
    sig = extract_signals(shop_index, text)
    frames = {(s.path, s.qualname) for s in sig.signals if s.kind == "frame"}
    assert ("shop/pricing.py", "apply_discount") in frames and ("shop/cart.py", None) in frames
    assert {s.path for s in sig.signals if s.kind == "path"} == {"shop/pricing.py", "shop/cart.py"}


def test_fused_ranking_puts_the_traceback_files_first_the_titles_file_leading(shop_index: RepoIndex) -> None:
    """The title names Cart.total, so cart.py leads on the lexical lists; the crash site, pricing.py, leads the
    frames. Fusion puts cart.py first, pricing.py second: the faulty file is not first here (an open weakness)."""
    result = Retriever(shop_index).retrieve(SHOP_ISSUE)
    assert [f.path for f in result.files[:2]] == ["shop/cart.py", "shop/pricing.py"]
    frames = [r for r in result.files[1].reasons if r.startswith("frame #")]
    assert frames == ["frame #1"]  # the innermost frame ranks the crash site first among the frames
    assert all(not f.path.startswith("tests/") for f in result.files)
    assert [f.path for f in result.test_files] == ["tests/test_cart.py"]
    top = [s.id for s in result.symbols[:3]]
    assert "shop/pricing.py::apply_discount" in top
    assert any(r.startswith("frame: shop/pricing.py") for f in result.files[:2] for r in f.reasons)


def test_dense_embeddings_with_the_bundled_model_are_cached(shop_repo: Path, tmp_path: Path) -> None:
    cache = IndexCache(tmp_path / "cache.sqlite3")
    index = RepoIndex.build(RepoSource(shop_repo, "HEAD"), cache=cache)
    dense = DenseIndex.build(index, "bundled", cache)
    hits = dense.search("customer login with email and password")
    assert max(hits, key=hits.get) == "shop/users.py"
    stored = cache.get_embeddings([document_id(index.files["shop/users.py"])], model_key("bundled"))
    vec = next(iter(stored.values()))
    assert vec.shape[1] == 384 and np.isclose(np.linalg.norm(vec[0]), 1.0, atol=1e-3)
    # A new commit that changes one file's signatures embeds only that file; one
    # that changes only a body embeds nothing.
    (shop_repo / "shop/users.py").write_text('"""Accounts."""\n\ndef logout(user):\n    return None\n')
    git(shop_repo, "commit", "-qam", "logout")
    index2 = RepoIndex.build(RepoSource(shop_repo, "HEAD"), cache=cache)
    calls: list[int] = []
    DenseIndex.build(index2, "bundled", cache, progress=lambda stage, done, total: calls.append(total))
    assert calls and calls[-1] == 1
    (shop_repo / "shop/users.py").write_text('"""Accounts."""\n\ndef logout(user):\n    return user\n')
    git(shop_repo, "commit", "-qam", "body only")
    index3 = RepoIndex.build(RepoSource(shop_repo, "HEAD"), cache=cache)
    assert index3.files["shop/users.py"].blob_id != index2.files["shop/users.py"].blob_id
    calls.clear()
    DenseIndex.build(index3, "bundled", cache, progress=lambda stage, done, total: calls.append(total))
    assert calls == []


def test_dense_signal_changes_ranking_when_words_differ(shop_index: RepoIndex) -> None:
    dense = DenseIndex.build(shop_index, "bundled")
    issue = "Signing in to my profile fails"
    plain = Retriever(shop_index, None).retrieve(issue)
    fused = Retriever(shop_index, dense, FusionWeights(dense=2.0)).retrieve(issue)
    assert fused.files[0].path == "shop/users.py"
    assert plain.files[0].score == 0.0  # no word of the issue is in the code
    assert any("dense" in r for r in fused.files[0].reasons)


def test_shortlist_dense_embeds_only_what_the_other_lists_rank_first(shop_repo: Path, tmp_path: Path) -> None:
    cache = IndexCache(tmp_path / "cache.sqlite3")
    index = RepoIndex.build(RepoSource(shop_repo, "HEAD"), cache=cache)
    shortlist = ShortlistDense(index, "bundled", cache, size=2)
    fused = Retriever(index, shortlist).retrieve(SHOP_ISSUE)
    first_two = [f.path for f in Retriever(index).retrieve(SHOP_ISSUE).files[:2]]
    key = model_key("bundled")
    code = index.code_files(tests=False)
    embedded = {e.path for e in code if cache.get_embeddings([document_id(e)], key)}
    assert embedded == set(first_two) and len(code) > 2  # the rest were never embedded
    dense_ranked = [f.path for f in fused.files if any(r.startswith("dense") for r in f.reasons)]
    assert set(dense_ranked) <= set(first_two) and dense_ranked
    # Its similarities are those of the full index, for the files it scored.
    full = DenseIndex.build(index, "bundled", cache).search(SHOP_ISSUE[:2000])
    scored = shortlist.search(SHOP_ISSUE[:2000], first_two)
    assert all(abs(scored[p] - full[p]) < 1e-5 for p in scored)


def test_the_bundled_encoder_stays_within_its_tolerance_of_sentence_transformers() -> None:
    """The int8 ONNX model of the bundled MiniLM: each vector within ``TOLERANCE`` (cosine) of
    sentence-transformers' (a batch padded to its longest text, a text cut at 128 word pieces, accents and CJK,
    an empty text), normalised, whether embedded alone or in a batch (int8 activations are scaled per batch)."""
    from retrieval.dense import MAX_SEQ_LENGTH, bundled_minilm
    from retrieval.minilm import TOLERANCE

    texts = [
        "Cart.total ignores the discount",
        "def apply_discount(price, rate):\n    return price * (1 - rate)\n" * 30,
        "réseau ünïcode 日本語",
        "",
        "retrieval/dense.py\nclass ShortlistDense: Dense similarity for a shortlist\ndef search(self, query, paths)",
    ]
    ours = bundled_minilm().encode(texts)
    theirs = load_model("bundled").encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    assert ours.dtype == np.float32 and ours.shape == (5, 384)
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    cosines = (ours * theirs).sum(1)
    assert cosines.min() >= TOLERANCE, cosines
    alone = np.stack([bundled_minilm().encode([t])[0] for t in texts])
    assert (alone * theirs).sum(1).min() >= TOLERANCE and (alone * ours).sum(1).min() >= TOLERANCE
    assert load_model("bundled").max_seq_length == MAX_SEQ_LENGTH == bundled_minilm().max_seq_length


def test_models_build_makes_the_encoder_where_asked_and_it_is_found_there(tmp_path: Path) -> None:
    """`repoagent models build --out` writes the int8 model once (again only with --force); a process whose
    REPOAGENT_MODELS names that folder loads it from there and never makes another."""
    import subprocess
    import sys

    from retrieval.minilm import FILE_NAME

    root = Path(__file__).parents[2]
    build = [sys.executable, "-m", "repoagent.cli.main", "models", "build", "--out", str(tmp_path)]
    first = subprocess.run(build, capture_output=True, text=True, timeout=300, cwd=root)
    assert first.returncode == 0, first.stderr
    made = tmp_path / FILE_NAME
    assert first.stdout.strip() == str(made) and made.stat().st_size > 10_000_000 and "made" in first.stderr
    again = subprocess.run(build, capture_output=True, text=True, timeout=300, cwd=root)
    assert again.returncode == 0 and "is there already" in again.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [FILE_NAME]  # no build folder left behind
    code = "from retrieval.dense import bundled_minilm\nm = bundled_minilm()\nprint(m.path, m.encode(['x']).shape)"
    env = {**__import__("os").environ, "REPOAGENT_MODELS": str(tmp_path)}
    used = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=root, env=env)
    assert used.returncode == 0 and used.stdout.split()[0] == str(made) and "made" not in used.stderr, used.stderr


def test_an_environment_it_cannot_write_to_gets_the_encoder_in_the_users_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """No model where the environment keeps them, and no way to write one there: it is made once in
    ``~/.cache/repoagent/models`` (with a warning), then found there without one."""
    from retrieval.dense import bundled_model_path
    from retrieval.minilm import FILE_NAME, model_file

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the models' folder would go")
    monkeypatch.setenv("REPOAGENT_MODELS", str(blocker / "models"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    with caplog.at_level("WARNING"):
        made = model_file(bundled_model_path())
    assert made == tmp_path / "home" / ".cache" / "repoagent" / "models" / FILE_NAME and made.is_file()
    assert "made the embedding model" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING"):
        assert model_file(bundled_model_path()) == made
    assert "made the embedding model" not in caplog.text


def test_a_search_never_imports_torch(shop_repo: Path, tmp_path: Path) -> None:
    """Files to embed, then (cached) none: the query and the files are embedded by ONNX Runtime, and torch and
    sentence-transformers (seconds to import) stay out of the process; the second search finds what the first
    found."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from retrieval.cache import IndexCache\n"
        "from retrieval.dense import DenseIndex\n"
        "from retrieval.index import RepoIndex\n"
        "from retrieval.source import RepoSource\n"
        f"cache = IndexCache({str(tmp_path / 'cache.db')!r})\n"
        f"index = RepoIndex.build(RepoSource({str(shop_repo)!r}, 'HEAD'))\n"
        "hits = DenseIndex.build(index, 'bundled', cache).search('the discount is wrong')\n"
        "print(max(hits, key=hits.get), 'torch' in sys.modules, 'sentence_transformers' in sys.modules)\n"
    )
    run = [sys.executable, "-c", code]
    first = subprocess.run(run, capture_output=True, text=True, timeout=300, cwd=Path(__file__).parents[2])
    second = subprocess.run(run, capture_output=True, text=True, timeout=300, cwd=Path(__file__).parents[2])
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert first.stdout == second.stdout and second.stdout.split()[1:] == ["False", "False"], second.stdout


def test_embedding_in_threads_while_another_thread_forks_never_hangs() -> None:
    """Thread pools and fork: three threads embed batches while a fourth starts processes the way the sandbox
    does (``preexec_fn``: a real fork); with OpenBLAS's pool under the NumPy encoder this hung within seconds."""
    import subprocess
    import sys

    code = (
        "import subprocess, threading, time\n"
        "from retrieval.dense import bundled_minilm\n"
        "model = bundled_minilm()\n"
        "texts = ['def total(items):  return sum(item.price for item in items) ' * 8] * 32\n"
        "stop = time.monotonic() + 8\n"
        "def embed():\n"
        "    while time.monotonic() < stop:\n"
        "        model.encode(texts)\n"
        "def fork():\n"
        "    while time.monotonic() < stop:\n"
        "        subprocess.run(['true'], preexec_fn=lambda: None)\n"
        "threads = [threading.Thread(target=embed) for _ in range(3)] + [threading.Thread(target=fork)]\n"
        "[t.start() for t in threads]\n"
        "[t.join() for t in threads]\n"
        "print('done')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=Path(__file__).parents[2]
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "done", proc.stderr


def test_a_query_asked_again_is_read_from_the_cache_without_loading_the_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from retrieval import dense

    cache = IndexCache(tmp_path / "cache.sqlite3")
    first = dense.embed_query("bundled", "the discount is wrong", cache)
    monkeypatch.setattr(dense, "encoder", lambda name: pytest.fail("loaded the model"))
    again = dense.embed_query("bundled", "the discount is wrong", IndexCache(tmp_path / "cache.sqlite3"))
    assert again.dtype == np.float32 and np.array_equal(first, again)
    with pytest.raises(pytest.fail.Exception):
        dense.embed_query("bundled", "another issue", cache)
    cache.close()


def test_unknown_embedding_model_is_a_clear_error() -> None:
    from retrieval.errors import RetrievalError

    with pytest.raises(RetrievalError, match="retrieval.embedding_model"):
        load_model("/nonexistent/model/folder")


def test_file_tokens_are_kept_by_blob_across_commits(shop_repo: Path) -> None:
    first = RepoIndex.build(RepoSource(shop_repo, "HEAD"))
    (shop_repo / "shop/users.py").write_text('"""Accounts."""\n\ndef logout(user):\n    return None\n')
    git(shop_repo, "commit", "-qam", "logout")
    second = RepoIndex.build(RepoSource(shop_repo, "HEAD"))
    cache = TokenCache(100)
    entries = first.code_files(tests=False)
    docs = file_counts(first, entries, cache)
    assert [d.tokens for d in docs] == [
        Counter(tokenize(lexical_file_text(e, first.read(e.path).decode()))) for e in entries
    ]
    read: list[list[str]] = []
    real = second.read_many
    second.read_many = lambda paths: read.append(paths) or real(paths)  # type: ignore[method-assign]
    new_entries = second.code_files(tests=False)
    again = file_counts(second, new_entries, cache)
    assert read == [["shop/users.py"]]
    assert again[[e.path for e in new_entries].index("shop/users.py")].tokens["logout"] == 1
    scores = FileBM25(second, new_entries, cache).scores(tokenize("logout the user"))
    assert max(scores, key=scores.get) == "shop/users.py"
    small = TokenCache(max_documents=2)
    file_counts(first, entries[:3], small)
    file_counts(first, entries[3:4], small)
    assert len(small._docs) == 2  # least recently used dropped
    symbols = [(e, sym) for e in new_entries for sym in e.symbols if sym.is_definition]
    sym_cache = TokenCache(1000)
    counted = symbol_counts(second, symbols, sym_cache)
    assert counted[0].tokens == Counter(tokenize(symbol_text(*symbols[0], second.read(symbols[0][0].path))))
    read.clear()
    assert symbol_counts(second, symbols, sym_cache) == counted and read == []


def test_definition_counts_are_kept_by_blob_and_are_those_of_their_documents(shop_repo: Path, tmp_path: Path) -> None:
    """A definition's counts are its heading's and its body's; the bodies' are kept in the index cache by blob,
    so another process (a new cache on the same file) counts the same without reading a file."""
    cache = IndexCache(tmp_path / "cache.sqlite3")
    index = RepoIndex.build(RepoSource(shop_repo, "HEAD"), cache=cache)
    syms = [(e, s) for e in index.code_files() for s in e.visible_definitions]
    counted = symbol_counts(index, syms)
    documents = [tokenize(symbol_text(e, s, index.read(e.path))) for e, s in syms]
    assert [(c.tokens, c.length) for c in counted] == [(Counter(d), len(d)) for d in documents]
    later = IndexCache(tmp_path / "cache.sqlite3")
    again = RepoIndex.build(RepoSource(shop_repo, "HEAD"), cache=later)
    again.read_many = lambda paths: pytest.fail(f"read {paths}")  # type: ignore[method-assign]
    same = [(e, s) for e in again.code_files() for s in e.visible_definitions]
    assert [(c.tokens, c.length) for c in symbol_counts(again, same)] == [(c.tokens, c.length) for c in counted]
    cache.close()
    later.close()


def test_term_counts_are_kept_by_the_owner_of_the_index_cache_not_by_the_module(
    shop_repo: Path, tmp_path: Path
) -> None:
    """Indexes built through one cache share its memory (a batch worker's instances); an index of its own, or one
    through another cache, counts again."""
    cache = IndexCache(tmp_path / "cache.sqlite3")
    first = RepoIndex.build(RepoSource(shop_repo, "HEAD"), cache=cache)
    second = RepoIndex.build(RepoSource(shop_repo, "HEAD"), cache=cache)
    alone = RepoIndex.build(RepoSource(shop_repo, "HEAD"))
    assert first.memory is second.memory is cache.memory and alone.memory is not cache.memory
    entries = first.code_files(tests=False)
    counted = file_counts(first, entries)
    assert counted[0].memo is cache.memory.stems  # the documents' stems are the memory's too
    counted[0].stems  # noqa: B018 - stemmed once, into the owner's memo
    assert cache.memory.stems and set(counted[0].tokens) <= set(cache.memory.stems)
    for index, reads in ((second, 0), (alone, 1)):
        read: list[list[str]] = []
        real = index.read_many
        index.read_many = lambda paths, real=real, read=read: read.append(paths) or real(paths)  # type: ignore[method-assign]
        again = file_counts(index, index.code_files(tests=False))
        assert [(d.tokens, d.length) for d in again] == [(d.tokens, d.length) for d in counted]
        assert len(read) == reads  # the same memory reads nothing again
    other = IndexCache(tmp_path / "cache.sqlite3")  # another owner: its own memory
    assert RepoIndex.build(RepoSource(shop_repo, "HEAD"), cache=other).memory is not cache.memory
    cache.close()
    other.close()


def _counted_bm25(docs: list[TermCounts], keys: list[str], query: list[str], stems: bool) -> dict[str, float]:
    """BM25 as it was computed before postings: every document's counter asked for every query term."""
    import math

    counts = [d.stems if stems else d.tokens for d in docs]
    lengths = np.array([max(1, d.length) for d in docs], dtype=np.float64)
    norm = 1.5 * (1 - 0.75 + 0.75 * lengths / lengths.mean())
    total = np.zeros(len(docs))
    for term, repeats in Counter(stem_tokens(query) if stems else query).items():
        tf = np.fromiter((c.get(term, 0) for c in counts), dtype=np.float64, count=len(docs))
        df = int(np.count_nonzero(tf))
        if df:
            idf = math.log(1 + (len(docs) - df + 0.5) / (df + 0.5))
            total += repeats * idf * tf / (tf + norm)
    return {key: float(v) for key, v in zip(keys, total, strict=True) if v > 0}


def test_kept_postings_score_to_the_bit_and_spare_the_next_process_its_counting(
    shop_repo: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The files' postings are written beside the index cache once; another cache on the same folder (the next
    process) scores from them without tokenizing a file, and every score (tokens and stems) is the one counting
    every document gives, bit for bit.  A damaged file is counted again, with a warning."""
    queries = [tokenize(SHOP_ISSUE), tokenize("apply the discount to the cart total"), tokenize("absent words")]
    first_cache = IndexCache(tmp_path / "cache" / "index.sqlite3")
    index = RepoIndex.build(RepoSource(shop_repo, "HEAD"), cache=first_cache)
    entries = index.code_files(tests=False)
    counted = file_counts(index, entries)
    keys = [e.path for e in entries]
    first = FileBM25(index, entries, store=first_cache.postings)
    expected = [(q, stems, _counted_bm25(counted, keys, q, stems)) for q in queries for stems in (False, True)]
    assert any(scores for _, _, scores in expected)
    for query, stems, scores in expected:
        assert first.scores(query, stems=stems) == scores
    kept = list((tmp_path / "cache" / "postings").glob("*.npz"))
    assert len(kept) == 1

    later = IndexCache(tmp_path / "cache" / "index.sqlite3")  # another process's cache: an empty memory
    again = RepoIndex.build(RepoSource(shop_repo, "HEAD"), cache=later)
    again.read_many = lambda paths: pytest.fail(f"read {paths}")  # type: ignore[method-assign]
    warm = FileBM25(again, again.code_files(tests=False), store=later.postings)
    for query, stems, scores in expected:
        assert warm.scores(query, stems=stems) == scores
    assert len(later.memory.files._docs) == 0  # nothing tokenized
    assert [e.path for e in warm.holding("discount")] == [
        p for p in keys if "discount" in counted[keys.index(p)].tokens
    ]

    kept[0].write_bytes(b"not an npz")
    damaged = IndexCache(tmp_path / "cache" / "index.sqlite3")
    third = RepoIndex.build(RepoSource(shop_repo, "HEAD"), cache=damaged)
    with caplog.at_level("WARNING"):
        recounted = FileBM25(third, third.code_files(tests=False), store=damaged.postings)
        assert recounted.scores(queries[0]) == expected[0][2]
    assert "damaged" in caplog.text and Postings.from_bytes(kept[0].read_bytes()).lengths.size == len(entries)
    for c in (first_cache, later, damaged):
        c.close()


def test_postings_kept_are_capped_and_an_empty_corpus_is_scored(tmp_path: Path) -> None:
    """The least recently used corpora go past ``KEEP``; an empty document and an empty corpus score nothing."""
    from retrieval.postings import KEEP

    store = PostingsStore(tmp_path)
    for n in range(KEEP + 3):
        store.put(f"k{n:02d}", Postings.of([TermCounts.of(["word", f"w{n}"]), TermCounts.of([])]))
    assert len(list(tmp_path.glob("*.npz"))) == KEEP
    back = store.get(f"k{KEEP + 2:02d}")
    assert back is not None and BM25Model(back, ["a", "b"]).scores(["word"]).keys() == {"a"}
    empty = Postings.from_bytes(Postings.of([]).to_bytes())
    assert len(empty) == 0 and BM25Model(empty, []).scores(["word"], stems=True) == {}
    docs = [TermCounts.of(tokenize("merging configs merged")), TermCounts.of(["other", "config"])]
    whole, lean = Postings.of(docs), Postings.from_bytes(Postings.of(docs).to_bytes(stems=False))
    for stem in ("merg", "config", "other", "absent"):  # kept without stems: made again from the tokens' columns
        assert [a.tolist() for a in lean.column(stem, stems=True)] == [a.tolist() for a in whole.column(stem, True)]
    asked = Postings.of(docs)  # columns read from the documents, one pass for a query's terms
    asked.prepare(["config", "merging", "absent"])
    for term in ("config", "merging", "absent", "other"):
        got, full = asked.column(term), lean.column(term)
        assert [a.tolist() for a in got] == [a.tolist() for a in full] and got[0].dtype == full[0].dtype


def test_bm25_scores_are_those_of_bm25s() -> None:
    """The counted BM25 ranks as bm25s's Lucene variant does, with repeated query terms counting again."""
    texts = [
        "parse the config file and merge defaults",
        "config loader reads yaml config files config",
        "render html report with colours",
        "",
        "merge sort of lists merge merge",
    ]
    corpus = [tokenize(t) for t in texts]
    reference = bm25s.BM25()
    reference.index([doc or ["_empty_"] for doc in corpus], show_progress=False)
    keys = [f"d{i}" for i in range(len(texts))]
    model = BM25Model(Postings.of([TermCounts.of(doc) for doc in corpus]), keys)
    for query in (["config", "merge"], ["merge", "merge", "report"], ["html"], ["absent"]):
        known = [t for t in query if t in reference.vocab_dict]
        expected = np.asarray(reference.get_scores(known)) if known else np.zeros(len(texts))
        got = model.scores(query)
        assert np.allclose([got.get(k, 0.0) for k in keys], expected, atol=1e-5), query
    stems = BM25Model(Postings.of([TermCounts.of(tokenize("merging configs")), TermCounts.of(["other"])]), ["a", "b"])
    assert set(stems.scores(tokenize("merged config"), stems=True)) == {"a"}
