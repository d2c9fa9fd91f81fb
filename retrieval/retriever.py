"""Stage 1 of localization: rank files and symbols for an issue without a model.

Three kinds of evidence are fused with weighted reciprocal-rank fusion: BM25
over identifier-aware tokens of whole files, dense similarity of file
documents, and exact signals from the issue (paths, modules, stack frames,
defined names, quoted error messages).  Test files are ranked apart.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from retrieval.cache import IndexCache
from retrieval.dense import DenseIndex, ShortlistDense
from retrieval.features import DEFINITION_FILES, FileRows, SymbolRows, file_rows, ranks, symbol_rows
from retrieval.index import IndexedFile, Progress, RepoIndex
from retrieval.issue_signals import IssueSignals, extract_signals
from retrieval.lexical import BM25Model, FileBM25, symbol_counts
from retrieval.neighbours import called_names
from retrieval.postings import Postings, PostingsStore
from retrieval.ranker import SPREAD_HEAD, UNSURE_BELOW, UNSURE_FILES, LearnedRanker, spread, squash
from retrieval.symbols import Symbol
from retrieval.testpaths import is_auxiliary_path
from retrieval.tokenize import identifiers, tokenize


@dataclass
class FusionWeights:
    """Weights of each ranked list in reciprocal-rank fusion.

    Grid-searched on the SWE-bench dev split (not the test splits): separate
    lists per kind of issue signal and a BM25 of the issue's title lifted
    recall@5 from 0.53 to 0.61 over one list of summed signals; a BM25 of the
    title's word stems and a lower score for documentation, examples and
    tooling lifted recall@1 from 0.369 to 0.387 and @5 from 0.613 to 0.622.
    """

    bm25: float = 1.0
    bm25_title: float = 1.0
    title_stems: float = 1.0
    auxiliary: float = 0.5  # fused score of files in docs/, examples/, setup.py ... is multiplied by this
    dense: float = 0.5
    signals: float = 1.5  # symbol ranking: all signals summed
    frame: float = 2.0
    identifier: float = 0.5
    path: float = 1.0
    module: float = 0.0
    message: float = 1.0
    k: float = 10.0
    # Symbols of the top files: grid-searched on the dev split like the file weights.
    symbol_file: float = 2.0
    symbol_bm25: float = 1.0
    symbol_title: float = 1.0
    symbol_signals: float = 1.0
    symbol_k: float = 5.0
    symbol_files: int = 30


@dataclass
class RankedFile:
    path: str
    score: float
    reasons: list[str] = field(default_factory=list)


@dataclass
class RankedSymbol:
    path: str
    qualname: str
    kind: str
    start_line: int
    end_line: int
    score: float
    reasons: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        return f"{self.path}::{self.qualname}"


@dataclass
class RankingFeatures:
    """The learned ranker's rows for one issue (kept when asked, for training)."""

    files: FileRows
    symbols: SymbolRows


@dataclass
class Retrieval:
    files: list[RankedFile]
    symbols: list[RankedSymbol]
    test_files: list[RankedFile]
    signals: IssueSignals
    features: RankingFeatures | None = None


class Retriever:
    """Ranks files and symbols of one indexed repository; reusable across issues.

    With a ``ranker`` the candidates' order is the learned models'; without one,
    weighted reciprocal-rank fusion of the lists (``FusionWeights``).
    """

    def __init__(
        self,
        index: RepoIndex,
        dense: DenseIndex | ShortlistDense | None = None,
        weights: FusionWeights | None = None,
        ranker: LearnedRanker | None = None,
        store: PostingsStore | None = None,
    ):
        """``store``: where the files' postings are kept between processes (the index cache's)."""
        self.index = index
        self.dense = dense
        self.weights = weights or FusionWeights()
        self.ranker = ranker
        self.files = index.code_files(tests=False)
        self.tests = index.code_files(tests=True)
        with index.steps.step("bm25") as counts:
            self.code_bm25 = FileBM25(index, self.files, store=store, stems=True)  # the title's stems
            self._test_bm25 = FileBM25(index, self.tests, store=store)
            counts["documents"] = len(self.files) + len(self.tests)

    def retrieve(
        self, issue: str, top_files: int = 50, top_symbols: int = 100, keep_features: bool = False
    ) -> Retrieval:
        """``keep_features``: also return the learned ranker's rows (what ``bench features`` writes)."""
        w, steps = self.weights, self.index.steps
        query = tokenize(issue)
        with steps.step("signals"):
            signals = extract_signals(self.index, issue)
            file_signals = signals.file_scores()
        title = tokenize(issue.strip().splitlines()[0]) if issue.strip() else []
        with steps.step("bm25"):
            lists: list[tuple[float, dict[str, float], str]] = [
                (w.bm25, self.code_bm25.scores(query), "bm25"),
                (w.bm25_title, self.code_bm25.scores(title), "title"),
                (w.title_stems, self.code_bm25.scores(title, stems=True), "title stems"),
            ]
        for kind in ("frame", "identifier", "path", "module", "message"):
            lists.append((getattr(w, kind), signals.file_scores(kind), kind))
        is_test = {e.path for e in self.tests}
        if isinstance(self.dense, ShortlistDense) and w.dense > 0:
            shortlist = [f.path for f in self._fuse(lists, signals, exclude=is_test)]
            lists.append((w.dense, self.dense.search(issue[:2000], shortlist), "dense"))
        elif self.dense is not None and w.dense > 0:
            with steps.step("embedding"):
                lists.append((w.dense, self.dense.search(issue[:2000]), "dense"))
        files = self._fuse(lists, signals, exclude=is_test)
        fused_rank = {f.path: i + 1 for i, f in enumerate(files)}
        rows = None
        with steps.step("ranker"):
            if self.ranker is not None or keep_features:
                named = {name: {p: v for p, v in scores.items() if p not in is_test} for _, scores, name in lists}
                named.update(self._definition_lists(files[:DEFINITION_FILES], query, title))
                rows = file_rows(self.index, named, [(f.path, f.score) for f in files], query, signals)
                if self.ranker is not None:
                    files = self._learned_files(files, rows)
            test_lists = [(w.bm25, self._test_bm25.scores(query), "bm25"), (w.signals, file_signals, "signals")]
            tests = self._fuse(test_lists, signals, keep=is_test)
            seen = {f.path for f in files}
            files.extend(RankedFile(e.path, 0.0, []) for e in self.files if e.path not in seen)
            sure = self.ranker is None or not files or files[0].score >= UNSURE_BELOW
            head = files[: w.symbol_files if sure else UNSURE_FILES]
            symbols, symbol_rows_ = self._rank_symbols(head, issue, query, title, signals, fused_rank, keep_features)
        features = RankingFeatures(rows, symbol_rows_) if keep_features and rows and symbol_rows_ else None
        return Retrieval(files[:top_files], symbols[:top_symbols], tests[:top_files], signals, features)

    def _definition_lists(
        self, files: list[RankedFile], query: list[str], title: list[str]
    ) -> dict[str, dict[str, float]]:
        """Each file's best function or method by BM25 of the issue, and of its title (definitions of ``files``)."""
        syms = [(e, s) for e in (self.index.files[f.path] for f in files) for s in e.visible_definitions]
        syms = [(e, s) for e, s in syms if s.kind != "class"]
        keys = [f"{e.path}::{s.qualname}#{s.start_byte}" for e, s in syms]
        model = BM25Model(Postings.of(symbol_counts(self.index, syms)), keys)
        out: dict[str, dict[str, float]] = {}
        for name, words in (("def bm25", query), ("def title", title)):
            best: dict[str, float] = {}
            for key, score in model.scores(words).items():
                path = key.split("::", 1)[0]
                best[path] = max(best.get(path, 0.0), score)
            out[name] = best
        return out

    def _learned_files(self, fused: list[RankedFile], rows: FileRows) -> list[RankedFile]:
        """The candidates in the file model's order (ties in fused order), then the other files as fused."""
        assert self.ranker is not None
        raw = self.ranker.score_files(rows.x)
        why = {f.path: f.reasons for f in fused}  # a candidate only a list fusion skips (weight 0) has none
        order = sorted(range(len(rows.paths)), key=lambda i: (-raw[i], i))
        head = [
            RankedFile(rows.paths[i], squash(raw[i]), [f"learned #{r + 1}", *why.get(rows.paths[i], [])])
            for r, i in enumerate(order)
        ]
        chosen = set(rows.paths)
        return head + [RankedFile(f.path, 0.0, f.reasons) for f in fused if f.path not in chosen]

    def _fuse(
        self,
        lists: list[tuple[float, dict[str, float], str]],
        signals: IssueSignals,
        exclude: set[str] | None = None,
        keep: set[str] | None = None,
    ) -> list[RankedFile]:
        fused: dict[str, float] = defaultdict(float)
        why: dict[str, list[str]] = defaultdict(list)
        for weight, scores, name in lists:
            scores = {
                p: v for p, v in scores.items() if (keep is None or p in keep) and (exclude is None or p not in exclude)
            }
            if weight <= 0:
                continue
            for key, rank in ranks(scores).items():
                fused[key] += weight / (self.weights.k + rank)
                if rank <= 20:
                    why[key].append(f"{name} #{rank}")
        if keep is None and self.weights.auxiliary != 1.0:
            for key in fused:
                if is_auxiliary_path(key):
                    fused[key] *= self.weights.auxiliary
                    why[key].append(f"auxiliary x{self.weights.auxiliary:g}")
        ranked = sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))
        return [RankedFile(p, s, why[p] + signals.reasons(p)) for p, s in ranked]

    def _rank_symbols(
        self,
        files: list[RankedFile],
        issue: str,
        query: list[str],
        title: list[str],
        signals: IssueSignals,
        fused_rank: dict[str, int],
        keep_features: bool,
    ) -> tuple[list[RankedSymbol], SymbolRows | None]:
        """The definitions of ``files``, ranked."""
        entries = [self.index.files[f.path] for f in files]
        syms = [(e, s) for e in entries for s in e.visible_definitions]
        keys = [f"{e.path}::{s.qualname}#{s.start_byte}" for e, s in syms]
        model = BM25Model(Postings.of(symbol_counts(self.index, syms)), keys)
        by_symbol = signals.symbol_scores()
        lists = {
            "bm25": model.scores(query),
            "title": model.scores(title),
            "signals": {
                k: v for k, (e, s) in zip(keys, syms, strict=True) if (v := by_symbol.get((e.path, s.qualname), 0.0))
            },
        }
        orders = {name: ranks(scores) for name, scores in lists.items()}
        file_rank = {f.path: i + 1 for i, f in enumerate(files)}
        rows = None
        learned = self.ranker is not None and self.ranker.symbols is not None
        if learned or keep_features:
            rows = symbol_rows(
                syms,
                keys,
                lists,
                orders,
                file_rank,
                {f.path: f.score for f in files},
                fused_rank,
                issue,
                query,
                identifiers(issue),
                signals,
                self._called_by_named(signals),
            )
        why: dict[str, list[str]] = defaultdict(list)
        for name, order in orders.items():
            for key, rank in order.items():
                if rank <= 20:
                    why[key].append(f"{name} #{rank}")
        if learned:
            assert self.ranker is not None and rows is not None
            raw = self.ranker.score_symbols(rows.x)
            order = sorted(range(len(keys)), key=lambda i: (-raw[i], keys[i]))
            placed = spread(order, raw, [e.path for e, _ in syms])
            scored = [(i, squash(score), "learned") for i, score, _ in placed]
            for i, score, before in placed:
                if score < raw[i]:
                    why[keys[i]].append(f"spread: #{before + 1} of its file in the first {SPREAD_HEAD}")
        else:
            scored = self._rrf_symbols(keys, syms, orders, file_rank)
        out: list[RankedSymbol] = []
        for r, (i, score, how) in enumerate(scored):
            (e, s), key = syms[i], keys[i]
            reasons = [f"{how} #{r + 1}", *why[key], *signals.reasons(e.path, s.qualname)]
            out.append(RankedSymbol(e.path, s.qualname, s.kind, s.start_line, s.end_line, score, reasons))
        return out, rows

    def _called_by_named(self, signals: IssueSignals) -> set[str]:
        """Names called in the bodies of the definitions the issue names (calls matched by name, as stage 4 does)."""
        named = {(s.path, s.qualname) for s in signals.signals if s.qualname and s.kind in ("identifier", "frame")}
        contents = self.index.read_many(sorted({p for p, _ in named}))
        called: set[str] = set()
        for path, qualname in named:
            sym = self.index.symbol(path, qualname)
            if sym is not None and sym.kind != "class":
                called |= called_names(contents[path], sym)
        return called

    def _rrf_symbols(
        self,
        keys: list[str],
        syms: list[tuple[IndexedFile, Symbol]],
        orders: dict[str, dict[str, int]],
        file_rank: dict[str, int],
    ) -> list[tuple[int, float, str]]:
        w = self.weights
        fused: dict[int, float] = defaultdict(float)
        for i, (e, _) in enumerate(syms):
            fused[i] += w.symbol_file / (w.symbol_k + file_rank[e.path])
        weights = {"bm25": w.symbol_bm25, "title": w.symbol_title, "signals": w.symbol_signals}
        at = {key: i for i, key in enumerate(keys)}
        for name, order in orders.items():
            for key, rank in order.items():
                fused[at[key]] += weights[name] / (w.symbol_k + rank)
        return [(i, score, "fused") for i, score in sorted(fused.items(), key=lambda kv: (-kv[1], keys[kv[0]]))]


def make_retriever(
    index: RepoIndex,
    cache: IndexCache | None,
    embedding_model: str | None,
    weights: FusionWeights | None = None,
    progress: Progress | None = None,
    shortlist: int = 0,
    ranker: LearnedRanker | None = None,
) -> Retriever:
    """``shortlist`` > 0: embed only the files the other lists rank first, when a query asks (cold starts)."""
    dense: DenseIndex | ShortlistDense | None = None
    if embedding_model and shortlist > 0:
        dense = ShortlistDense(index, embedding_model, cache, shortlist)
    elif embedding_model:
        dense = DenseIndex.build(index, embedding_model, cache, progress)
    return Retriever(index, dense, weights, ranker, cache.postings if cache is not None else None)
