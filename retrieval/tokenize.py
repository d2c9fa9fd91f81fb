"""Identifier-aware tokens for lexical retrieval.

``getUserName`` and ``get_user_name`` both give ``get``, ``user``, ``name`` and
the whole identifier, so an issue that says "user name" and one that quotes
``get_user_name`` both reach the definition.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from functools import lru_cache

import Stemmer

# Bump when tokens or the lexical documents change: term counts kept on disk are counted again.
TOKENIZER_VERSION = "tokens1"
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
STOPWORDS = frozenset(
    """a an and are as at be but by for from has have if in into is it its not of on or so that the this
    to was were will with self cls def return none true false import class pass else elif try except
    finally raise while lambda yield var let const function new null undefined public private protected
    static void int str bool""".split()
)


def split_identifier(ident: str) -> list[str]:
    parts: list[str] = []
    for piece in ident.split("_"):
        parts.extend(p.lower() for p in _CAMEL.findall(piece))
    return parts


@lru_cache(maxsize=200_000)
def _identifier_tokens(ident: str) -> tuple[str, ...]:
    parts = split_identifier(ident)
    out = [p for p in parts if len(p) > 1 and p not in STOPWORDS]
    if len(parts) > 1:
        whole = ident.lower()
        if whole not in STOPWORDS:
            out.insert(0, whole)
    return tuple(out)


def tokenize(text: str) -> list[str]:
    """Lower-cased identifier parts, plus the whole identifier when it has several parts."""
    out: list[str] = []
    for ident in _IDENT.findall(text):
        out.extend(_identifier_tokens(ident))
    return out


def count_tokens(text: str) -> tuple[Counter[str], int]:
    """How often each of ``tokenize(text)``'s tokens occurs, and how many there are: each distinct identifier
    split once (a file names a few hundred, a few thousand times), a third of the time of counting the list."""
    counts: Counter[str] = Counter()
    length = 0
    for ident, times in Counter(_IDENT.findall(text)).items():
        parts = _identifier_tokens(ident)
        for part in parts:
            counts[part] += times
        length += times * len(parts)
    return counts, length


def identifiers(text: str) -> set[str]:
    return set(_IDENT.findall(text))


_stemmers = threading.local()  # a Stemmer object per thread (one must not be shared between threads)
MEMO_LIMIT = 500_000


def stem_tokens(tokens: list[str], memo: dict[str, str] | None = None) -> list[str]:
    """Snowball (English) stems of tokens: "deprecated" and "deprecation" meet at "deprec".

    ``memo`` holds the stems already known (its owner keeps it: ``LexicalMemory``), so each distinct token
    of a repository (a few tens of thousands) is stemmed once and stemming a corpus is one look-up a token.
    """
    memo = memo if memo is not None else {}
    missing = [t for t in set(tokens) if t not in memo]
    if missing:
        stemmer = getattr(_stemmers, "stemmer", None)
        if stemmer is None:
            stemmer = _stemmers.stemmer = Stemmer.Stemmer("english")
        if len(memo) > MEMO_LIMIT:
            memo.clear()
        memo.update(zip(missing, stemmer.stemWords(missing), strict=True))
    return [memo.get(t) or t for t in tokens]
