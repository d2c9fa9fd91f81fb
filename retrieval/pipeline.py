"""Build a retriever for an index: BM25 always, dense when configured (cached embeddings)."""

from __future__ import annotations

from retrieval.cache import IndexCache
from retrieval.dense import DenseIndex, ShortlistDense
from retrieval.index import Progress, RepoIndex
from retrieval.localization import FileChoice, Localization, StageRecord, SymbolChoice
from retrieval.retriever import FusionWeights, Retrieval, Retriever


def make_retriever(
    index: RepoIndex,
    cache: IndexCache | None,
    embedding_model: str | None,
    weights: FusionWeights | None = None,
    progress: Progress | None = None,
    shortlist: int = 0,
) -> Retriever:
    """``shortlist`` > 0: embed only the files the other lists rank first, when a query asks (cold starts)."""
    dense: DenseIndex | ShortlistDense | None = None
    if embedding_model and shortlist > 0:
        dense = ShortlistDense(index, embedding_model, cache, shortlist)
    elif embedding_model:
        dense = DenseIndex.build(index, embedding_model, cache, progress)
    return Retriever(index, dense, weights)


def retrieval_localization(index: RepoIndex, issue: str, result: Retrieval, top_k: int) -> Localization:
    """Stage 1 alone, as a ``Localization`` (what ``--no-llm`` returns)."""
    return Localization(
        issue=issue,
        repo=str(index.source.path),
        revision=index.source.commit,
        files=[FileChoice(path=f.path, score=f.score, reasons=f.reasons) for f in result.files[:top_k]],
        symbols=[
            SymbolChoice(
                path=s.path,
                qualname=s.qualname,
                kind=s.kind,
                start_line=s.start_line,
                end_line=s.end_line,
                score=s.score,
                reasons=s.reasons,
            )
            for s in result.symbols
        ],
        test_files=[FileChoice(path=f.path, score=f.score, reasons=f.reasons) for f in result.test_files[:top_k]],
        stages=[StageRecord(stage="retrieve", reasons="fused BM25, dense and issue signals")],
    )
