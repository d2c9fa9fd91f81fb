"""``Postings``: a corpus's term counts turned term-major, kept on disk per corpus.

BM25 of a query needs, for each of its terms, the documents holding it and how
often, and each document's length.  Counting a repository's files (django:
2,800 documents, 850,000 distinct term-document pairs) took most of a warm
``localize``; the postings of a corpus (the files of one commit) are written
beside the index cache once and read back in a few milliseconds by the next
process, which then never tokenizes them.  Token and stem columns are both
kept; the counts are the documents' ``TermCounts``, so every score is the one
counting would give, to the bit.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import tempfile
from bisect import bisect_left
from collections.abc import Hashable, Iterable
from pathlib import Path

import numpy as np

from retrieval.termcounts import TermCounts
from retrieval.tokenize import TOKENIZER_VERSION, stem_tokens

log = logging.getLogger(__name__)

KEEP = 24  # corpora kept on disk; the least recently used are removed past this
FORMAT = "postings2"  # part of a corpus's key: files of another layout are never read (1 had unsorted terms)


class Postings:
    """Term-major counts of one corpus: ``column(term)`` gives the documents holding it and how often."""

    def __init__(
        self,
        lengths: np.ndarray,
        tokens: _Columns | None,
        stems: _Columns | None,
        docs: list[TermCounts] | None = None,
    ) -> None:
        self.lengths = lengths
        self._columns = {False: tokens, True: stems}
        self._docs = docs  # what the columns are made of, when first needed
        self._asked: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def __len__(self) -> int:
        return len(self.lengths)

    @classmethod
    def of(cls, docs: list[TermCounts]) -> Postings:
        """The postings of counted documents: a term's column is read from the documents when asked for, until
        all columns are made (to be kept, or for the stems)."""
        lengths = np.array([d.length for d in docs], dtype=np.int64)
        return cls(lengths, None, None, docs)

    def column(self, term: str, stems: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """The documents (ascending) that hold ``term`` (a stem, with ``stems``) and its count in each (float64)."""
        if stems:
            return self._stems().column(term)
        if self._columns[False] is not None:
            return self._columns[False].column(term)
        self.prepare([term])  # a few dozen terms of a query: cheaper than all of a corpus's columns
        return self._asked[term]

    def prepare(self, terms: Iterable[str]) -> None:
        """Read the columns of ``terms`` from the documents in one pass (each document's terms met with the
        query's in C), when the whole columns are not made: a query's few dozen terms over 2,000 definitions."""
        if self._columns[False] is not None:
            return
        todo = set(terms) - self._asked.keys()
        if not todo:
            return
        held: dict[str, tuple[list[int], list[int]]] = {t: ([], []) for t in todo}
        for i, d in enumerate(self._docs or []):
            for term in todo & d.tokens.keys():
                docs, counts = held[term]
                docs.append(i)
                counts.append(d.tokens[term])
        for term, (docs, counts) in held.items():
            self._asked[term] = (np.array(docs, dtype=np.int32), np.array(counts, dtype=np.float64))

    def _tokens(self) -> _Columns:
        if self._columns[False] is None:
            self._columns[False] = _Columns.of([d.tokens for d in self._docs or []])
        return self._columns[False]

    def _stems(self) -> _Columns:
        if self._columns[True] is None:
            memo = self._docs[0].memo if self._docs else {}
            self._columns[True] = self._tokens().stemmed(len(self), memo)
        return self._columns[True]

    def to_bytes(self, stems: bool = True) -> bytes:
        """The postings as a file's bytes; ``stems``: with the stems' columns (else made again when asked for)."""
        out = io.BytesIO()
        arrays = {"lengths": self.lengths}
        for is_stem, col in ((False, self._tokens()), *([(True, self._stems())] if stems else [])):
            prefix = "stems" if is_stem else "tokens"
            arrays.update({f"{prefix}_terms": np.frombuffer("\n".join(col.terms).encode(), np.uint8)})
            arrays.update({f"{prefix}_starts": col.starts, f"{prefix}_docs": col.docs, f"{prefix}_counts": col.counts})
        np.savez(out, **arrays)
        return out.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> Postings:
        with np.load(io.BytesIO(data)) as z:
            cols = [
                _Columns(
                    z[f"{p}_terms"].tobytes().decode().split("\n") if z[f"{p}_terms"].size else [],
                    z[f"{p}_starts"],
                    z[f"{p}_docs"],
                    z[f"{p}_counts"],
                )
                if f"{p}_terms" in z.files
                else None
                for p in ("tokens", "stems")
            ]
            if cols[0] is None:
                raise ValueError("no token columns")
            return cls(z["lengths"], *cols)


class _Columns:
    """Each term's documents and counts; the terms in sorted order, found by bisection (a warm call looks up a
    few dozen terms, where a dictionary of a corpus's 100,000 would take longer to make)."""

    def __init__(self, terms: list[str], starts: np.ndarray, docs: np.ndarray, counts: np.ndarray) -> None:
        self.terms = terms
        self.starts, self.docs, self.counts = starts, docs, counts

    @classmethod
    def of(cls, counters: list[dict[str, int]]) -> _Columns:
        vocab: dict[str, int] = {}
        term_ids: list[int] = []
        doc_ids: list[int] = []
        counts: list[int] = []
        for doc, counter in enumerate(counters):
            term_ids.extend(vocab.setdefault(t, len(vocab)) for t in counter)
            doc_ids.extend([doc] * len(counter))
            counts.extend(counter.values())
        names = sorted(vocab)
        rank = np.zeros(len(vocab), dtype=np.int64)
        rank[[vocab[t] for t in names]] = np.arange(len(vocab))
        terms = rank[np.array(term_ids, dtype=np.int64)]
        order = np.lexsort((np.array(doc_ids, dtype=np.int64), terms))  # by term, then document
        starts = np.zeros(len(vocab) + 1, dtype=np.int64)
        np.cumsum(np.bincount(terms, minlength=len(vocab)), out=starts[1:])
        return cls(
            names,
            starts,
            np.array(doc_ids, dtype=np.int32)[order],
            np.array(counts, dtype=np.int32)[order],
        )

    def stemmed(self, documents: int, memo: dict[str, str]) -> _Columns:
        """The columns of the terms' word stems: each stem's count in a document is the sum of its terms'."""
        stems = stem_tokens(self.terms, memo)
        names, stem_of_term = np.unique(np.array(stems, dtype=str), return_inverse=True) if stems else ([], [])
        per_entry = np.repeat(np.asarray(stem_of_term, dtype=np.int64), np.diff(self.starts))
        pair = per_entry * max(documents, 1) + self.docs  # ascending: by stem, then document
        pairs, where = np.unique(pair, return_inverse=True)
        counts = np.bincount(where, weights=self.counts, minlength=len(pairs)).astype(np.int32)
        stem_ids = pairs // max(documents, 1)
        starts = np.zeros(len(names) + 1, dtype=np.int64)
        np.cumsum(np.bincount(stem_ids, minlength=len(names)), out=starts[1:])
        return _Columns([str(n) for n in names], starts, (pairs % max(documents, 1)).astype(np.int32), counts)

    def column(self, term: str) -> tuple[np.ndarray, np.ndarray]:
        i = bisect_left(self.terms, term)
        if i == len(self.terms) or self.terms[i] != term:
            return np.zeros(0, np.int32), np.zeros(0, np.float64)
        lo, hi = self.starts[i], self.starts[i + 1]
        return self.docs[lo:hi], self.counts[lo:hi].astype(np.float64)


def corpus_key(keys: list[Hashable]) -> str:
    """The name of a corpus: its documents' keys (path and content id), in order, and the tokenizer's version."""
    digest = hashlib.sha1(f"{FORMAT}/{TOKENIZER_VERSION}".encode())
    for key in keys:
        digest.update(repr(key).encode())
        digest.update(b"\0")
    return digest.hexdigest()


class PostingsStore:
    """Corpora's postings as files in one folder, by corpus key; the least recently read go past ``KEEP``."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def get(self, key: str) -> Postings | None:
        path = self.folder / f"{key}.npz"
        try:
            data = path.read_bytes()
            postings = Postings.from_bytes(data)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, UnicodeDecodeError) as exc:
            log.warning("kept term counts %s are damaged (%s); counting again", path, exc)
            return None
        try:
            os.utime(path)  # recently used
        except OSError:
            pass
        return postings

    def put(self, key: str, postings: Postings, stems: bool = True) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.folder, prefix=".", suffix=".tmp", delete=False) as tmp:
                tmp.write(postings.to_bytes(stems))
            os.replace(tmp.name, self.folder / f"{key}.npz")
            kept = sorted(self.folder.glob("*.npz"), key=_used, reverse=True)
            for old in kept[KEEP:]:
                old.unlink(missing_ok=True)
        except OSError as exc:  # a full or read-only disk: the next process counts again
            log.warning("could not keep term counts in %s (%s)", self.folder, exc)


def _used(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:  # removed meanwhile by another process
        return 0.0
