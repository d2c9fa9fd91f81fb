"""A small GitHub REST API on loopback, with only the endpoints the App uses.

Answers are shaped after GitHub's published REST description (the fields the
App reads, and the usual ones beside them).  It checks what GitHub checks:
the App's JWT (RS256, signed with the App's private key, ``iss`` the App id)
on ``/app/...`` routes, and an installation token it issued on the others.
Every request is kept, so tests can look for secrets in what was sent.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import jwt


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _user(login: str) -> dict[str, Any]:
    return {"login": login, "id": abs(hash(login)) % 10**6, "type": "User", "site_admin": False}


@dataclass
class FakeGitHub:
    app_id: str
    public_key: str
    repo: str
    issues: dict[int, dict[str, Any]] = field(default_factory=dict)
    permissions: dict[str, str] = field(default_factory=dict)
    comments: list[dict[str, Any]] = field(default_factory=list)
    review_comments: list[dict[str, Any]] = field(default_factory=list)  # {"pull", "path", "line", "body", "user"}
    reviews: list[dict[str, Any]] = field(default_factory=list)  # {"pull", "state", "body", "user"}
    labels: list[str] = field(default_factory=list)
    check_runs: dict[int, dict[str, Any]] = field(default_factory=dict)  # id -> head_sha, status, output, ...
    conversion: dict[str, Any] = field(default_factory=dict)  # the manifest flow: {"code": ..., "pem": ..., ...}
    reactions: list[dict[str, Any]] = field(default_factory=list)
    pulls: dict[int, dict[str, Any]] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    tokens: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)
    token_seconds: float = 3600.0  # how long an installation token lasts (GitHub: one hour)
    expiry: dict[str, float] = field(default_factory=dict)  # token -> when it stops working (monotonic)
    grants: list[dict[str, Any]] = field(default_factory=list)  # each token request's repositories and permissions
    git_root: str | None = None  # a folder of bare repositories served at /git/<owner>/<name>.git, token checked
    git_requests: list[dict[str, Any]] = field(default_factory=list)  # path, token, status
    # Faults for chosen calls, each used once, first match first: {"path": regex, "status": 403 | 502 | ...,
    # "headers": {...}} answers that instead; {"path": regex, "stall": seconds} answers late (a timeout).
    faults: list[dict[str, Any]] = field(default_factory=list)
    # Answers of the permission endpoint per user, used in order before ``permissions`` (access that changes).
    permission_answers: dict[str, list[str]] = field(default_factory=dict)

    def _fault(self, path: str) -> dict[str, Any] | None:
        with self.lock:
            for i, fault in enumerate(self.faults):
                if re.search(fault["path"], path):
                    return self.faults.pop(i)
        return None

    def add_issue(self, number: int, title: str, body: str, state: str = "open", locked: bool = False) -> None:
        self.issues[number] = {
            "id": 1000 + number,
            "number": number,
            "title": title,
            "body": body,
            "state": state,
            "locked": locked,
            "user": _user("reporter"),
            "labels": [],
            "html_url": f"https://github.test/{self.repo}/issues/{number}",
            "comments": 0,
            "author_association": "NONE",
        }

    # -- the HTTP side -----------------------------------------------------------

    def start(self) -> str:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def _send(self, status: int, data: Any = None, headers: dict[str, str] | None = None) -> None:
                raw = json.dumps(data).encode() if data is not None else b""
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def _handle(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                url = urlparse(self.path)
                if url.path.startswith("/git/") and fake.git_root is not None:
                    raw = self._body(length)
                    status, fields, out = fake.git(method, url.path, url.query, self.headers, raw)
                    self.send_response(status)
                    for name, value in fields.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(out)))
                    self.end_headers()
                    self.wfile.write(out)
                    return
                body = json.loads(self.rfile.read(length) or b"null") if length else None
                with fake.lock:
                    fake.requests.append(
                        {"method": method, "path": url.path, "headers": dict(self.headers), "body": body}
                    )
                fault = fake._fault(url.path)
                if fault is not None and "stall" in fault:
                    time.sleep(fault["stall"])
                elif fault is not None:
                    self._send(fault["status"], {"message": "fault"}, fault.get("headers"))
                    return
                status, data = fake.route(method, url.path, parse_qs(url.query), body, self.headers)
                self._send(status, data)

            def _body(self, length: int) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
                    return self.rfile.read(length) if length else b""
                data = b""
                while True:
                    size = int(self.rfile.readline().strip().split(b";")[0], 16)
                    if size == 0:
                        self.rfile.readline()
                        return data
                    data += self.rfile.read(size)
                    self.rfile.readline()

            def do_GET(self) -> None:  # noqa: N802
                self._handle("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._handle("POST")

            def do_PATCH(self) -> None:  # noqa: N802
                self._handle("PATCH")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _jwt_ok(self, headers: Any) -> bool:
        auth = headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            return False
        try:
            claims = jwt.decode(auth[7:], self.public_key, algorithms=["RS256"])
        except jwt.PyJWTError:
            return False
        return str(claims.get("iss")) == self.app_id

    def _token_ok(self, headers: Any) -> bool:
        auth = headers.get("Authorization", "")
        token = auth.split(" ", 1)[1] if " " in auth else ""
        return self._live(token)

    def _live(self, token: str) -> bool:
        return token in self.tokens and time.monotonic() < self.expiry.get(token, 0.0)

    def git(self, method: str, path: str, query: str, headers: Any, body: bytes) -> tuple[int, dict[str, str], bytes]:
        """git's smart HTTP through ``git http-backend``, for a live token given as Basic x-access-token."""
        import base64
        import os
        import subprocess

        auth = headers.get("Authorization", "")
        token = ""
        if auth.startswith("Basic "):
            token = base64.b64decode(auth[6:]).decode(errors="replace").partition(":")[2]
        ok = self._live(token)
        with self.lock:
            self.git_requests.append({"path": path, "token": token, "ok": ok})
        if not ok:
            return 401, {"WWW-Authenticate": 'Basic realm="GitHub"'}, b"Bad credentials\n"
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "GIT_PROJECT_ROOT": str(self.git_root),
            "GIT_HTTP_EXPORT_ALL": "1", "PATH_INFO": path[len("/git"):], "REQUEST_METHOD": method,
            "QUERY_STRING": query, "CONTENT_TYPE": headers.get("Content-Type", ""), "REMOTE_USER": "x-access-token",
            "REMOTE_ADDR": "127.0.0.1", "CONTENT_LENGTH": str(len(body)),
            "HTTP_CONTENT_ENCODING": headers.get("Content-Encoding", ""), "GIT_CONFIG_NOSYSTEM": "1",
            "HOME": str(self.git_root),
        }  # fmt: skip
        out = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True).stdout
        head, _, rest = out.partition(b"\r\n\r\n")
        if not rest and b"\n\n" in out:
            head, _, rest = out.partition(b"\n\n")
        status, fields = 200, {}
        for line in head.decode(errors="replace").splitlines():
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.strip().split()[0])
            elif name:
                fields[name] = value.strip()
        return status, fields, rest

    def route(self, method: str, path: str, query: dict, body: Any, headers: Any) -> tuple[int, Any]:
        m = re.fullmatch(r"/app/installations/(\d+)/access_tokens", path)
        if m and method == "POST":
            if not self._jwt_ok(headers):
                return 401, {"message": "A JSON web token could not be decoded"}
            token = "ghs_" + secrets.token_hex(18)
            with self.lock:
                self.tokens.add(token)
                self.expiry[token] = time.monotonic() + self.token_seconds
                self.grants.append({"token": token, **(body or {})})
            expires = (datetime.now(UTC) + timedelta(seconds=self.token_seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")
            limited = bool((body or {}).get("repositories"))
            return 201, {"token": token, "expires_at": expires,
                         "permissions": (body or {}).get("permissions") or {"issues": "write"},
                         "repository_selection": "selected" if limited else "all"}  # fmt: skip
        m = re.fullmatch(r"/app-manifests/([^/]+)/conversions", path)
        if m and method == "POST":  # no authentication: the code is the credential, once
            if not self.conversion or m[1] != self.conversion.get("code"):
                return 404, {"message": "Not Found"}
            made = self.conversion
            self.conversion = {}
            return 201, {"id": int(self.app_id), "slug": "repoagent", "html_url": "https://github.test/apps/repoagent",
                         "pem": made["pem"], "webhook_secret": made["webhook_secret"], "client_id": "Iv1.x",
                         "client_secret": "cs", "owner": _user("acme"), "name": "repoagent"}  # fmt: skip
        if not self._token_ok(headers):
            return 401, {"message": "Bad credentials"}
        prefix = f"/repos/{self.repo}"
        if not path.startswith(prefix):
            return 404, {"message": "Not Found"}
        rest = path[len(prefix) :]
        with self.lock:
            return self._repo_route(method, rest, query, body)

    def _repo_route(self, method: str, rest: str, query: dict, body: Any) -> tuple[int, Any]:
        if rest == "" and method == "GET":
            return 200, {"full_name": self.repo, "default_branch": "main", "private": False}
        if m := re.fullmatch(r"/issues/(\d+)", rest):
            number = int(m[1])
            if number in self.pulls:
                return 200, {**self.pulls[number], "pull_request": {"url": "..."}}
            return (200, self.issues[number]) if number in self.issues else (404, {"message": "Not Found"})
        if (m := re.fullmatch(r"/issues/(\d+)/comments", rest)) and method == "POST":
            comment = {"id": 5000 + len(self.comments), "issue": int(m[1]), "body": body["body"],
                       "user": {**_user("repoagent[bot]"), "type": "Bot"}, "created_at": _now()}  # fmt: skip
            self.comments.append(comment)
            return 201, comment
        if rest == "/check-runs" and method == "POST":
            run = {"id": 3000 + len(self.check_runs), "name": body["name"], "head_sha": body["head_sha"],
                   "status": body.get("status", "queued"), "conclusion": None, "output": body.get("output") or {},
                   "titles": [(body.get("output") or {}).get("title", "")]}  # fmt: skip
            self.check_runs[run["id"]] = run
            return 201, run
        if (m := re.fullmatch(r"/check-runs/(\d+)", rest)) and method == "PATCH":
            run = self.check_runs.get(int(m[1]))
            if run is None:
                return 404, {"message": "Not Found"}
            run.update({k: v for k, v in body.items() if k in ("status", "conclusion", "output")})
            run["titles"].append((body.get("output") or {}).get("title", ""))
            return 200, run
        if (m := re.fullmatch(r"/issues/comments/(\d+)", rest)) and method == "PATCH":
            comment = next((c for c in self.comments if c["id"] == int(m[1])), None)
            if comment is None:
                return 404, {"message": "Not Found"}
            comment["body"] = body["body"]
            comment["edits"] = comment.get("edits", 0) + 1
            return 200, comment
        if rest == "/labels" and method == "POST":
            if body["name"] in self.labels:
                return 422, {"message": "Validation Failed", "errors": [{"code": "already_exists"}]}
            self.labels.append(body["name"])
            return 201, {"name": body["name"], "color": body.get("color", "")}
        if (m := re.fullmatch(r"/issues/(\d+)/comments", rest)) and method == "GET":
            return 200, [c for c in self.comments if c["issue"] == int(m[1])]
        if (m := re.fullmatch(r"/pulls/(\d+)/comments", rest)) and method == "GET":
            return 200, [c for c in self.review_comments if c["pull"] == int(m[1])]
        if (m := re.fullmatch(r"/pulls/(\d+)/reviews", rest)) and method == "GET":
            return 200, [r for r in self.reviews if r["pull"] == int(m[1])]
        if (m := re.fullmatch(r"/pulls/comments/(\d+)/reactions", rest)) and method == "POST":
            self.reactions.append({"review_comment": int(m[1]), "content": body["content"]})
            return 201, {"id": len(self.reactions), "content": body["content"]}
        if (m := re.fullmatch(r"/issues/(\d+)/reactions", rest)) and method == "POST":
            self.reactions.append({"issue": int(m[1]), "content": body["content"]})
            return 201, {"id": len(self.reactions), "content": body["content"]}
        if (m := re.fullmatch(r"/issues/comments/(\d+)/reactions", rest)) and method == "POST":
            self.reactions.append({"comment": int(m[1]), "content": body["content"]})
            return 201, {"id": len(self.reactions), "content": body["content"]}
        if m := re.fullmatch(r"/collaborators/([^/]+)/permission", rest):
            queued = self.permission_answers.get(m[1])
            level = queued.pop(0) if queued else self.permissions.get(m[1])
            if level is None:
                return 404, {"message": "Not Found"}
            return 200, {"permission": level, "role_name": level, "user": _user(m[1])}
        if rest == "/pulls" and method == "GET":
            head = (query.get("head") or [""])[0].split(":", 1)[-1]
            state = (query.get("state") or ["open"])[0]
            found = [p for p in self.pulls.values() if p["head"]["ref"] == head and p["state"] == state]
            return 200, found
        if rest == "/pulls" and method == "POST":
            number = 100 + len(self.pulls)
            pull = {"number": number, "state": "open", "title": body["title"], "body": body.get("body", ""),
                    "draft": bool(body.get("draft")), "head": {"ref": body["head"]}, "base": {"ref": body["base"]},
                    "html_url": f"https://github.test/{self.repo}/pull/{number}", "updates": 0}  # fmt: skip
            self.pulls[number] = pull
            return 201, pull
        if m := re.fullmatch(r"/pulls/(\d+)", rest):
            pull = self.pulls.get(int(m[1]))
            if pull is None:
                return 404, {"message": "Not Found"}
            if method == "PATCH":
                pull.update({k: v for k, v in body.items() if k in ("body", "title", "state")})
                pull["updates"] += 1
            return 200, pull
        return 404, {"message": f"no route {method} {rest}"}
