"""``repoagent localize`` and ``repoagent bench localize``."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Annotated

import typer

from repoagent.cli.app import (
    ConfigOpt,
    JsonOpt,
    OverrideOpt,
    RepoOpt,
    RevOpt,
    app,
    print_json,
    settings_from,
    short_lived,
)
from repoagent.cli.console import progress_bar
from repoagent.config import Settings
from repoagent.pipeline.inputs import issue_text
from repoagent.pipeline.wiring import build_localizer, open_cache, open_index
from repoagent.protocols import ChatModel
from retrieval.localization import Localization
from retrieval.steps import process_seconds

IssueOpt = Annotated[str, typer.Option("--issue", help="Issue text, or @FILE to read it from a file.")]
NoLlmOpt = Annotated[bool, typer.Option("--no-llm", help="Retrieval only: no model stages.")]


def model_for(settings: Settings, no_llm: bool) -> ChatModel | None:
    """The configured model for the localizer's stages 2 and 3, or None for retrieval alone."""
    if no_llm:
        return None
    from repoagent.models.litellm_model import LiteLLMModel, check_model

    check_model(settings.model, settings.budget)
    return LiteLLMModel(settings.model)


def print_localization(loc: Localization, top_k: int) -> None:
    typer.echo("Files:")
    for i, f in enumerate(loc.files[:top_k], 1):
        typer.echo(f"{i:>3}. {f.path}  [{'; '.join(f.reasons[:4]) or 'rank only'}]")
    typer.echo("Symbols:")
    for i, s in enumerate(loc.symbols[:top_k], 1):
        typer.echo(f"{i:>3}. {s.id} (lines {s.start_line}-{s.end_line})  [{'; '.join(s.reasons[:4]) or 'rank only'}]")
    if loc.locations:
        typer.echo("Relevant locations:")
        for x in loc.locations:
            typer.echo(f"  {x.role:<6} {x.path}:{x.start_line}-{x.end_line} {x.qualname}")
    tokens = loc.prompt_tokens + loc.completion_tokens
    if tokens:
        typer.echo(f"Model tokens: {loc.prompt_tokens} prompt, {loc.completion_tokens} completion")


@app.command("localize")
def localize_command(
    issue: IssueOpt,
    repo: RepoOpt = Path("."),
    rev: RevOpt = None,
    no_llm: NoLlmOpt = False,
    top_k: Annotated[int | None, typer.Option("--top-k", help="How many files and symbols to show.")] = None,
    json_out: JsonOpt = False,
    config: ConfigOpt = None,
    override: OverrideOpt = None,
) -> None:
    """Rank the files and symbols where an issue's fix most likely belongs."""
    started = process_seconds()  # the interpreter and the imports, before the command began
    settings = settings_from(config, override)
    text = issue_text(issue, max_bytes=settings.inputs.max_issue_bytes)
    model = model_for(settings, no_llm)
    with short_lived() if model is None else nullcontext(), open_cache(settings) as cache:
        with progress_bar(not json_out) as progress:
            index = open_index(settings, repo, rev, cache, progress, for_retrieval=True)
            if started is not None:
                index.steps.add("startup", started, first=True)
            localizer = build_localizer(settings, index, cache, model, top_k, progress)
            loc = localizer.localize(text)
    if json_out:
        print_json(loc.model_dump(mode="json"))
    else:
        print_localization(loc, top_k or settings.retrieval.top_k_files)
