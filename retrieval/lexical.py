"""BM25 over identifier-aware tokens, for an index's files and definitions.

Scores are Lucene's BM25 (k1 1.5, b 0.75), the variant ``bm25s`` computes by
default, but without building an index: a document keeps its term counts, and a
query looks up only its own terms. Documents are counted once per owner of the
index's ``LexicalMemory`` (the index cache's, which a batch worker, the App and
a benchmark keep for all their runs), files by path and blob id, definitions by
their place in the blob too, so the next commit of the same repository (the
next SWE-bench instance, the next issue the bot is given) counts only what
changed; stem counts are derived from the term counts when asked for.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np

from retrieval.documents import lexical_file_text, symbol_text
from retrieval.index import IndexedFile, RepoIndex
from retrieval.symbols import Symbol
from retrieval.termcounts import TermCounts, TokenCache
from retrieval.tokenize import stem_tokens

K1 = 1.5
B = 0.75


def file_counts(index: RepoIndex, entries: list[IndexedFile], cache: TokenCache | None = None) -> list[TermCounts]:
    """Term counts of files' lexical documents (path words weighted up, then the whole text)."""

    def texts(todo: list[int]) -> list[str]:
        todo_entries = [entries[i] for i in todo]
        contents = index.read_many([e.path for e in todo_entries])
        return [lexical_file_text(e, contents[e.path].decode("utf-8", errors="replace")) for e in todo_entries]

    return (cache or index.memory.files).counts([(e.path, e.blob_id) for e in entries], texts)


def symbol_counts(
    index: RepoIndex, symbols: list[tuple[IndexedFile, Symbol]], cache: TokenCache | None = None
) -> list[TermCounts]:
    """Term counts of definitions' documents (path, qualified name, source)."""

    def texts(todo: list[int]) -> list[str]:
        contents = index.read_many(list({symbols[i][0].path for i in todo}))
        return [symbol_text(e, s, contents[e.path]) for e, s in (symbols[i] for i in todo)]

    keys = [(e.path, e.blob_id, s.qualname, s.start_byte, s.end_byte) for e, s in symbols]
    return (cache or index.memory.symbols).counts(keys, texts)


class BM25Model:
    """BM25 of counted documents, scored for any number of queries; a term repeated in a query counts again."""

    def __init__(self, docs: list[TermCounts], keys: list[str], stems: bool = False) -> None:
        self.keys = keys
        self.stems = stems
        self._counts = [d.stems if stems else d.tokens for d in docs]
        lengths = np.array([max(1, d.length) for d in docs], dtype=np.float64)
        self._norm = K1 * (1 - B + B * lengths / lengths.mean()) if docs else lengths

    def scores(self, query: list[str]) -> dict[str, float]:
        """Positive BM25 scores by key; terms the corpus never uses add nothing."""
        n = len(self._counts)
        total = np.zeros(n)
        for term, repeats in Counter(stem_tokens(query) if self.stems else query).items():
            tf = np.fromiter((c.get(term, 0) for c in self._counts), dtype=np.float64, count=n)
            df = int(np.count_nonzero(tf))
            if df:
                idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
                total += repeats * idf * tf / (tf + self._norm)
        return {key: float(s) for key, s in zip(self.keys, total, strict=True) if s > 0}


class FileBM25:
    """BM25 of an index's files, each model (tokens, stems) made when first asked for."""

    def __init__(self, index: RepoIndex, entries: list[IndexedFile], cache: TokenCache | None = None) -> None:
        self.index = index
        self.entries = entries
        self._cache = cache
        self._models: dict[bool, BM25Model] = {}

    def scores(self, query: list[str], stems: bool = False) -> dict[str, float]:
        if not self.entries:
            return {}
        if stems not in self._models:
            docs = file_counts(self.index, self.entries, self._cache)
            self._models[stems] = BM25Model(docs, [e.path for e in self.entries], stems)
        return self._models[stems].scores(query)
