"""``repoagent fix`` and ``repoagent report``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.markup import escape

from repoagent.cli.app import ConfigOpt, JsonOpt, OverrideOpt, app, cancel_token, err, print_json, settings_from
from repoagent.cli.terminal import printable
from repoagent.errors import JobFailed, UserError

SandboxKind = Literal["auto", "docker", "local", "none"]


def _cli_summary(summary: dict) -> dict:
    """``fix --json``: the outcome's summary, as printed since the first release (no prediction-row fields)."""
    return {k: v for k, v in summary.items() if k not in ("edit_locations", "tested", "cost", "tokens", "calls")}


def _explain(report) -> None:  # noqa: ANN001
    loc = report.localization
    if loc is not None:
        err.print("[bold]Localized[/]", highlight=False)
        for f in loc.files[:3]:
            why = "; ".join(f.reasons[:3]) or "rank"
            err.print(printable(f"  file   {f.path}  [{why}]"), highlight=False, markup=False)
        for x in [x for x in loc.locations if x.role == "edit"][:5]:
            err.print(printable(f"  edit   {x.path}::{x.qualname} (lines {x.start_line}-{x.end_line})"), markup=False)
    s = report.summary()
    if s["tests"]:
        t = s["tests"]
        err.print(
            f"[bold]Tests[/] ({escape(report.sandbox.line())}): {t['passed']} passed, {t['failed']} failed, "
            f"{t['errors']} errors "
            f"with the chosen patch; {s['candidates']} candidate(s) tried",
            highlight=False,
        )
    b = report.budget
    cost = f"${b.get('spent_cost', 0):.4f}" + (f" of ${b['max_cost']}" if b.get("max_cost") is not None else "")
    tokens = f"{b.get('spent_tokens', 0)}" + (f" of {b['max_tokens']}" if b.get("max_tokens") is not None else "")
    err.print(f"[bold]Spent[/] {tokens} tokens in {b.get('calls', 0)} model calls, {cost}", highlight=False)
    err.print(f"[bold]Result[/] {report.status}: {escape(printable(str(s['reason'])))}", highlight=False)
    err.print(f"[bold]Report[/] {s['report']}", highlight=False)


@app.command("fix")
def fix_command(
    ctx: typer.Context,
    issue: Annotated[str, typer.Option("--issue", help="Issue text, @FILE, or a GitHub issue URL.")],
    repo: Annotated[str, typer.Option("--repo", help="Repository folder or git URL (cloned into the cache).")] = ".",
    rev: Annotated[
        str | None, typer.Option("--rev", help="Commit to fix (default: HEAD; uncommitted changes are not seen).")
    ] = None,
    model: Annotated[str | None, typer.Option("--model", help="litellm model string, e.g. openai/gpt-4o.")] = None,
    api_base: Annotated[str | None, typer.Option("--api-base", help="Server URL for local models.")] = None,
    sandbox: Annotated[SandboxKind | None, typer.Option("--sandbox", help="Where tests run (default: auto).")] = None,
    apply: Annotated[bool, typer.Option("--apply", help="Apply the patch to the working tree.")] = False,
    branch: Annotated[str | None, typer.Option("--branch", help="Commit the patch on this new branch.")] = None,
    force: Annotated[bool, typer.Option("--force", help="--apply even when the tree has changes.")] = False,
    max_cost: Annotated[float | None, typer.Option("--max-cost", help="Stop before spending more (USD).")] = None,
    max_tokens: Annotated[int | None, typer.Option("--max-tokens", help="Stop before using more tokens.")] = None,
    test_cmd: Annotated[str | None, typer.Option("--test-cmd", help="Test command (default: detected).")] = None,
    install: Annotated[str | None, typer.Option("--install", help="Install step for the Docker image.")] = None,
    json_out: JsonOpt = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress or explanation on stderr.")] = False,
    config: ConfigOpt = None,
    override: OverrideOpt = None,
) -> None:
    """Fix an issue: localize, rewrite, test in a sandbox; print the patch and write a run report."""
    from repoagent.cancel import Cancelled
    from repoagent.cli.console import ConsoleEvents
    from repoagent.pipeline.deliver import LocalApply, NewBranch
    from repoagent.pipeline.fix import fix
    from repoagent.pipeline.inputs import resolve_request

    flags = {
        "model.name": model,
        "model.api_base": api_base,
        "sandbox.kind": sandbox,
        "sandbox.test_command": test_cmd,
        "sandbox.install": install,
        "budget.max_cost": max_cost,
        "budget.max_tokens": max_tokens,
    }
    settings = settings_from(config, [*(override or []), *_flag_overrides(flags)])
    if apply and branch:
        raise UserError("give --apply or --branch, not both")
    console = ConsoleEvents(enabled=not (quiet or json_out))
    cancel = cancel_token(ctx)
    request = resolve_request(issue, repo, rev, settings, local_only=apply or bool(branch), cancel=cancel)
    hooks = [LocalApply(request.repo, force)] if apply else [NewBranch(request.repo, branch)] if branch else []
    try:
        outcome = fix(request, events=console, cancel=cancel, deliveries=hooks)
    except (Cancelled, Exception) as exc:
        if console.run_dir:
            what = "interrupted; " if isinstance(exc, Cancelled) or cancel.cancelled else ""
            page = Path(console.run_dir) / "report.html"
            err.print(f"repoagent: {what}the run's report is in {page}", highlight=False)
        raise
    if json_out:
        print_json(_cli_summary(outcome.summary()))
    else:
        if outcome.patch and outcome.ok:  # stdout carries only a patch worth applying, byte for byte
            sys.stdout.flush()
            sys.stdout.buffer.write(outcome.patch.encode("utf-8", errors="surrogateescape"))
            sys.stdout.buffer.flush()
        if not quiet:
            _explain(outcome)
            if outcome.patch and not outcome.ok:
                err.print(f"[bold]Best unverified candidate[/] {outcome.run_path / 'patch.diff'}", highlight=False)
    if not outcome.ok:
        why = outcome.stopped or outcome.reason or outcome.status
        raise JobFailed(f"no verified fix ({outcome.status}): {why}; see {outcome.run_path / 'report.html'}")


def _flag_overrides(flags: dict[str, object]) -> list[str]:
    """Command-line flags as ``-o key=value`` overrides (applied last), JSON-quoted so YAML reads them back."""
    import json

    return [f"{key}={json.dumps(value)}" for key, value in flags.items() if value is not None]


@app.command("report")
def report_command(
    run_dir: Annotated[Path, typer.Argument(help="A run folder, .repoagent/runs/<id>.")],
    open_page: Annotated[bool, typer.Option("--open", help="Open the page in the default browser.")] = False,
) -> None:
    """Redraw a run's report.html from its files and print its path."""
    from repoagent.records.report_page import write_report

    if not (run_dir / "trajectory.jsonl").is_file():
        raise UserError(f"{run_dir}: not a run folder (no trajectory.jsonl); runs are in REPO/.repoagent/runs/<id>")
    page = write_report(run_dir)
    typer.echo(str(page.resolve()))
    if open_page:
        import webbrowser

        webbrowser.open(page.resolve().as_uri())
