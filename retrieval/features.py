"""What the learned ranker sees: a row of numbers per candidate file and per candidate definition.

Every number comes from evidence the retriever computes anyway (the ranked
lists, the issue's signals, the index), so a row costs a few dictionary
look-ups.  A list a candidate is absent from gives rank ``ABSENT`` and score 0.
The names below are the models' columns: a shipped model names the columns it
was trained on, and the ranker refuses a model whose names differ.
"""

from __future__ import annotations

import math
import posixpath
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from retrieval.history import WINDOWS
from retrieval.index import IndexedFile, RepoIndex
from retrieval.issue_signals import IssueSignals
from retrieval.symbols import Symbol
from retrieval.testpaths import is_auxiliary_path

ABSENT = 1000.0
FILE_LISTS: tuple[str, ...] = (
    "bm25",
    "title",
    "title stems",
    "frame",
    "identifier",
    "path",
    "module",
    "message",
    "dense",
    "def bm25",  # a file's best definition (function or method) by BM25 of the issue
    "def title",  # the same for the issue's title
)
# The first files of the fused list whose definitions are scored for the two lists above.
DEFINITION_FILES = 60
# Files whose rank in any list (or in the fused list) is at most this are scored by the model; the rest follow.
CANDIDATES_PER_LIST = 50


# How often the file changed in the last 100 and 1,000 commits over the most-changed candidate's count
# (``retrieval.history``); missing (NaN) where there is no git history.
HISTORY_COLUMNS: list[str] = [f"changes_{n}_rel" for n in WINDOWS]


def _list_columns(name: str) -> list[str]:
    slug = name.replace(" ", "_")
    return [f"{slug}_rank", f"{slug}_score", f"{slug}_rel"]


FILE_FEATURES: list[str] = [
    *(c for name in FILE_LISTS for c in _list_columns(name)),
    "rrf_rank",
    "rrf_score",
    "lists_hit",
    "auxiliary",
    "size_kb",
    "depth",
    "is_init",
    "definitions",
    "stem_in_issue",
    "folder_in_issue",
    "issue_tokens",
    "issue_frames",
    *HISTORY_COLUMNS,
]

SYMBOL_LISTS: tuple[str, ...] = ("bm25", "title", "signals")
SYMBOL_FEATURES: list[str] = [
    "file_rank",
    "file_score",
    "file_rrf_rank",
    *(c for name in SYMBOL_LISTS for c in _list_columns(name)),
    "frame_named",
    "identifier_named",
    "name_in_issue",
    "qualname_in_issue",
    "class_in_issue",
    "called_by_named",
    "kind",
    "is_class",
    "methods",
    "lines",
    "nesting",
    "private",
    "dunder",
    "frame_line_inside",
    "frame_line_innermost",
    "file_definitions",
    "issue_tokens",
]
_KIND_CODE = {"class": 0.0, "function": 1.0, "method": 2.0}


def ranks(scores: dict[str, float]) -> dict[str, int]:
    """1-based ranks of the positive scores, ties broken by key."""
    ordered = sorted((kv for kv in scores.items() if kv[1] > 0), key=lambda kv: (-kv[1], kv[0]))
    return {key: i + 1 for i, (key, _) in enumerate(ordered)}


def _list_values(scores: dict[str, float], order: dict[str, int], keys: Sequence[str]) -> np.ndarray:
    """Rank, score and score over the list's best, for each key: shape (len(keys), 3)."""
    top = max(scores.values(), default=0.0)
    out = np.empty((len(keys), 3))
    for i, key in enumerate(keys):
        rank = order.get(key)
        score = scores.get(key, 0.0) if rank else 0.0
        out[i] = (rank or ABSENT, score, score / top if top > 0 else 0.0)
    return out


def feature_matrix(names: list[str], values: dict[str, Any], rows: int) -> np.ndarray:
    """The rows of ``values`` (a column of ``rows`` numbers by feature name) with the columns in ``names``' order:
    a column is placed by its name, never by its position, and one missing or unknown is an error."""
    if set(values) != set(names):
        missing, unknown = sorted(set(names) - set(values)), sorted(set(values) - set(names))
        raise ValueError(f"feature columns differ from the declared ones: missing {missing}, unknown {unknown}")
    if not rows:
        return np.empty((0, len(names)))
    return np.column_stack([np.asarray(values[name], dtype=np.float64).reshape(rows) for name in names])


@dataclass
class FileRows:
    """The candidate files of one issue (fused order) and their feature rows."""

    paths: list[str]
    x: np.ndarray


def file_candidates(orders: dict[str, dict[str, int]], fused: list[str]) -> list[str]:
    """Files in the first ``CANDIDATES_PER_LIST`` of the fused list or of any list (``ranks`` of each), in fused
    order."""
    chosen = set(fused[:CANDIDATES_PER_LIST])
    for order in orders.values():
        chosen.update(key for key, rank in order.items() if rank <= CANDIDATES_PER_LIST)
    position = {p: i for i, p in enumerate(fused)}
    return sorted(chosen, key=lambda p: (position.get(p, len(position)), p))


def file_rows(
    index: RepoIndex,
    lists: dict[str, dict[str, float]],
    fused: list[tuple[str, float]],
    issue_tokens: list[str],
    signals: IssueSignals,
) -> FileRows:
    """Feature rows of the candidate files; ``fused`` is the reciprocal-rank fusion, best first."""
    order = [p for p, _ in fused]
    orders = {name: ranks(lists.get(name, {})) for name in FILE_LISTS}
    paths = file_candidates(orders, order)
    columns = [_list_values(lists.get(name, {}), orders[name], paths) for name in FILE_LISTS]
    fused_score = dict(fused)
    fused_rank = {p: i + 1 for i, p in enumerate(order)}
    words = set(issue_tokens)
    n_frames = sum(1 for s in signals.signals if s.kind == "frame")
    per_list = np.stack([c[:, 0] for c in columns], axis=1) if paths else np.empty((0, len(FILE_LISTS)))
    values: dict[str, Any] = {}
    for name, column in zip(FILE_LISTS, columns, strict=True):
        values.update(zip(_list_columns(name), column.T, strict=True))
    stems = [posixpath.splitext(posixpath.basename(p))[0].lower() for p in paths]
    folders = [[f.lower() for f in p.split("/")[:-1] if len(f) >= 3] for p in paths]
    values.update(
        rrf_rank=[fused_rank.get(p, ABSENT) for p in paths],
        rrf_score=[fused_score.get(p, 0.0) for p in paths],
        lists_hit=[float(np.count_nonzero(per_list[i] <= CANDIDATES_PER_LIST)) for i in range(len(paths))],
        auxiliary=[float(is_auxiliary_path(p)) for p in paths],
        size_kb=[index.files[p].size / 1000.0 for p in paths],
        depth=[float(p.count("/")) for p in paths],
        is_init=[float(p.endswith("__init__.py")) for p in paths],
        definitions=[float(len(index.files[p].visible_definitions)) for p in paths],
        stem_in_issue=[float(len(stem) >= 3 and stem in words) for stem in stems],
        folder_in_issue=[float(any(f in words for f in fs)) for fs in folders],
        issue_tokens=[math.log1p(len(issue_tokens))] * len(paths),
        issue_frames=[float(n_frames)] * len(paths),
    )
    values.update(zip(HISTORY_COLUMNS, _changes(index, paths).T, strict=True))
    x = feature_matrix(FILE_FEATURES, values, len(paths))
    return FileRows(paths, x)


def _changes(index: RepoIndex, paths: list[str]) -> np.ndarray:
    """Each path's changes in each window of ``WINDOWS`` over the most-changed path's; NaN without history."""
    counts = index.change_counts
    if counts is None:
        return np.full((len(paths), len(WINDOWS)), np.nan)
    out = np.array([[c[p] for c in counts] for p in paths], dtype=np.float64).reshape(len(paths), len(WINDOWS))
    return out / np.maximum(out.max(axis=0), 1.0)


@dataclass
class SymbolRows:
    """The candidate definitions of one issue and their feature rows."""

    keys: list[str]  # path::qualname#start_byte
    x: np.ndarray


def symbol_rows(
    items: list[tuple[IndexedFile, Symbol]],
    keys: list[str],
    lists: dict[str, dict[str, float]],
    orders: dict[str, dict[str, int]],
    file_rank: dict[str, int],
    file_score: dict[str, float],
    file_rrf_rank: dict[str, int],
    issue: str,
    issue_tokens: list[str],
    identifiers: set[str],
    signals: IssueSignals,
    called: set[str],
) -> SymbolRows:
    """Feature rows of candidate definitions; ``lists`` maps each of ``SYMBOL_LISTS`` to scores by key and
    ``orders`` to their ``ranks``; ``called`` holds the names that the definitions the issue names (by name or
    in a frame) call."""
    columns = [_list_values(lists.get(name, {}), orders.get(name, {}), keys) for name in SYMBOL_LISTS]
    named: dict[tuple[str, str], set[str]] = defaultdict(set)
    frame_lines: dict[str, list[int]] = defaultdict(list)
    for s in signals.signals:
        if s.qualname:
            named[(s.path, s.qualname)].add(s.kind)
        if s.kind == "frame" and s.line:
            frame_lines[s.path].append(s.line)
    methods: dict[tuple[str, str], int] = defaultdict(int)
    per_file: dict[str, int] = defaultdict(int)
    for e, s in items:
        per_file[e.path] += 1
        if s.kind == "method" and s.parent:
            methods[(e.path, s.parent)] += 1
    innermost: dict[tuple[str, int], int] = {}  # (path, frame line) -> the smallest span holding it
    for e, s in items:
        for line in frame_lines.get(e.path, ()):
            if s.start_line <= line <= s.end_line:
                span = s.end_line - s.start_line
                innermost[(e.path, line)] = min(innermost.get((e.path, line), span), span)
    lowered = issue.lower()
    kinds = [named.get((e.path, s.qualname), set()) for e, s in items]
    spans = [s.end_line - s.start_line for _, s in items]
    inside = [[ln for ln in frame_lines.get(e.path, ()) if s.start_line <= ln <= s.end_line] for e, s in items]
    values: dict[str, Any] = {
        "file_rank": [file_rank.get(e.path, ABSENT) for e, _ in items],
        "file_score": [file_score.get(e.path, 0.0) for e, _ in items],
        "file_rrf_rank": [file_rrf_rank.get(e.path, ABSENT) for e, _ in items],
    }
    for name, column in zip(SYMBOL_LISTS, columns, strict=True):
        values.update(zip(_list_columns(name), column.T, strict=True))
    values.update(
        frame_named=[float("frame" in k) for k in kinds],
        identifier_named=[float("identifier" in k) for k in kinds],
        name_in_issue=[float(s.name in identifiers) for _, s in items],
        qualname_in_issue=[float("." in s.qualname and s.qualname.lower() in lowered) for _, s in items],
        class_in_issue=[
            float(s.kind == "method" and (s.parent.rsplit(".", 1)[-1] if s.parent else "") in identifiers)
            for _, s in items
        ],
        called_by_named=[float(s.name in called) for _, s in items],
        kind=[_KIND_CODE.get(s.kind, 1.0) for _, s in items],
        is_class=[float(s.kind == "class") for _, s in items],
        methods=[float(methods.get((e.path, s.qualname), 0)) for e, s in items],
        lines=[float(span + 1) for span in spans],
        nesting=[float(s.qualname.count(".")) for _, s in items],
        private=[float(s.name.startswith("_") and not s.name.startswith("__")) for _, s in items],
        dunder=[float(s.name.startswith("__") and s.name.endswith("__")) for _, s in items],
        frame_line_inside=[float(bool(lines)) for lines in inside],
        frame_line_innermost=[
            float(any(innermost.get((e.path, ln)) == span for ln in lines))
            for (e, _), lines, span in zip(items, inside, spans, strict=True)
        ],
        file_definitions=[float(per_file[e.path]) for e, _ in items],
        issue_tokens=[math.log1p(len(issue_tokens))] * len(items),
    )
    x = feature_matrix(SYMBOL_FEATURES, values, len(items))
    return SymbolRows(keys, x)
