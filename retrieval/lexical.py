"""BM25 over identifier-aware tokens: whole files of an index, or any list of documents.

Scores are Lucene's BM25 (k1 1.5, b 0.75), the variant ``bm25s`` computes by
default, but without building an index: a document keeps its term counts, and a
query looks up only its own terms. A repository's files are counted once per
process, by path and blob id, so the next commit of the same repository (the
next SWE-bench instance, the next issue the bot is given) counts only what
changed; stem counts are derived from the term counts when asked for.
"""

from __future__ import annotations

import math
import threading
from collections import Counter, OrderedDict
from dataclasses import dataclass, field

import numpy as np

from retrieval.documents import lexical_file_text
from retrieval.index import IndexedFile, RepoIndex
from retrieval.tokenize import stem_tokens, tokenize

K1 = 1.5
B = 0.75


@dataclass
class TermCounts:
    """How often each token (and, once asked, each stem) occurs in one document."""

    tokens: Counter[str]
    length: int
    _stems: Counter[str] | None = field(default=None, repr=False)

    @classmethod
    def of(cls, tokens: list[str]) -> TermCounts:
        return cls(Counter(tokens), len(tokens))

    @property
    def stems(self) -> Counter[str]:
        if self._stems is None:
            stems: Counter[str] = Counter()
            terms = list(self.tokens)
            for stem, term in zip(stem_tokens(terms), terms, strict=True):
                stems[stem] += self.tokens[term]
            self._stems = stems
        return self._stems


class TokenCache:
    """Term counts of file documents by (path, blob id); the least recently used are dropped past ``max_documents``."""

    def __init__(self, max_documents: int = 12_000) -> None:
        self.max_documents = max_documents
        self._docs: OrderedDict[tuple[str, str], TermCounts] = OrderedDict()
        self._lock = threading.Lock()

    def documents(self, index: RepoIndex, entries: list[IndexedFile]) -> list[TermCounts]:
        with self._lock:
            keys = [(e.path, e.blob_id) for e in entries]
            missing = [e for e, key in zip(entries, keys, strict=True) if key not in self._docs]
            contents = index.read_many([e.path for e in missing])
            for e in missing:
                text = contents[e.path].decode("utf-8", errors="replace")
                self._docs[(e.path, e.blob_id)] = TermCounts.of(tokenize(lexical_file_text(e, text)))
            out = []
            for key in keys:
                self._docs.move_to_end(key)
                out.append(self._docs[key])
            while len(self._docs) > max(self.max_documents, len(keys)):
                self._docs.popitem(last=False)
            return out


_TOKENS = TokenCache()


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
    """BM25 of an index's files (path words weighted up, then the whole text)."""

    def __init__(self, index: RepoIndex, entries: list[IndexedFile], cache: TokenCache | None = None) -> None:
        self.index = index
        self.entries = entries
        self._cache = cache or _TOKENS
        self._models: dict[bool, BM25Model] = {}

    def scores(self, query: list[str], stems: bool = False) -> dict[str, float]:
        if not self.entries:
            return {}
        if stems not in self._models:
            docs = self._cache.documents(self.index, self.entries)
            self._models[stems] = BM25Model(docs, [e.path for e in self.entries], stems)
        return self._models[stems].scores(query)


def bm25_scores(docs: list[str], keys: list[str], queries: list[list[str]]) -> list[dict[str, float]]:
    """BM25 scores of ``docs`` for each query."""
    model = BM25Model([TermCounts.of(tokenize(d)) for d in docs], keys)
    return [model.scores(query) for query in queries]
