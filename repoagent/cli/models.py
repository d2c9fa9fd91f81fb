"""``repoagent models build``: the bundled embedding model made ready to run (install runs it)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from repoagent.cli.app import app, err

models_app = typer.Typer(help="Prepare the models repoagent runs itself.", no_args_is_help=True)
app.add_typer(models_app, name="models")


@models_app.command("build")
def build_command(
    force: Annotated[bool, typer.Option("--force", help="Make it again even when it is there.")] = False,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Folder (default: REPOAGENT_MODELS, else the environment's)."),
    ] = None,
) -> None:
    """Make the bundled MiniLM's int8 ONNX model from its shipped weights (a few seconds, once)."""
    from retrieval.dense import bundled_model_path
    from retrieval.minilm import FILE_NAME, build, models_dir

    target = (out or models_dir()) / FILE_NAME
    if target.is_file() and not force:
        err.print(f"{target} is there already (--force makes it again)")
    else:
        started = time.perf_counter()
        build(bundled_model_path(), target)
        err.print(f"made {target} in {time.perf_counter() - started:.1f} s")
    typer.echo(target)
