"""``repoagent index`` and ``repoagent map``."""

from __future__ import annotations

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
    err,
    print_json,
    settings_from,
    short_lived,
)
from repoagent.cli.console import progress_bar
from repoagent.errors import UserError
from repoagent.pipeline.wiring import open_cache, open_index


@app.command("index")
def index_command(
    repo: RepoOpt = Path("."),
    rev: RevOpt = None,
    cache: Annotated[Path | None, typer.Option("--cache", help="Cache folder (default: the configured one).")] = None,
    json_out: JsonOpt = False,
    config: ConfigOpt = None,
    override: OverrideOpt = None,
) -> None:
    """Parse every file of a repository into symbols, reusing the cache."""
    settings = settings_from(config, override)
    with short_lived(), open_cache(settings, cache) as store, progress_bar(not json_out) as progress:
        index = open_index(settings, repo, rev, store, progress)
    stats = index.stats.to_dict()
    if json_out:
        print_json(stats)
        return
    reasons = ", ".join(f"{k} {v}" for k, v in stats["skipped_reasons"].items()) or "none"
    err.print(
        f"indexed {index.source.label}: {stats['files']} files, {stats['symbols']} definitions; "
        f"parsed {stats['parsed']}, reused {stats['reused']}, skipped {stats['skipped']} ({reasons}); "
        f"{stats['with_errors']} with syntax errors; {stats['seconds']:.2f} s, peak {stats['peak_rss_mb']:.0f} MB"
    )


@app.command("map")
def map_command(
    repo: RepoOpt = Path("."),
    rev: RevOpt = None,
    file: Annotated[
        list[str] | None, typer.Option("--file", help="Show the schematic map of this file (repeatable).")
    ] = None,
    budget: Annotated[int | None, typer.Option("--budget", help="Token budget of the map.")] = None,
    config: ConfigOpt = None,
    override: OverrideOpt = None,
) -> None:
    """Print the file map of a repository, or the schematic map of files."""
    from retrieval.maps import file_map, schematic_map

    settings = settings_from(config, override)
    with short_lived(), open_cache(settings) as store:
        index = open_index(settings, repo, rev, store)
    if not file:
        typer.echo(file_map(index, budget=budget or settings.maps.file_map_tokens), nl=False)
        return
    for path in file:
        if path not in index.files:
            raise UserError(f"--file {path}: not a file of {index.source.label}; paths are relative to the repository")
        typer.echo(schematic_map(index, path, budget=budget or settings.maps.schematic_map_tokens), nl=False)
