"""``repoagent app create``: GitHub's manifest flow, from a local page to an App whose credentials are on disk.

1. A page on this machine posts the manifest (``configs/github_app_manifest.json``, with the webhook URL and
   this page's callback filled in) to GitHub's "new App" form, for an account or an organisation.
2. GitHub creates the App and sends the browser back to ``/callback?code=...&state=...``.
3. The callback checks ``state`` and exchanges the code (``POST /app-manifests/{code}/conversions``, within an
   hour of its making) for the App's id, private key and webhook secret.
4. They are written into the state folder, each file readable by its owner alone (mode 0600): ``app.pem``,
   ``webhook-secret`` and ``app.yaml``, which ``repoagent serve`` reads first, so it starts with no other
   setting.
"""

from __future__ import annotations

import html
import json
import os
import secrets
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import yaml

from repoagent.errors import UserError
from repoagent.github_app.settings import CREATED_CONFIG


@dataclass
class Created:
    app_id: int
    slug: str
    html_url: str
    folder: Path


@dataclass
class ManifestFlow:
    folder: Path  # the App's state folder
    api_url: str
    github_url: str
    webhook_url: str
    org: str | None = None
    name: str = "repoagent"
    state: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    created: Created | None = None
    error: str = ""

    def manifest(self, callback: str) -> dict[str, Any]:
        data = json.loads((resources.files("configs") / "github_app_manifest.json").read_text())
        data.update(name=self.name, redirect_url=callback, url=self.github_url)
        data["hook_attributes"] = {"url": self.webhook_url, "active": True}
        return data

    def form_action(self) -> str:
        base = self.github_url.rstrip("/")
        where = f"{base}/organizations/{self.org}/settings/apps/new" if self.org else f"{base}/settings/apps/new"
        return f"{where}?state={self.state}"

    def page(self, callback: str) -> str:
        manifest = html.escape(json.dumps(self.manifest(callback)), quote=True)
        owner = f"the organisation {html.escape(self.org)}" if self.org else "your account"
        return (
            "<!doctype html><meta charset=utf-8><title>Create the repoagent GitHub App</title>"
            f"<h1>Create the repoagent GitHub App for {owner}</h1>"
            "<p>GitHub asks you to confirm; it then sends you back here, and its id, private key and webhook "
            "secret are written into the App's state folder.</p>"
            f'<form action="{html.escape(self.form_action(), quote=True)}" method="post">'
            f'<input type="hidden" name="manifest" value="{manifest}">'
            '<button type="submit">Create the GitHub App</button></form>'
        )

    def exchange(self, code: str) -> Created:
        """Trade the code GitHub gave for the App's credentials, and write them (0600)."""
        url = f"{self.api_url.rstrip('/')}/app-manifests/{code}/conversions"
        request = urllib.request.Request(
            url, data=b"", method="POST",
            headers={"Accept": "application/vnd.github+json", "User-Agent": "repoagent"},
        )  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=30) as resp:
                data = json.loads(resp.read(1_000_000))
        except urllib.error.HTTPError as exc:
            raise UserError(f"GitHub refused the code (HTTP {exc.code}); it lasts an hour: start again") from None
        except (urllib.error.URLError, TimeoutError, ValueError) as exc:
            raise UserError(f"cannot exchange the code at {url}: {exc}") from None
        self.folder.mkdir(parents=True, exist_ok=True)
        key, secret = self.folder / "app.pem", self.folder / "webhook-secret"
        _private(key, str(data["pem"]))
        _private(secret, str(data["webhook_secret"]) + "\n")
        settings = {
            "app_id": int(data["id"]),
            "private_key_file": str(key),
            "webhook_secret_file": str(secret),
            "api_url": self.api_url,
        }
        _private(self.folder / CREATED_CONFIG, yaml.safe_dump(settings, sort_keys=False))
        return Created(int(data["id"]), str(data.get("slug") or ""), str(data.get("html_url") or ""), self.folder)


def _private(path: Path, text: str) -> None:
    """Write ``text`` to a file its owner alone may read, made so before a byte is in it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def run_flow(flow: ManifestFlow, host: str, port: int, announce: Any = print) -> Created:
    """Serve the page until GitHub's callback has been exchanged (or failed); return what was created."""
    done = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            return

        def _send(self, status: int, body: str) -> None:
            raw = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def do_GET(self) -> None:  # noqa: N802
            url = urlparse(self.path)
            callback = f"http://{host}:{server.server_address[1]}/callback"
            if url.path == "/":
                self._send(200, flow.page(callback))
                return
            if url.path != "/callback":
                self._send(404, "not found")
                return
            query = parse_qs(url.query)
            if query.get("state", [""])[0] != flow.state or not query.get("code"):
                self._send(400, "This callback is not from the page this command served (state differs).")
                return
            try:
                flow.created = flow.exchange(query["code"][0])
            except UserError as exc:
                flow.error = str(exc)
                self._send(502, html.escape(flow.error))
            else:
                made = flow.created
                install = f"{made.html_url}/installations/new" if made.html_url else "the App's page"
                self._send(
                    200,
                    f"<!doctype html><meta charset=utf-8><h1>App {made.app_id} created</h1>"
                    f"<p>Its key and webhook secret are in {html.escape(str(made.folder))}. Install it: "
                    f'<a href="{html.escape(install, quote=True)}">{html.escape(install)}</a>, then run '
                    "<code>repoagent serve</code>.</p>",
                )
            done.set()

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    announce(f"open http://{host}:{server.server_address[1]}/ in a browser to create the App")
    try:
        done.wait()
    finally:
        server.shutdown()
        server.server_close()
    if flow.created is None:
        raise UserError(flow.error or "the App was not created")
    return flow.created
