"""``repoagent bench localize`` and ``repoagent bench edit``: registered on the CLI through an entry point.

``pyproject.toml`` names ``register`` in the ``repoagent.commands`` group, so
the CLI finds these commands without importing this package.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from repoagent.cli.app import ConfigOpt, OverrideOpt, err, settings_from
from repoagent.core.errors import UserError

if TYPE_CHECKING:
    from retrieval.index import RepoIndex
    from swebench_runner.dataset import Instance
    from swebench_runner.repos import RepoFinder

bench_app = typer.Typer(help="Benchmarks on SWE-bench data.", no_args_is_help=True)

DatasetOpt = Annotated[Path, typer.Option("--dataset", help="SWE-bench instances: JSON list or JSON lines.")]
OutOpt = Annotated[Path, typer.Option("--out", help="JSON lines written per instance (resumable).")]
ReposOpt = Annotated[Path | None, typer.Option("--repos", help="Folder of git repositories.")]
RepoMapOpt = Annotated[Path | None, typer.Option("--repo-map", help="JSON: owner/name to a git folder.")]
InstancesOpt = Annotated[str | None, typer.Option("--instances", help="Comma-separated instance ids.")]
LimitOpt = Annotated[int | None, typer.Option("--limit", help="At most this many instances.")]
ForceOpt = Annotated[bool, typer.Option("--force", help="Redo instances already in --out.")]
NoLlmOpt = Annotated[bool, typer.Option("--no-llm", help="Retrieval only: no model stages.")]


def register(app: typer.Typer) -> None:
    app.add_typer(bench_app, name="bench")


def bench_inputs(
    dataset: Path, repos: Path | None, repo_map: Path | None, instances: str | None, limit: int | None
) -> tuple[list[Instance], RepoFinder]:
    """The chosen instances and where their repositories are."""
    from swebench_runner.dataset import load_instances
    from swebench_runner.repos import RepoFinder

    if repos is None and repo_map is None:
        raise UserError("pass --repos DIR (and/or --repo-map FILE) so the repositories can be found")
    ids = [i.strip() for i in instances.split(",") if i.strip()] if instances else None
    return load_instances(dataset, ids, limit), RepoFinder(repos, repo_map)


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
    from repoagent.cli.console import progress_bar
    from repoagent.cli.localize import model_for
    from repoagent.pipeline.wiring import build_localizer, open_cache
    from swebench_runner.bench_localize import BenchOptions, run_bench_localize

    settings = settings_from(config, override)
    chosen, finder = bench_inputs(dataset, repos, repo_map, instances, limit)
    model = model_for(settings, no_llm)
    with open_cache(settings) as cache:

        def localize(index: RepoIndex, inst: Instance) -> dict:
            localizer = build_localizer(settings, index, cache, model)
            loc = localizer.localize(inst.problem_statement)
            return {
                "ranked_files": [f.path for f in loc.files],
                "ranked_symbols": [s.id for s in loc.symbols],
                "prompt_tokens": loc.prompt_tokens,
                "completion_tokens": loc.completion_tokens,
            }

        with progress_bar() as progress:
            summary = run_bench_localize(chosen, finder, cache, localize, BenchOptions(out, force), progress)
    err.print(f"wrote {out}")
    typer.echo(json.dumps(summary))


@bench_app.command("edit")
def bench_edit_command(
    dataset: DatasetOpt,
    out: OutOpt,
    repos: ReposOpt = None,
    repo_map: RepoMapOpt = None,
    instances: InstancesOpt = None,
    limit: LimitOpt = None,
    force: ForceOpt = False,
) -> None:
    """Express each gold patch as whole-definition edits and compare with the gold files."""
    from repoagent.cli.console import progress_bar
    from swebench_runner.bench_edit import bench_edit_one
    from swebench_runner.resumable import run_resumable

    chosen, finder = bench_inputs(dataset, repos, repo_map, instances, limit)
    with progress_bar() as progress:
        rows = run_resumable(chosen, out, force, lambda i: bench_edit_one(i, finder), progress, "edit")
    total = max(1, len(rows))
    summary = {
        "instances": len(rows),
        "exact": round(sum(r["exact"] for r in rows) / total, 4),
        "ast_equal": round(sum(r["ast_equal"] for r in rows) / total, 4),
        "seconds": round(sum(r["seconds"] for r in rows), 3),
        "median_seconds": round(statistics.median([r["seconds"] for r in rows]), 3) if rows else 0.0,
    }
    for r in rows:
        if not r["exact"]:
            err.print(f"{r['instance_id']}: {r.get('error', 'differs')}", highlight=False)
    typer.echo(json.dumps(summary))
