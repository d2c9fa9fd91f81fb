"""Term counts of documents, and ``LexicalMemory``, which keeps them for its owner.

Counting a repository's files and definitions is most of a cold lexical
retrieval; the counts depend only on the text, so whoever runs many retrievals
(a batch worker, the App, a benchmark) keeps one ``LexicalMemory`` for all of
them, through the index cache it opens (``IndexCache(path, memory)``).  Nothing
is kept by the module.
"""

from __future__ import annotations

import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

from retrieval.tokenize import count_tokens, stem_tokens


@dataclass
class TermCounts:
    """How often each token (and, once asked, each stem) occurs in one document."""

    tokens: Counter[str]
    length: int
    memo: dict[str, str] = field(default_factory=dict, repr=False, compare=False)  # stems known (see stem_tokens)
    _stems: Counter[str] | None = field(default=None, repr=False)

    @classmethod
    def of(cls, tokens: list[str], memo: dict[str, str] | None = None) -> TermCounts:
        return cls(Counter(tokens), len(tokens), memo if memo is not None else {})

    @property
    def stems(self) -> Counter[str]:
        if self._stems is None:
            stems: Counter[str] = Counter()
            terms = list(self.tokens)
            for stem, term in zip(stem_tokens(terms, self.memo), terms, strict=True):
                stems[stem] += self.tokens[term]
            self._stems = stems
        return self._stems


class TokenCache:
    """Term counts of documents by key; the least recently used are dropped past ``max_documents``."""

    def __init__(self, max_documents: int, stems: dict[str, str] | None = None) -> None:
        self.max_documents = max_documents
        self.stems = stems if stems is not None else {}  # the stems its documents' tokens share
        self._docs: OrderedDict[Hashable, TermCounts] = OrderedDict()
        self._lock = threading.Lock()

    def counts(self, keys: list[Hashable], texts: Callable[[list[int]], list[str]]) -> list[TermCounts]:
        """Counts for ``keys``; ``texts`` gives the texts of the positions not kept, in one call."""
        return self.counted(keys, lambda todo: [TermCounts(*count_tokens(t), self.stems) for t in texts(todo)])

    def counted(self, keys: list[Hashable], make: Callable[[list[int]], list[TermCounts]]) -> list[TermCounts]:
        """Counts for ``keys``; ``make`` counts the positions not kept, in one call (their stems in ``stems``)."""
        with self._lock:
            missing = [i for i, key in enumerate(keys) if key not in self._docs]
            for i, doc in zip(missing, make(missing) if missing else [], strict=True):
                self._docs[keys[i]] = doc
            out = []
            for key in keys:
                self._docs.move_to_end(key)
                out.append(self._docs[key])
            while len(self._docs) > max(self.max_documents, len(keys)):
                self._docs.popitem(last=False)
            return out


@dataclass
class LexicalMemory:
    """The term counts of files and of definitions (the least recently used dropped past their caps), and the
    stems their tokens share."""

    stems: dict[str, str] = field(default_factory=dict)
    files: TokenCache = field(init=False)
    symbols: TokenCache = field(init=False)

    def __post_init__(self) -> None:
        self.files = TokenCache(12_000, self.stems)
        self.symbols = TokenCache(60_000, self.stems)
