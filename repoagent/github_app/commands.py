"""``repoagent serve``: the GitHub App's webhook server and its queue's workers, in one process.

Registered on the CLI through the ``repoagent.commands`` entry point; the
server modules never import the CLI (an import-linter contract says so).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from repoagent.cli.app import err


def register(app: typer.Typer) -> None:
    app.command("serve")(serve_command)


def serve_command(
    config: Annotated[
        Path | None, typer.Option("--config", help="The App's settings (configs/github_app.yaml).")
    ] = None,
    override: Annotated[list[str] | None, typer.Option("-o", help="key=value over the App's settings.")] = None,
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8000,
    workers: Annotated[int | None, typer.Option("--workers", min=1, help="Jobs run at once (concurrency).")] = None,
) -> None:
    """Run the GitHub App: POST /webhook, GET /healthz, GET /jobs; jobs run from the queue."""
    from repoagent.github_app.service import serve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    err.print(f"repoagent App listening on http://{host}:{port}", highlight=False)
    serve(config, override or [], host, port, workers)
