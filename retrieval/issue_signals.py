"""Exact signals read from an issue: paths, modules, identifiers, stack frames, error messages."""

from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass, field

from retrieval.index import RepoIndex
from retrieval.tokenize import identifiers

_PATH = re.compile(r"[\w./\\-]+\.(?:py|pyi|js|jsx|ts|tsx|java|go|mjs|cjs)\b")
_DOTTED = re.compile(r"\b[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+\b")
_PY_FRAME = re.compile(r'File "([^"]+)", line (\d+), in ([\w<>]+)')
_PYTEST_FRAME = re.compile(r"^([\w./-]+\.py):(\d+):(?: in ([\w<>]+))?", re.M)
_PLACEHOLDER = re.compile(r"%[-#0-9.]*[sdrfixg]|\{[^{}]*\}|%\([^)]*\)[sdrf]")


@dataclass
class Signal:
    """One exact match between the issue and the repository, with its weight."""

    kind: str  # path, module, frame, identifier, message
    path: str
    qualname: str | None
    weight: float
    evidence: str
    line: int = 0  # a frame's line number (0: none named)


@dataclass
class IssueSignals:
    signals: list[Signal] = field(default_factory=list)
    _by_path: dict[str, list[Signal]] | None = field(default=None, init=False, repr=False)

    def file_scores(self, kind: str | None = None) -> dict[str, float]:
        scores: dict[str, float] = defaultdict(float)
        for s in self.signals:
            if kind is None or s.kind == kind:
                scores[s.path] += s.weight
        return dict(scores)

    def symbol_scores(self) -> dict[tuple[str, str], float]:
        scores: dict[tuple[str, str], float] = defaultdict(float)
        for s in self.signals:
            if s.qualname:
                scores[(s.path, s.qualname)] += s.weight
        return dict(scores)

    def reasons(self, path: str, qualname: str | None = None) -> list[str]:
        if self._by_path is None:  # grouped once: this is asked for every ranked file and symbol
            self._by_path = defaultdict(list)
            for s in self.signals:
                self._by_path[s.path].append(s)
        return sorted(
            {
                f"{s.kind}: {s.evidence}"
                for s in self._by_path.get(path, ())
                if qualname is None or s.qualname == qualname
            }
        )


def _suffix_matches(index: RepoIndex, mention: str) -> list[str]:
    """Repository files a mentioned path names: the path itself, or a file it ends with.

    An installed copy (``/usr/lib/python3/site-packages/pkg/mod.py``) names the
    repository's ``pkg/mod.py`` or ``src/pkg/mod.py``: the mention is tried whole,
    then without its leading folders, keeping at least a folder and the file name.
    """
    parts = [p for p in mention.replace("\\", "/").split("/") if p and p != "."]
    if not parts:
        return []
    shortest = 1 if len(parts) == 1 else 2
    for start in range(0, len(parts) - shortest + 1):
        tail = "/".join(parts[start:])
        if tail in index.files:
            return [tail]
        suffix = "/" + tail
        hits = [p for p in index.paths_named(parts[-1]) if p.endswith(suffix)]
        if hits:
            return hits if len(hits) <= 3 else []
    return []


def _module_paths(index: RepoIndex, dotted: str) -> list[str]:
    parts = dotted.split(".")
    for n in range(len(parts), 1, -1):
        rel = "/".join(parts[:n])
        for cand in (f"{rel}.py", f"{rel}/__init__.py"):
            hits = _suffix_matches(index, cand)
            if hits:
                return hits
    return []


def extract_signals(index: RepoIndex, text: str) -> IssueSignals:
    out = IssueSignals()
    files = index.code_files()
    n_files = max(1, len(files))
    # Paths and modules named in the issue.
    for m in set(_PATH.findall(text)):
        for path in _suffix_matches(index, m):
            out.signals.append(Signal("path", path, None, 3.0, m))
    for dotted in set(_DOTTED.findall(text)):
        for path in _module_paths(index, dotted):
            out.signals.append(Signal("module", path, None, 1.5, dotted))
    # Stack-trace frames: file and function.
    frames = [(f, int(n), fn) for f, n, fn in _PY_FRAME.findall(text)]
    frames += [(f, int(n), fn) for f, n, fn in _PYTEST_FRAME.findall(text)]
    for pos, (fname, line, func) in enumerate(frames):
        for path in _suffix_matches(index, fname):
            entry = index.files[path]
            weight = 2.0 + pos / max(1, len(frames))  # deeper frames are nearer the fault
            quals = [s.qualname for s in entry.symbols if s.is_definition and s.name == func]
            where = f"{fname} in {func}" if func else fname
            out.signals.append(Signal("frame", path, quals[0] if quals else None, weight, where, line))
    # Identifiers that name definitions, weighted by how rare the name is.
    idents = identifiers(text)
    defined: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for entry in files:
        for sym in entry.symbols:
            if sym.is_definition and sym.name in idents:
                defined[sym.name].append((entry.path, sym.qualname))
    for name, where in defined.items():
        if len(name) < 3:
            continue
        n_def_files = len({p for p, _ in where})
        idf = math.log(1 + n_files / n_def_files)
        weight = idf / math.log(1 + n_files) * (1.0 if len(where) <= 5 else 0.5)
        for path, qual in where[:30]:
            out.signals.append(Signal("identifier", path, qual, weight, name))
    # Error messages quoted from string literals in the code.
    lowered = text.lower()
    for entry in files:
        if entry.parsed is None:
            continue
        for literal in entry.parsed.literals:
            frag = max(_PLACEHOLDER.split(literal), key=len).strip()
            if len(frag) >= 12 and frag.lower() in lowered:
                out.signals.append(Signal("message", entry.path, None, 1.5, frag[:60]))
    return out
