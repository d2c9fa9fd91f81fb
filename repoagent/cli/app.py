"""The ``repoagent`` typer app and the options its commands share.

Commands live in their own modules of this package and register on ``app``
when ``repoagent.cli.main`` imports them; plugins (the SWE-bench commands)
register through the ``repoagent.commands`` entry point group.
"""

from __future__ import annotations

import gc
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from repoagent.cancel import CancelToken
from repoagent.config import Settings, load_settings

app = typer.Typer(
    name="repoagent",
    help="Find the code behind an issue, rewrite it, prove it with the repository's tests.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

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


@contextmanager
def short_lived() -> Iterator[None]:
    """The body of a command that ends in seconds (``index``, ``map``, ``localize``): Python's cycle collector
    stays off meanwhile, and what is left is frozen for the exit.  It walked an index's 50,000 objects again
    and again, and once more at exit: 0.2 to 0.3 s of a warm ``localize`` on django.  Nothing such a command
    makes lives long enough for its cycles to matter."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()  # the interpreter's last collection then skips them
        if enabled:
            gc.enable()


def cancel_token(ctx: typer.Context) -> CancelToken:
    """The token ``main`` set Ctrl-C and SIGTERM on (a fresh one when the app is driven another way)."""
    root = ctx.find_root()
    if not isinstance(root.obj, CancelToken):
        root.obj = CancelToken()
    return root.obj
