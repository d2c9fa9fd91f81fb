"""``repoagent sandbox build-base|doctor`` and ``repoagent test``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.markup import escape

from repoagent.cli.app import ConfigOpt, JsonOpt, OverrideOpt, RepoOpt, RevOpt, app, cancel_token, err, settings_from
from repoagent.cli.terminal import printable
from repoagent.errors import JobFailed, UserError
from repoagent.sandbox.environment import PYTHONS

sandbox_app = typer.Typer(help="Build and check the sandboxes tests run in.", no_args_is_help=True)
app.add_typer(sandbox_app, name="sandbox")


@sandbox_app.command("build-base")
def build_base_command(
    python: Annotated[
        str, typer.Option("--python", help=f"Interpreter: {', '.join(sorted(PYTHONS))} (a Debian release each).")
    ] = "3.11",
    tag: Annotated[str | None, typer.Option("--tag", help="Image tag (default: repoagent-base:RELEASE).")] = None,
    mirror: Annotated[str, typer.Option("--mirror", help="Debian mirror.")] = "http://deb.debian.org/debian",
) -> None:
    """Build a local base image (Debian with python3, pip, venv, git) with no registry."""
    from repoagent.sandbox.base_image import build_base  # Docker's client only for the commands that use it
    from repoagent.sandbox.docker_box import BASE_REPOSITORY

    if python not in PYTHONS:
        raise UserError(f"--python {python}: base images carry {', '.join(sorted(PYTHONS))}")
    suite = PYTHONS[python]
    built = build_base(tag or f"{BASE_REPOSITORY}:{suite}", suite=suite, mirror=mirror, log=lambda m: err.print(m))
    typer.echo(built)


@sandbox_app.command("doctor")
def doctor_command() -> None:
    """Say whether a Docker engine answers and which repoagent images it has."""
    from repoagent.sandbox.docker_box import docker_client

    try:
        client = docker_client()
    except UserError as exc:
        typer.echo(f"docker: not available ({exc})")
        typer.echo("sandbox: use --sandbox local (no isolation) or start dockerd")
        raise typer.Exit(1) from None
    version = client.version().get("Version", "?")
    typer.echo(f"docker: engine {version} answers")
    tags = sorted(t for img in client.images.list() for t in img.tags if t.startswith("repoagent"))
    typer.echo("images: " + (", ".join(tags) if tags else "none; run 'repoagent sandbox build-base'"))


def tests_for_patch(repo: Path, rev: str | None, patch: str) -> list[str]:
    """The test files that import or name what ``patch`` changes; none means the whole suite."""
    from editing.patches import changed_definitions
    from repoagent.pipeline.test_selection import select_tests
    from retrieval.index import RepoIndex
    from retrieval.source import RepoSource

    index = RepoIndex.build(RepoSource(repo, rev))
    return select_tests(index, changed_definitions(index, patch))


@app.command("test")
def test_command(
    ctx: typer.Context,
    repo: RepoOpt = Path("."),
    rev: RevOpt = None,
    patch: Annotated[Path | None, typer.Option("--patch", help="Apply this diff first.")] = None,
    sandbox: Annotated[
        Literal["auto", "docker", "local"] | None, typer.Option("--sandbox", help="Where to run (default: auto).")
    ] = None,
    image: Annotated[str | None, typer.Option("--image", help="Docker image (default: the configured one).")] = None,
    test_cmd: Annotated[str | None, typer.Option("--test-cmd", help="Command to run (default: detected).")] = None,
    install: Annotated[str | None, typer.Option("--install", help="Install step baked into a cached image.")] = None,
    timeout: Annotated[float | None, typer.Option("--timeout", min=0.001, help="Wall-clock limit in seconds.")] = None,
    explain: Annotated[
        bool, typer.Option("--explain", help="Print what was detected (Python, installs, test command) and stop.")
    ] = False,
    json_out: JsonOpt = False,
    config: ConfigOpt = None,
    override: OverrideOpt = None,
) -> None:
    """Run the repository's tests, with an optional patch applied, in a sandbox."""
    from repoagent.sandbox.environment import Project, plan_environment
    from repoagent.sandbox.factory import open_sandbox
    from repoagent.testrun import is_pytest
    from retrieval.source import RepoSource

    settings = settings_from(config, override)
    sb = settings.sandbox
    kind = sandbox or (sb.kind if sb.kind != "none" else "auto")
    diff = patch.read_bytes() if patch else None
    project = Project.at(RepoSource(repo, rev))
    plan = plan_environment(project, test_cmd or sb.test_command, install or sb.install, sb.managed_python)
    if explain:
        typer.echo("\n".join(plan.explain()))
        return
    command = plan.test_command
    if diff and not test_cmd and is_pytest(command):
        command = " ".join([command, *tests_for_patch(repo, rev, diff.decode("utf-8", errors="replace"))])
    if image:
        sb = sb.model_copy(update={"image": image})
    box = open_sandbox(sb, kind, plan, warn=lambda m: err.print(f"[yellow]{escape(m)}[/]"), cancel=cancel_token(ctx))
    assert box is not None
    run = box.run(repo, command, rev, diff, timeout or sb.timeout)
    if json_out:
        typer.echo(json.dumps(run.summary()))
    else:
        for t in run.tests:
            if t.outcome != "passed":
                typer.echo(printable(f"{t.outcome.upper():8} {t.name}  {t.message[:120]}"))
        s = run.summary()
        typer.echo(
            f"{s['passed']} passed, {s['failed']} failed, {s['errors']} errors"
            f"{', timed out' if run.timed_out else ''} in {s['seconds']} s (exit {run.exit_code})"
        )
        if not run.tests:
            typer.echo(printable(run.stdout[-3000:] + run.stderr[-3000:]))
    if run.limit_reason:
        raise JobFailed(f"the tests were stopped: {run.limit_reason}")
    if not run.tests:
        said = f" ({run.no_tests})" if run.no_tests else ""
        raise JobFailed(f"no test outcome was read from `{run.command}`{said}; pass the test command with --test-cmd")
    if run.timed_out or run.exit_code != 0 or run.failed or run.errors:
        raise JobFailed(
            f"the tests did not pass ({run.failed} failed, {run.errors} errors, exit {run.exit_code}"
            f"{', timed out' if run.timed_out else ''})"
        )
