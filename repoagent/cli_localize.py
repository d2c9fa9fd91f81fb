"""``repoagent localize`` and ``repoagent bench localize``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from repoagent.cli import (
    ConfigOpt,
    JsonOpt,
    OverrideOpt,
    RepoOpt,
    RevOpt,
    app,
    bench_app,
    err,
    print_json,
    settings_from,
)
from repoagent.cli_bench import (
    DatasetOpt,
    ForceOpt,
    InstancesOpt,
    LimitOpt,
    OutOpt,
    RepoMapOpt,
    ReposOpt,
    bench_inputs,
)
from repoagent.config import Settings
from repoagent.options import build_localizer, open_index
from repoagent.progress import progress_bar
from repoagent.sources import issue_text
from retrieval.cache import IndexCache
from retrieval.index import RepoIndex
from retrieval.llm import ChatModel
from retrieval.localization import Localization

IssueOpt = Annotated[str, typer.Option("--issue", help="Issue text, or @FILE to read it from a file.")]
NoLlmOpt = Annotated[bool, typer.Option("--no-llm", help="Retrieval only: no model stages.")]


def _model(settings: Settings, no_llm: bool) -> ChatModel | None:
    if no_llm:
        return None
    from repoagent.models import LiteLLMModel

    return LiteLLMModel.from_settings(settings.model)


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
    settings = settings_from(config, override)
    text = issue_text(issue)
    index = open_index(settings, repo, rev, quiet=json_out)
    with IndexCache(settings.resolved_cache_dir() / "index.sqlite3") as cache:
        localizer = build_localizer(settings, index, cache, _model(settings, no_llm), top_k, quiet=json_out)
        loc = localizer.localize(text)
    if json_out:
        print_json(loc.model_dump(mode="json"))
    else:
        print_localization(loc, top_k or settings.retrieval.top_k_files)


@bench_app.command("localize")
def bench_localize_command(
    dataset: DatasetOpt,
    out: OutOpt,
    repos: ReposOpt = None,
    repo_map: RepoMapOpt = None,
    instances: InstancesOpt = None,
    limit: LimitOpt = None,
    no_llm: NoLlmOpt = False,
    force: ForceOpt = False,
    config: ConfigOpt = None,
    override: OverrideOpt = None,
) -> None:
    """File and symbol recall of the localizer on SWE-bench instances; last stdout line is the summary."""
    from swebench_runner.bench_localize import BenchOptions, run_bench_localize
    from swebench_runner.dataset import Instance

    settings = settings_from(config, override)
    chosen, finder = bench_inputs(dataset, repos, repo_map, instances, limit)
    cache = IndexCache(settings.resolved_cache_dir() / "index.sqlite3")
    model = _model(settings, no_llm)

    def localize(index: RepoIndex, inst: Instance) -> dict:
        localizer = build_localizer(settings, index, cache, model, None, quiet=True)
        loc = localizer.localize(inst.problem_statement)
        return {
            "ranked_files": [f.path for f in loc.files],
            "ranked_symbols": [s.id for s in loc.symbols],
            "prompt_tokens": loc.prompt_tokens,
            "completion_tokens": loc.completion_tokens,
        }

    with progress_bar() as progress:
        summary = run_bench_localize(chosen, finder, cache, localize, BenchOptions(out, force), progress)
    cache.close()
    err.print(f"wrote {out}")
    typer.echo(json.dumps(summary))
