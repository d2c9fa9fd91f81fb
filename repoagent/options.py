"""Settings turned into what a job runs with: the index, the localizer and the loop's options.

Shared by the commands (``index``, ``map``, ``localize``, ``fix``) so each
builds these the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from repoagent.config import Settings
from repoagent.loop import LoopOptions
from repoagent.progress import progress_bar
from retrieval.cache import IndexCache
from retrieval.index import RepoIndex
from retrieval.llm import ChatModel
from retrieval.localizer import Localizer, LocalizerOptions
from retrieval.pipeline import make_retriever
from retrieval.source import RepoSource


def open_index(
    settings: Settings, repo: Path, rev: str | None, cache_dir: Path | None = None, quiet: bool = False
) -> RepoIndex:
    """Index ``repo`` at ``rev`` through the persistent cache, with progress on stderr."""
    source = RepoSource(repo, rev)
    cache_root = cache_dir or settings.resolved_cache_dir()
    with IndexCache(cache_root / "index.sqlite3") as cache, progress_bar(not quiet) as progress:
        return RepoIndex.build(
            source,
            cache=cache,
            max_file_bytes=settings.index.max_file_bytes,
            workers=settings.index.workers or None,
            progress=progress,
        )


def build_localizer(
    settings: Settings,
    index: RepoIndex,
    cache: IndexCache,
    model: ChatModel | None,
    top_k: int | None = None,
    quiet: bool = False,
    record: Callable[[dict[str, Any]], None] | None = None,
) -> Localizer:
    """Retrieval (dense as configured) and, with a ``model``, the model stages."""
    embed = settings.retrieval.embedding_model if settings.retrieval.dense else None
    with progress_bar(not quiet) as progress:
        retriever = make_retriever(index, cache, embed, progress=progress, shortlist=settings.retrieval.dense_shortlist)
    return Localizer(index, retriever, model, localizer_options(settings, top_k), record=record)


def localizer_options(settings: Settings, top_k: int | None) -> LocalizerOptions:
    loc = settings.localize
    return LocalizerOptions(
        top_k=top_k or settings.retrieval.top_k_files,
        candidate_files=loc.candidate_files,
        max_files=loc.max_files,
        max_symbols=loc.max_symbols,
        attempts=loc.attempts,
        file_map_tokens=settings.maps.file_map_tokens,
        schematic_map_tokens=settings.maps.schematic_map_tokens,
        locations_tokens=loc.locations_tokens,
    )


def loop_options(settings: Settings, test_cmd: str) -> LoopOptions:
    gen = settings.generation
    return LoopOptions(
        temperatures=list(gen.temperatures),
        per_temperature=gen.samples_per_temperature,
        max_retries=settings.loop.max_retries,
        timeout=settings.sandbox.timeout,
        test_cmd=test_cmd,
    )
