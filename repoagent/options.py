"""Settings turned into the option objects of the localizer and the loop."""

from __future__ import annotations

from repoagent.config import Settings
from repoagent.loop import LoopOptions
from retrieval.localizer import LocalizerOptions


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
