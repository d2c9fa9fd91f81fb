"""Settings turned into what a job runs with: the caches, the index, the localizer and the loop's options.

Shared by the commands (``index``, ``map``, ``localize``), the fix pipeline and
the benchmarks, so each builds these the same way.  Nothing here draws: long
work reports through a ``Progress`` callback the caller gives.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from repoagent.config import INDEX_CACHE_FILE, Settings
from repoagent.events import NoEvents
from repoagent.protocols import ChatModel, EventSink
from retrieval.cache import IndexCache
from retrieval.index import IndexedFile, Progress, RepoIndex
from retrieval.source import RepoSource

if TYPE_CHECKING:  # what retrieval and the loop import is loaded by the jobs that use them, not by `index`
    from repoagent.pipeline.localize import Localizer, LocalizerOptions
    from repoagent.pipeline.test_loop import LoopOptions
    from retrieval.retriever import Retriever


def open_cache(settings: Settings, cache_dir: Path | None = None) -> IndexCache:
    """The index cache (parses, term counts, embeddings) of ``settings``, or under ``cache_dir``."""
    return IndexCache(cache_dir / INDEX_CACHE_FILE if cache_dir else settings.index_cache_path())


def open_index(
    settings: Settings,
    repo: Path,
    rev: str | None,
    cache: IndexCache,
    progress: Progress | None = None,
    for_retrieval: bool = False,
) -> RepoIndex:
    """Index ``repo`` at ``rev`` (the working tree when None) through ``cache``; ``for_retrieval``: the files'
    term counts, which its lexical retrieval needs, are counted while worker processes parse them, and with
    many new files the embedding model is loaded meanwhile."""
    return RepoIndex.build(
        RepoSource(repo, rev),
        cache=cache,
        max_file_bytes=settings.index.max_file_bytes,
        workers=settings.index.workers or None,
        progress=progress,
        while_parsing=_while_parsing(cache, _embedding_model(settings)) if for_retrieval else None,
    )


# New files from which a dense retrieval will embed: its shortlist (100 files) is then hardly all cached.
PRELOAD_MIN_FILES = 200


def _while_parsing(cache: IndexCache, embedding: str | None) -> Callable[[list[tuple[IndexedFile, bytes]]], None]:
    def count(files: list[tuple[IndexedFile, bytes]]) -> None:
        from retrieval.lexical import count_contents

        if embedding is not None and len(files) >= PRELOAD_MIN_FILES:
            from retrieval.dense import preload

            preload(embedding)
        count_contents(files, cache.memory.files)

    return count


def _embedding_model(settings: Settings) -> str | None:
    return settings.retrieval.embedding_model if settings.retrieval.dense else None


def build_localizer(
    settings: Settings,
    index: RepoIndex,
    cache: IndexCache,
    model: ChatModel | None,
    top_k: int | None = None,
    progress: Progress | None = None,
    events: EventSink | None = None,
) -> Localizer:
    """Retrieval (dense as configured) and, with a ``model``, the model stages."""
    from repoagent.pipeline.localize import Localizer

    retriever = build_retriever(settings, index, cache, progress)
    return Localizer(
        index, retriever, model, localizer_options(settings, top_k), events if events is not None else NoEvents()
    )


def build_retriever(
    settings: Settings, index: RepoIndex, cache: IndexCache, progress: Progress | None = None
) -> Retriever:
    """Stage 1: the lists (dense as configured) and their ranker (``retrieval.ranker``)."""
    from retrieval.ranker import ranker_for
    from retrieval.retriever import make_retriever

    return make_retriever(
        index,
        cache,
        _embedding_model(settings),
        progress=progress,
        shortlist=settings.retrieval.dense_shortlist,
        ranker=ranker_for(settings.retrieval.ranker),
    )


def localizer_options(settings: Settings, top_k: int | None = None) -> LocalizerOptions:
    from repoagent.pipeline.localize import LocalizerOptions

    retrieval = settings.retrieval
    return LocalizerOptions(settings.localize, settings.maps, top_k or retrieval.top_k_files, retrieval.top_k_symbols)


def loop_options(settings: Settings, test_cmd: str) -> LoopOptions:
    from repoagent.pipeline.test_loop import LoopOptions  # the test loop's imports only where tests run

    return LoopOptions(settings.generation, settings.loop, settings.sandbox.timeout, test_cmd)
