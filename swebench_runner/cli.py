"""``repoagent bench localize|features|train-ranker|speed|mine|edit``, ``repoagent swebench ...``: an entry point.

``pyproject.toml`` names ``register`` in the ``repoagent.commands`` group, so
the CLI finds these commands without importing this package.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from repoagent.cli.app import ConfigOpt, OverrideOpt, cancel_token, err, settings_from
from repoagent.errors import UserError

if TYPE_CHECKING:
    from swebench_runner.data.dataset import Instance
    from swebench_runner.data.repos import RepoFinder

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
    app.add_typer(swebench_app, name="swebench")


def bench_inputs(
    dataset: Path, repos: Path | None, repo_map: Path | None, instances: str | None, limit: int | None
) -> tuple[list[Instance], RepoFinder]:
    """The chosen instances and where their repositories are."""
    from swebench_runner.data.dataset import load_instances
    from swebench_runner.data.repos import RepoFinder

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
    from swebench_runner.bench.localize import bench_localize

    settings = settings_from(config, override)
    chosen, finder = bench_inputs(dataset, repos, repo_map, instances, limit)
    with progress_bar() as progress:
        summary = bench_localize(settings, chosen, finder, out, force, model_for(settings, no_llm), progress)
    err.print(f"wrote {out}")
    typer.echo(json.dumps(summary))


@bench_app.command("features")
def bench_features_command(
    dataset: DatasetOpt,
    out: Annotated[Path, typer.Option("--out", help="Folder: rows.jsonl (resumable) and an .npz per instance.")],
    repos: ReposOpt = None,
    repo_map: RepoMapOpt = None,
    instances: InstancesOpt = None,
    limit: LimitOpt = None,
    force: ForceOpt = False,
    config: ConfigOpt = None,
    override: OverrideOpt = None,
) -> None:
    """The learned ranker's feature rows per instance, for `bench train-ranker`; last stdout line is the
    recall of the ranking that made them (as `bench localize --no-llm` reports it)."""
    from repoagent.cli.console import progress_bar
    from swebench_runner.bench.localize import bench_features

    settings = settings_from(config, override)
    chosen, finder = bench_inputs(dataset, repos, repo_map, instances, limit)
    with progress_bar() as progress:
        summary = bench_features(settings, chosen, finder, out, force, progress)
    err.print(f"wrote {out}")
    typer.echo(json.dumps(summary))


@bench_app.command("train-ranker")
def bench_train_ranker_command(
    train: Annotated[list[Path], typer.Option("--train", help="A folder `bench features` wrote (repeat).")],
    out: Annotated[Path, typer.Option("--out", help="The models' folder (files.json, symbols.json, training.json).")],
    stage: Annotated[str, typer.Option("--stage", help="files, or symbols (after the file model).")] = "files",
    valid: Annotated[
        list[Path] | None, typer.Option("--valid", help="A folder of rows to report figures on (repeat).")
    ] = None,
    leave_out: Annotated[
        list[Path] | None,
        typer.Option(
            "--leave-out",
            help="A folder of rows (repeat) whose every repository is scored by a model fitted without it: "
            "out-of-sample figures for rows that are also trained on (one more fit per repository).",
        ),
    ] = None,
) -> None:
    """Fit the learned ranker's file or definition model (LightGBM lambdarank); JSON figures on stdout.

    Files first; then `bench features -o retrieval.ranker=OUT` again and `--stage symbols`."""
    from swebench_runner.bench.ranker_training import train_and_save

    if stage not in ("files", "symbols"):
        raise UserError(f"--stage {stage}: files or symbols")
    try:
        import lightgbm  # noqa: F401
    except ImportError as exc:
        raise UserError("training needs LightGBM: pip install 'repoagent[train]'") from exc
    figures, said = train_and_save(train, valid or [], stage, leave_out or [], out)  # type: ignore[arg-type]
    for line in said:
        err.print(line, highlight=False)
    typer.echo(json.dumps(figures))


@bench_app.command("speed")
def bench_speed_command(
    issue: Annotated[str, typer.Option("--issue", help="Issue text, or @FILE to read it from a file.")],
    repo: Annotated[Path, typer.Option("--repo", help="The repository (a work tree or a bare git folder).")],
    rev: Annotated[str | None, typer.Option("--rev", help="The commit to read (needed for a bare folder).")] = None,
    warm_runs: Annotated[int, typer.Option("--warm-runs", min=0, help="How many warm calls after the cold ones.")] = 3,
    cold_runs: Annotated[
        int, typer.Option("--cold-runs", min=1, help="How many cold calls, each in an empty home (median).")
    ] = 1,
) -> None:
    """Seconds and peak memory of a `localize --no-llm` call, cold (empty home) then warm; JSON on stdout."""
    from swebench_runner.bench.speed import bench_speed

    if not repo.exists():
        raise UserError(f"--repo {repo} does not exist")
    figures = bench_speed(repo.resolve(), rev, issue, warm_runs, cold_runs=cold_runs)
    for call in figures["calls"]:
        if call["exit_code"]:
            err.print(f"a call failed (exit {call['exit_code']}): {call.get('stderr', '')}", highlight=False)
    typer.echo(json.dumps(figures))
    if figures["failed"]:
        raise typer.Exit(1)


@bench_app.command("mine")
def bench_mine_command(
    repo: Annotated[Path, typer.Option("--repo", help="The repository's git folder (bare or not), full history.")],
    name: Annotated[str, typer.Option("--name", help="owner/name: the rows' repo field (and the refusal list).")],
    out: Annotated[Path, typer.Option("--out", help="JSON lines of pairs, SWE-bench-shaped; FILE.commits beside.")],
    rev: Annotated[str, typer.Option("--rev", help="Mine from this commit back.")] = "HEAD",
    split: Annotated[str, typer.Option("--split", help="The rows' split: train or validation.")] = "train",
    limit: Annotated[int | None, typer.Option("--limit", help="Stop after this many pairs.")] = None,
    commits_file: Annotated[
        Path | None, typer.Option("--commits", help="Mine exactly these commits (one a line), to rebuild a set.")
    ] = None,
) -> None:
    """Issue-and-fix pairs from a repository's history (bug-report messages, 1 to 3 non-test Python files);
    the repositories of the SWE-bench test splits are refused.  The last stdout line is the JSON summary."""
    from repoagent.cli.console import progress_bar
    from retrieval.git import git_out
    from swebench_runner.bench.mining import mine, read_commits, write_mined

    if split not in ("train", "validation"):
        raise UserError(f"--split {split}: train or validation")
    if not git_out(repo, "rev-parse", "--git-dir"):
        raise UserError(f"--repo {repo} is not a git repository")
    wanted = read_commits(commits_file) if commits_file else None
    with progress_bar() as progress:
        found = mine(repo, name, rev, limit, wanted, lambda done, total: progress("commits", done, total))
    write_mined(found, out, split, name, git_out(repo, "rev-parse", rev))
    err.print(f"wrote {out} ({len(found.rows)} pairs) and {out.name}.commits", highlight=False)
    typer.echo(json.dumps({"repo": name, "split": split, **found.summary()}))


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
    from swebench_runner.bench.edit import bench_edit

    chosen, finder = bench_inputs(dataset, repos, repo_map, instances, limit)
    with progress_bar() as progress:
        summary, rows = bench_edit(chosen, finder, out, force, progress)
    for r in rows:
        if not r["exact"]:
            err.print(f"{r['instance_id']}: {r.get('error', 'differs')}", highlight=False)
    typer.echo(json.dumps(summary))


swebench_app = typer.Typer(help="SWE-bench batch runs and their official scoring.", no_args_is_help=True)


@swebench_app.command("run")
def swebench_run_command(
    ctx: typer.Context,
    dataset: Annotated[str, typer.Option("--dataset", help="Hugging Face name, or a local JSON / JSON lines file.")],
    out: Annotated[Path, typer.Option("--out", help="Output folder (predictions, instances, summary); resumable.")],
    model: Annotated[str, typer.Option("--model", help="A litellm model string, or 'oracle' (the gold patch).")],
    split: Annotated[str | None, typer.Option("--split", help="The dataset's split (default: test).")] = None,
    instances: InstancesOpt = None,
    limit: LimitOpt = None,
    repos: ReposOpt = None,
    repo_map: RepoMapOpt = None,
    sandbox: Annotated[str | None, typer.Option("--sandbox", help="auto (default), docker, local or none.")] = None,
    workers: Annotated[int | None, typer.Option("--workers", min=1, help="Instances run in parallel (1).")] = None,
    executor: Annotated[str | None, typer.Option("--executor", help="local (a process pool) or ray.")] = None,
    ray_address: Annotated[
        str | None, typer.Option("--ray-address", help="A Ray cluster (default: start one here).")
    ] = None,
    max_cost: Annotated[
        float | None, typer.Option("--max-cost", help="USD for the whole run; then no new instance starts.")
    ] = None,
    instance_cost: Annotated[float | None, typer.Option("--instance-cost", help="USD per instance.")] = None,
    instance_timeout: Annotated[float | None, typer.Option("--instance-timeout", help="Seconds per instance.")] = None,
    redo: Annotated[bool, typer.Option("--redo", help="Run every instance again, from an empty output.")] = False,
    retry_errors: Annotated[
        bool, typer.Option("--retry-errors", help="Run again the instances that ended in an error.")
    ] = False,
    config: ConfigOpt = None,
    override: OverrideOpt = None,
) -> None:
    """Run the agent on SWE-bench instances; the last stdout line is the summary (JSON).  Batch settings not given
    as flags come from configs/swebench.yaml."""
    from swebench_runner.run.driver import BatchSettings, RunRequest, start_run

    if sandbox not in (None, "auto", "docker", "local", "none"):
        raise UserError(f"--sandbox {sandbox}: choose auto, docker, local or none")
    if executor not in (None, "local", "ray"):
        raise UserError(f"--executor {executor}: choose local or ray")
    batch = BatchSettings.load(
        split=split, sandbox=sandbox, workers=workers, executor=executor, ray_address=ray_address,
        max_cost=max_cost, instance_cost=instance_cost, instance_timeout=instance_timeout,
    )  # fmt: skip
    ids = [i.strip() for i in instances.split(",") if i.strip()] if instances else None
    request = RunRequest(dataset, out, model, ids, limit, repos, repo_map, redo, retry_errors)
    summary = start_run(settings_from(config, override), request, batch, cancel_token(ctx))
    total = summary["total"]
    err.print(
        f"wrote {out}: {total['done']}/{total['instances']} done, {total['with_patch']} with a patch, "
        f"{total['errors']} errors, ${total['cost']:.4f}"
        + (f"; stopped: {summary['stopped']}" if summary["stopped"] else ""),
        highlight=False,
    )
    typer.echo(json.dumps(total))


SpecsOpt = Annotated[
    Path | None,
    typer.Option("--specs", help="JSON: repository -> version -> install spec (default: swebench 4.1.0's, from PyPI)."),
]
GradeTimeoutOpt = Annotated[float, typer.Option("--timeout", help="Seconds for one instance's tests.")]


@swebench_app.command("evaluate")
def swebench_evaluate_command(
    ctx: typer.Context,
    predictions: Annotated[Path, typer.Option("--predictions", help="predictions.jsonl of a run.")],
    dataset: Annotated[str, typer.Option("--dataset", help="Hugging Face name, or a local JSON / JSON lines file.")],
    run_id: Annotated[str | None, typer.Option("--run-id", help="Names the grader's log folder.")] = None,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Instances graded in parallel.")] = 4,
    split: Annotated[str, typer.Option("--split")] = "test",
    grader: Annotated[
        str, typer.Option("--grader", help="official (SWE-bench's images), or local (environments built here).")
    ] = "official",
    specs: SpecsOpt = None,
    repos: ReposOpt = None,
    repo_map: RepoMapOpt = None,
    timeout: GradeTimeoutOpt = 1800,
    config: ConfigOpt = None,
    override: OverrideOpt = None,
) -> None:
    """Score a run's predictions and merge the verdicts into its summary; the last stdout line is the total."""
    from repoagent.cli.console import progress_bar
    from swebench_runner.grading.evaluate import LocalGrading, evaluate_run

    if grader not in ("official", "local"):
        raise UserError(f"--grader {grader}: choose official or local")
    settings = settings_from(config, override) if grader == "local" else None
    with progress_bar() as progress:
        how = (specs, repos, repo_map, timeout, cancel_token(ctx), progress)
        local = None if settings is None else LocalGrading(settings, *how)
        summary = evaluate_run(predictions, dataset, split, run_id, workers, local)
    typer.echo(json.dumps(summary["total"]))


@swebench_app.command("validate")
def swebench_validate_command(
    ctx: typer.Context,
    dataset: Annotated[str, typer.Option("--dataset", help="Hugging Face name, or a local JSON / JSON lines file.")],
    out: Annotated[Path, typer.Option("--out", help="Output folder (validation.jsonl, validation.json, logs).")],
    split: Annotated[str, typer.Option("--split")] = "test",
    instances: InstancesOpt = None,
    limit: LimitOpt = None,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Instances graded in parallel.")] = 2,
    specs: SpecsOpt = None,
    repos: ReposOpt = None,
    repo_map: RepoMapOpt = None,
    timeout: GradeTimeoutOpt = 1800,
    config: ConfigOpt = None,
    override: OverrideOpt = None,
) -> None:
    """Check local grading: the gold patch resolved, the empty patch not; figures per repository (JSON, last line)."""
    from repoagent.cli.console import progress_bar
    from swebench_runner.data.dataset import load_dataset
    from swebench_runner.grading.runs import environments, validate

    settings = settings_from(config, override)
    ids = [i.strip() for i in instances.split(",") if i.strip()] if instances else None
    chosen = load_dataset(dataset, split, ids, limit)
    envs = environments(settings, specs, repos, repo_map, cancel_token(ctx))
    with progress_bar() as progress:
        figures = validate(envs, out, chosen, workers, progress, timeout)
    for repo, f in figures["repositories"].items():
        err.print(
            f"{repo}: {f['environments_built']}/{f['instances']} environments, gold resolved {f['gold_resolved']}, "
            f"({f['gold_resolved_share_unmarked']:.1%} where the tests lacked nothing: "
            f"{len(f['gold_failed_incomplete_copy'])} wanted files the copy lacks, {len(f['gold_failed_network'])} "
            f"the network), empty unresolved {f['empty_unresolved']}, {f['minutes']} min",
            highlight=False,
        )
    typer.echo(json.dumps(figures["total"]))
