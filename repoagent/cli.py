"""The ``repoagent`` command line.

Exit codes: 0 success; 1 the job ran but found no fix or failed its checks;
2 bad input or configuration (one line that names the input and what to do).
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from repoagent.config import Settings, load_settings
from repoagent.errors import RepoagentError, UserError
from retrieval.errors import RetrievalError

app = typer.Typer(
    name="repoagent",
    help="Find the code behind an issue, rewrite it, prove it with the repository's tests.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
bench_app = typer.Typer(help="Benchmarks on SWE-bench data.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")

err = Console(stderr=True, soft_wrap=True)

ConfigOpt = Annotated[
    Path | None, typer.Option("--config", help="YAML file of settings layered over configs/default.yaml.")
]
OverrideOpt = Annotated[
    list[str] | None, typer.Option("-o", "--set", help="Override a setting: -o section.key=value (repeatable).")
]
RepoOpt = Annotated[Path, typer.Option("--repo", help="Git repository (bare or not) or plain folder.")]
RevOpt = Annotated[
    str | None, typer.Option("--rev", help="Commit to read from git objects; default: the working tree.")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON (last line of stdout).")]


def settings_from(config: Path | None, overrides: list[str] | None) -> Settings:
    return load_settings(config, overrides or ())


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, default=str) + "\n")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    """Console entry point: run the app and turn known errors into one line and an exit code."""
    # Ctrl-C and kill both unwind through the cleanup code (containers, worktrees), even when
    # a parent started us with SIGINT ignored, as a non-interactive shell does for `cmd &`.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        app()
    except RepoagentError as exc:
        err.print(f"[bold red]repoagent:[/] {exc}", highlight=False)
        raise SystemExit(exc.exit_code) from None
    except RetrievalError as exc:
        err.print(f"[bold red]repoagent:[/] {exc}", highlight=False)
        raise SystemExit(UserError.exit_code) from None
    except KeyboardInterrupt:
        err.print("[bold red]repoagent:[/] interrupted")
        raise SystemExit(130) from None


def _register() -> None:
    # Command modules register themselves on import; keep them below ``app``.
    from repoagent import cli_edit, cli_fix, cli_index, cli_localize, cli_sandbox  # noqa: F401


_register()

if __name__ == "__main__":
    main()
