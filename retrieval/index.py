"""``RepoIndex``: every file of a repository at a revision, parsed into symbols, with a cache.

Parses are cached by content id and parser version, so indexing another commit
of the same repository parses only the blobs that changed.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from contextlib import AbstractContextManager as ContextManager
from contextlib import ExitStack, nullcontext
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from retrieval.cache import CacheDamaged, IndexCache
from retrieval.errors import SourceError
from retrieval.history import HISTORY_VERSION, read_changes
from retrieval.languages import language_for_path
from retrieval.parse_workers import Parse, ParseWorkers, parse_here
from retrieval.parser import PARSER_VERSION
from retrieval.source import RepoSource, SourceFile
from retrieval.steps import Steps, peak_rss_mb
from retrieval.symbols import ParsedFile, Symbol
from retrieval.termcounts import LexicalMemory
from retrieval.testpaths import is_test_path

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]
DEFAULT_MAX_FILE_BYTES = 1_000_000
_PARALLEL_MIN_FILES = 400


@dataclass(eq=False)
class IndexedFile:
    path: str
    blob_id: str
    size: int
    language: str | None
    is_test: bool
    _parsed: ParsedFile | None = field(default=None, repr=False)
    # a cached parse, decoded when first asked for, and what parses the file again if it is found damaged
    _kept: bytes | None = field(default=None, repr=False)
    _reparse: Callable[[IndexedFile], ParsedFile | None] | None = field(default=None, repr=False)

    @property
    def parsed(self) -> ParsedFile | None:
        kept = self._kept
        if kept is not None:  # decoded, kept, then the JSON dropped: a second thread decodes it again at worst
            try:
                parsed = ParsedFile.from_json(kept)
            except (ValueError, KeyError, TypeError) as exc:
                log.warning("cached parse of %s (%s) is damaged (%s); parsing it again", self.path, self.blob_id, exc)
                parsed = self._reparse(self) if self._reparse is not None else None
            self._parsed = parsed
            self._kept = None
        return self._parsed

    @parsed.setter
    def parsed(self, value: ParsedFile | None) -> None:
        self._parsed, self._kept = value, None

    def keep(self, data: bytes, reparse: Callable[[IndexedFile], ParsedFile | None]) -> None:
        """Hold a cached parse (``ParsedFile.to_json``) to decode when ``parsed`` is first read."""
        self._parsed, self._kept, self._reparse = None, data, reparse

    @property
    def has_parse(self) -> bool:
        """Parsed, or a cached parse is held (``parsed`` would decode it)."""
        return self._kept is not None or self._parsed is not None

    @property
    def symbols(self) -> list[Symbol]:
        return self.parsed.symbols if self.parsed else []

    @property
    def visible_definitions(self) -> list[Symbol]:
        """Classes, functions and methods a qualified name reaches: not those local to a function body."""
        return [s for s in self.symbols if s.is_definition and "<locals>" not in s.qualname]


@dataclass
class IndexStats:
    files: int = 0
    symbols: int = 0
    parsed: int = 0
    reused: int = 0
    skipped: int = 0
    skipped_reasons: dict[str, int] = field(default_factory=dict)
    with_errors: int = 0
    seconds: float = 0.0
    peak_rss_mb: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "symbols": self.symbols,
            "parsed": self.parsed,
            "reused": self.reused,
            "skipped": self.skipped,
            "skipped_reasons": self.skipped_reasons,
            "with_errors": self.with_errors,
            "seconds": round(self.seconds, 3),
            "peak_rss_mb": round(self.peak_rss_mb, 1),
        }


def _is_binary(data: bytes) -> bool:
    return b"\0" in data[:8192]


class RepoIndex:
    """Files and symbols of one repository state; build it with ``RepoIndex.build``."""

    def __init__(
        self,
        source: RepoSource,
        files: dict[str, IndexedFile],
        stats: IndexStats,
        links: frozenset[str] = frozenset(),
        cache: IndexCache | None = None,
    ) -> None:
        self.source = source
        self.cache = cache  # what it was built through: its history is kept there too
        self.memory = cache.memory if cache is not None else LexicalMemory()  # term counts: the cache's owner's
        self.steps = Steps()  # seconds and memory of each step, of the index and what is retrieved from it
        self.files = files
        self.stats = stats
        self.links = links  # symbolic links and submodules: never edited, nor anything below them
        self._content: dict[str, bytes] = {}  # read once, from one git process per batch

    @classmethod
    def build(
        cls,
        source: RepoSource,
        cache: IndexCache | None = None,
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
        workers: int | None = None,
        progress: Progress | None = None,
        while_parsing: Callable[[list[tuple[IndexedFile, bytes]]], None] | None = None,
    ) -> RepoIndex:
        """``while_parsing`` is given the files about to be parsed and their contents, and runs while worker
        processes parse them (what a caller will do with the contents anyway: its term counts)."""
        started = time.perf_counter()
        stats = IndexStats()
        skipped: Counter[str] = Counter()
        listed = source.files()
        files: dict[str, IndexedFile] = {}
        to_read: list[SourceFile] = []
        links = frozenset(f.path for f in listed if f.kind in ("symlink", "submodule"))
        for f in listed:
            if f.kind != "file":
                skipped[f.kind] += 1
                continue
            lang = language_for_path(f.path)
            if lang is not None and f.size > max_file_bytes:
                skipped["too_large"] += 1
                lang = None
            files[f.path] = IndexedFile(f.path, f.blob_id, f.size, lang, is_test_path(f.path))
            if lang is not None:
                to_read.append(f)
        stats.files = len(files)
        cached = (
            cache.get_parsed(((f.blob_id, files[f.path].language or "") for f in to_read if f.blob_id), PARSER_VERSION)
            if cache and source.commit
            else {}
        )
        need = [f for f in to_read if (f.blob_id, files[f.path].language) not in cached]
        workers = workers if workers is not None else min(os.cpu_count() or 1, 4)
        with ExitStack() as stack:
            # a commit's cache says what is new before the reading: the workers start now, and their start overlaps
            # it; files read from disk are known to be new only once read
            pool = stack.enter_context(_workers_for(workers, len(need))) if source.commit else None
            contents = _read(source, need, files, max_file_bytes, skipped)
            if cache and not source.commit:  # disk files have their content ids only now
                cached = cache.get_parsed(
                    ((files[p].blob_id, files[p].language or "") for p in contents), PARSER_VERSION
                )
            fresh: list[tuple[IndexedFile, bytes]] = []
            reparse = _reparser(source, cache)
            for f in to_read:
                entry = files[f.path]
                hit = cached.get((entry.blob_id, entry.language or ""))
                if hit is not None:
                    entry.keep(hit.data, reparse)
                    stats.reused += 1
                    stats.symbols += hit.definitions
                    stats.with_errors += hit.has_errors
                elif f.path in contents:
                    fresh.append((entry, contents[f.path]))
            if not source.commit:
                pool = stack.enter_context(_workers_for(workers, len(fresh)))
            meanwhile = (lambda: while_parsing(fresh)) if while_parsing is not None and fresh else None
            parsed = _parse_all([(data, e.language or "") for e, data in fresh], pool, progress, meanwhile)
        for (entry, _), (p, _) in zip(fresh, parsed, strict=True):
            entry.parsed = p
            stats.symbols += len(p.definitions)
            stats.with_errors += p.has_errors
        stats.parsed = len(fresh)
        if cache and fresh:
            cache.put_parsed(
                ((e.blob_id, e.language or "", p, data) for (e, _), (p, data) in zip(fresh, parsed, strict=True)),
                PARSER_VERSION,
            )
        stats.skipped = sum(skipped.values())
        stats.skipped_reasons = dict(sorted(skipped.items()))
        stats.seconds = time.perf_counter() - started
        stats.peak_rss_mb = peak_rss_mb()
        index = cls(source, files, stats, links, cache)
        index.steps.add("index", stats.seconds, files=stats.files, parsed=stats.parsed, reused=stats.reused)
        return index

    @cached_property
    def change_counts(self) -> list[Counter[str]] | None:
        """How often each path changed lately (``retrieval.history.change_counts``): read once, and kept in the
        index cache by commit when the history read was whole (a shallow or sealed copy, or a working tree, is
        read each time)."""
        with self.steps.step("history") as counts:
            commit = self.source.commit
            kept = self.cache.get_history(commit, HISTORY_VERSION) if self.cache is not None and commit else None
            counts["cached"] = kept is not None
            if kept is not None:
                return kept
            found, whole = read_changes(self.source)
            if self.cache is not None and commit and found is not None and whole:
                self.cache.put_history(commit, HISTORY_VERSION, found)
            return found

    def paths_named(self, name: str) -> list[str]:
        """The paths whose last part is ``name``, in the order of ``files``."""
        return self._by_name.get(name, [])

    @cached_property
    def _by_name(self) -> dict[str, list[str]]:
        by_name: dict[str, list[str]] = {}
        for path in self.files:
            by_name.setdefault(path[path.rfind("/") + 1 :], []).append(path)
        return by_name

    def link_problem(self, path: str) -> str | None:
        """Why ``path`` may not be written: it, or a folder above it, is a symbolic link or a submodule."""
        parts = path.split("/")
        for i in range(len(parts), 0, -1):
            if "/".join(parts[:i]) in self.links:
                return f"the path {path!r} goes through a symbolic link or submodule ({'/'.join(parts[:i])})"
        return None

    def code_files(self, tests: bool | None = None) -> list[IndexedFile]:
        """Parsed files in path order; ``tests`` keeps only test (True) or non-test (False) files."""
        return [f for _, f in sorted(self.files.items()) if f.has_parse and (tests is None or f.is_test == tests)]

    def symbol(self, path: str, qualname: str) -> Symbol | None:
        entry = self.files.get(path)
        if entry is None:
            return None
        return next((s for s in entry.symbols if s.qualname == qualname), None)

    def read_many(self, paths: list[str]) -> dict[str, bytes]:
        """Contents of ``paths``; each file is read from the source once and then kept."""
        missing = [p for p in dict.fromkeys(paths) if p not in self._content]
        unknown = [p for p in missing if p not in self.files]
        if unknown:
            raise SourceError(f"{unknown[0]} is not a file of {self.source.label}")
        wanted = [SourceFile(p, self.files[p].blob_id, self.files[p].size) for p in missing]
        for f, data in self.source.read(wanted):
            self._content[f.path] = data
        return {p: self._content[p] for p in paths}

    def read(self, path: str) -> bytes:
        return self.read_many([path])[path]


def _reparser(source: RepoSource, cache: IndexCache | None) -> Callable[[IndexedFile], ParsedFile | None]:
    """What parses a file again whose cached parse is found damaged, and keeps the new parse."""

    def reparse(entry: IndexedFile) -> ParsedFile | None:
        try:
            found, data = next(iter(source.read([SourceFile(entry.path, entry.blob_id, entry.size)])))
        except (SourceError, OSError, StopIteration) as exc:
            log.warning("%s could not be read again (%s); it has no symbols", entry.path, exc)
            return None
        if found.blob_id != entry.blob_id:  # a file on disk changed since: its parse would be another's
            log.warning("%s changed since it was indexed; it has no symbols", entry.path)
            return None
        parsed, encoded = parse_here((data, entry.language or ""))
        if cache is not None:
            try:
                cache.put_parsed([(entry.blob_id, entry.language or "", parsed, encoded)], PARSER_VERSION)
            except (sqlite3.Error, CacheDamaged) as exc:  # closed by now, busy or damaged: parsed again next time
                log.warning("the new parse of %s was not kept (%s)", entry.path, exc)
        return parsed

    return reparse


def _read(
    source: RepoSource,
    need: list[SourceFile],
    files: dict[str, IndexedFile],
    max_file_bytes: int,
    skipped: Counter[str],
) -> dict[str, bytes]:
    """The contents of ``need`` by path; a file found too large or binary is counted in ``skipped`` and loses
    its language (it is listed, never parsed)."""
    contents: dict[str, bytes] = {}
    for f, data in source.read(need):
        entry = files[f.path]
        entry.blob_id, entry.size = f.blob_id, f.size  # filled in for files read from disk
        if entry.size > max_file_bytes:
            skipped["too_large"] += 1
            entry.language = None
        elif _is_binary(data):
            skipped["binary"] += 1
            entry.language = None
        else:
            contents[f.path] = data
    return contents


def _workers_for(workers: int, files: int) -> ContextManager[ParseWorkers | None]:
    """Parse workers for ``files`` new files, when that many pay for their start (else none: also when no
    process can be started, and this one parses them)."""
    if workers <= 1 or files < _PARALLEL_MIN_FILES:
        return nullcontext()
    try:
        return ParseWorkers(workers)
    except OSError as exc:
        log.warning("parse workers could not be started (%s); parsing in this process", exc)
        return nullcontext()


def _parse_all(
    items: list[tuple[bytes, str]],
    pool: ParseWorkers | None,
    progress: Progress | None,
    meanwhile: Callable[[], None] | None,
) -> list[Parse]:
    """Parses of ``items``: by ``pool``'s workers when there are some (``meanwhile`` running here as they
    parse), else here (``meanwhile`` first)."""
    if pool is not None:
        return pool.parse(items, progress, meanwhile)
    if meanwhile is not None:
        meanwhile()
    total = len(items)
    out = []
    for i, item in enumerate(items):
        out.append(parse_here(item))
        if progress and (i % 50 == 0 or i + 1 == total):
            progress("parse", i + 1, total)
    return out
