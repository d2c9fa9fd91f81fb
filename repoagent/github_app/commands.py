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

app_group = typer.Typer(help="Set up the GitHub App.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve_command)
    app.add_typer(app_group, name="app")


@app_group.command("create")
def create_command(
    webhook_url: Annotated[
        str, typer.Option("--webhook-url", help="Where GitHub posts events: https://YOUR-HOST/webhook.")
    ],
    org: Annotated[str | None, typer.Option("--org", help="Create it for this organisation.")] = None,
    name: Annotated[str, typer.Option("--name", help="The App's name (unique on GitHub).")] = "repoagent",
    host: Annotated[str, typer.Option("--host", help="Where the set-up page listens.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 3000,
    github_url: Annotated[str, typer.Option("--github-url", help="GitHub's web address (Enterprise: yours).")] = (
        "https://github.com"
    ),
    config: Annotated[Path | None, typer.Option("--config", help="The App's settings (state_dir, api_url).")] = None,
    override: Annotated[list[str] | None, typer.Option("-o", help="key=value over the App's settings.")] = None,
) -> None:
    """Create the GitHub App from its manifest: a local page posts it to GitHub, the callback writes the App's
    id, private key and webhook secret into the state folder (mode 0600); then `repoagent serve` needs nothing
    else."""
    from repoagent.github_app.manifest import ManifestFlow, run_flow
    from repoagent.github_app.settings import load_app_settings

    settings = load_app_settings(config, override or [])
    flow = ManifestFlow(settings.resolved_state_dir(), settings.api_url, github_url, webhook_url, org, name)
    made = run_flow(flow, host, port, lambda text: err.print(text, highlight=False))
    err.print(
        f"created the App {made.app_id} ({made.slug}); its id, key and webhook secret are in {made.folder}. "
        f"Install it: {made.html_url}/installations/new, then run: repoagent serve",
        highlight=False,
    )


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
