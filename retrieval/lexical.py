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

from retrieval.cache import Bodies
from retrieval.documents import lexical_file_text, symbol_body, symbol_heading
from retrieval.index import IndexedFile, RepoIndex
from retrieval.parser import PARSER_VERSION
from retrieval.postings import Postings, PostingsStore, corpus_key
from retrieval.symbols import Symbol
from retrieval.termcounts import TermCounts, TokenCache
from retrieval.tokenize import TOKENIZER_VERSION, count_tokens, stem_tokens

# The bodies' counts kept in the index cache are counted again when tokens or parses change.
BODIES_VERSION = f"{TOKENIZER_VERSION}/parser{PARSER_VERSION}"

K1 = 1.5
B = 0.75


def file_counts(index: RepoIndex, entries: list[IndexedFile], cache: TokenCache | None = None) -> list[TermCounts]:
    """Term counts of files' lexical documents (path words weighted up, then the whole text)."""

    def texts(todo: list[int]) -> list[str]:
        todo_entries = [entries[i] for i in todo]
        contents = index.read_many([e.path for e in todo_entries])
        return [_file_text(e, contents[e.path]) for e in todo_entries]

    return (cache or index.memory.files).counts([(e.path, e.blob_id) for e in entries], texts)


def count_contents(files: list[tuple[IndexedFile, bytes]], cache: TokenCache) -> None:
    """Count the lexical documents of files whose contents are at hand (an index build's, while its workers
    parse them: ``RepoIndex.build(while_parsing=...)``), so that ``file_counts`` of them reads and counts
    nothing."""
    cache.counts([(e.path, e.blob_id) for e, _ in files], lambda todo: [_file_text(*files[i]) for i in todo])


def _file_text(entry: IndexedFile, content: bytes) -> str:
    return lexical_file_text(entry, content.decode("utf-8", errors="replace"))


def symbol_counts(
    index: RepoIndex, symbols: list[tuple[IndexedFile, Symbol]], cache: TokenCache | None = None
) -> list[TermCounts]:
    """Term counts of definitions' documents (path, qualified name, source).

    A document's tokens are its heading's (path and name words) and its body's; the bodies' counts depend
    on the file's content alone, so they are kept in the index cache by blob (each file's bodies counted so
    far): another process, or another commit holding the same file, tokenizes them no more.
    """
    memory = cache or index.memory.symbols

    def make(todo: list[int]) -> list[TermCounts]:
        wanted = [symbols[i] for i in todo]
        bodies = _body_counts(index, wanted)
        out = []
        for e, s in wanted:
            tokens, heading = count_tokens(symbol_heading(e, s))
            body, length = bodies[e.blob_id][(s.start_byte, s.end_byte)]
            tokens.update(body)
            out.append(TermCounts(tokens, heading + length, memory.stems))
        return out

    keys = [(e.path, e.blob_id, s.qualname, s.start_byte, s.end_byte) for e, s in symbols]
    return memory.counted(keys, make)


def _body_counts(index: RepoIndex, symbols: list[tuple[IndexedFile, Symbol]]) -> dict[str, Bodies]:
    """The counts of ``symbols``' bodies by blob and byte range: those kept in the index cache, the others
    counted now and kept with them."""
    store = index.cache
    files = {e.blob_id: e for e, _ in symbols}
    found = store.get_bodies(list(files), BODIES_VERSION) if store is not None else {}
    missing = [(e, s) for e, s in symbols if (s.start_byte, s.end_byte) not in found.get(e.blob_id, {})]
    if not missing:
        return found
    contents = index.read_many(list({e.path for e, _ in missing}))
    grown: dict[str, Bodies] = {}
    for e, s in missing:
        counts, length = count_tokens(symbol_body(s, contents[e.path]))
        grown.setdefault(e.blob_id, found.setdefault(e.blob_id, {}))[(s.start_byte, s.end_byte)] = (
            dict(counts),
            length,
        )
    if store is not None:
        store.put_bodies(grown, BODIES_VERSION)
    return found


class BM25Model:
    """BM25 of a corpus's postings, scored for any number of queries; a term repeated in a query counts again."""

    def __init__(self, postings: Postings, keys: list[str]) -> None:
        self.keys = keys
        self.postings = postings
        lengths = np.maximum(postings.lengths, 1).astype(np.float64)
        self._norm = K1 * (1 - B + B * lengths / lengths.mean()) if len(postings) else lengths

    def scores(self, query: list[str], stems: bool = False) -> dict[str, float]:
        """Positive BM25 scores by key (of the query's and documents' word stems with ``stems``); terms the
        corpus never uses add nothing."""
        n = len(self.postings)
        total = np.zeros(n)
        terms = Counter(stem_tokens(query) if stems else query)
        if not stems:
            self.postings.prepare(terms)
        for term, repeats in terms.items():
            docs, tf = self.postings.column(term, stems)
            df = len(docs)
            if df:
                idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
                total[docs] += repeats * idf * tf / (tf + self._norm[docs])
        return {key: float(s) for key, s in zip(self.keys, total, strict=True) if s > 0}


class FileBM25:
    """BM25 of an index's files, made when first asked for: from the postings kept for this very corpus (the
    same files at the same contents) when there are some, else counted (through the index's memory) and kept."""

    def __init__(
        self,
        index: RepoIndex,
        entries: list[IndexedFile],
        cache: TokenCache | None = None,
        store: PostingsStore | None = None,
        stems: bool = False,
    ) -> None:
        """``stems``: its stems will be asked for (they are kept with its postings then)."""
        self.index = index
        self.entries = entries
        self._cache = cache
        self._store = store
        self._stems = stems
        self._model: BM25Model | None = None

    def scores(self, query: list[str], stems: bool = False) -> dict[str, float]:
        if not self.entries:
            return {}
        return self.model().scores(query, stems)

    def holding(self, term: str) -> list[IndexedFile]:
        """The files whose tokens include ``term``, in the order they were given."""
        if not self.entries:
            return []
        docs, _ = self.model().postings.column(term)
        return [self.entries[i] for i in docs]

    def model(self) -> BM25Model:
        if self._model is None:
            key = corpus_key([(e.path, e.blob_id) for e in self.entries])
            postings = self._store.get(key) if self._store else None
            if postings is None or len(postings) != len(self.entries):
                postings = Postings.of(file_counts(self.index, self.entries, self._cache))
                if self._store:
                    self._store.put(key, postings, self._stems)
            self._model = BM25Model(postings, [e.path for e in self.entries])
        return self._model
