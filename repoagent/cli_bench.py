"""Options and input handling shared by the ``repoagent bench`` commands."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from repoagent.errors import UserError

if TYPE_CHECKING:
    from swebench_runner.dataset import Instance
    from swebench_runner.repos import RepoFinder

DatasetOpt = Annotated[Path, typer.Option("--dataset", help="SWE-bench instances: JSON list or JSON lines.")]
OutOpt = Annotated[Path, typer.Option("--out", help="JSON lines written per instance (resumable).")]
ReposOpt = Annotated[Path | None, typer.Option("--repos", help="Folder of git repositories.")]
RepoMapOpt = Annotated[Path | None, typer.Option("--repo-map", help="JSON: owner/name to a git folder.")]
InstancesOpt = Annotated[str | None, typer.Option("--instances", help="Comma-separated instance ids.")]
LimitOpt = Annotated[int | None, typer.Option("--limit", help="At most this many instances.")]
ForceOpt = Annotated[bool, typer.Option("--force", help="Redo instances already in --out.")]


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
