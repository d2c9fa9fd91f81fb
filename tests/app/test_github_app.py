"""The GitHub App for real: ``repoagent serve`` on loopback, signed webhooks, a local GitHub API, real git pushes.

The API (``tests/support/fake_github.py``) checks the App's JWT and its installation
tokens; pushes go to a bare repository that stands for the remote.  Both
queue backends run: SQLite, and Redis against a real ``redis-server``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.cli_helpers import child_env
from tests.support.fake_github import FakeGitHub
from tests.support.fix_fixtures import FILES, GOOD, SYMBOLS, example_copy, script
from tests.support.gitrepo import git
from tests.support.sandbox_fixtures import require_docker

APP_ID = "4242"
SECRET = "whsec-" + "q7" * 12
REPO = "acme/inventory"
# The scripted model's price, so the App's default caps (max_cost, max_daily_cost) apply to it as to a hosted one.
PRICES = ["model.input_cost_per_token=0.000001", "model.output_cost_per_token=0.000002"]
SECOND = GOOD.replace("    for minimum", "    # the largest tier first\n    for minimum", 1)  # a guided rewrite


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def redis_url() -> Any:
    exe = shutil.which("redis-server")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server must be installed in CI (.ci/run installs Debian's package)")
        pytest.skip("no redis-server here")
    port = _free_port()
    proc = subprocess.Popen([exe, "--port", str(port), "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait()


def _wait_healthy(port: int, server: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    """Until the server on ``port`` answers /healthz; it must not exit meanwhile."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).read()
            return
        except OSError:
            assert server.poll() is None, log.read_text()
            time.sleep(0.2)
    raise AssertionError("the server did not start: " + log.read_text())


@dataclass
class World:
    tmp: Path
    github: FakeGitHub
    api: str
    remote: Path
    key_pem: str
    config: Path
    home: Path
    server: subprocess.Popen | None = None
    port: int = 0
    log: Path | None = None

    env: dict[str, str] = field(default_factory=dict)  # more variables for the server (Probot's names)
    secret_in_env: bool = True  # REPOAGENT_WEBHOOK_SECRET given; False: the server finds it by itself

    def start(self) -> None:
        self.port = _free_port()
        exe = Path(sys.executable).with_name("repoagent")
        env = child_env()
        env.update(REPOAGENT_HOME=str(self.home), HF_HUB_OFFLINE="1", **self.env)
        if self.secret_in_env:
            env["REPOAGENT_WEBHOOK_SECRET"] = SECRET
        self.log = self.tmp / f"server-{self.port}.log"
        self.server = subprocess.Popen(
            [str(exe), "serve", "--config", str(self.config), "--port", str(self.port)],
            env=env,
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
        )
        _wait_healthy(self.port, self.server, self.log)

    def __enter__(self) -> World:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self.github.stop()

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.server is not None and self.server.poll() is None:
            self.server.send_signal(sig)
            self.server.wait(timeout=30)

    def post(self, event: str, payload: Any, delivery: str, secret: str | None = SECRET, raw: bytes | None = None):
        body = raw if raw is not None else json.dumps(payload).encode()
        headers = {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery, "Content-Type": "application/json"}
        if secret is not None:
            headers["X-Hub-Signature-256"] = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/webhook", body, headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def jobs(self, limit: int = 50) -> list[dict[str, Any]]:
        url = f"http://127.0.0.1:{self.port}/jobs?limit={limit}"
        return json.loads(urllib.request.urlopen(url, timeout=5).read())

    def wait_jobs(self, done: int, timeout: float = 240) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            jobs = self.jobs(limit=1000)
            if sum(j["state"] in ("done", "failed") for j in jobs) >= done:
                return jobs
            time.sleep(0.3)
        states = [(j["id"], j["state"], j["reason"]) for j in self.jobs(limit=1000)]
        raise AssertionError(f"jobs did not end: {states}\n{self.log.read_text()[-3000:] if self.log else ''}")


def _payload(kind: str, number: int, **extra: Any) -> dict[str, Any]:
    base = {
        "repository": {"full_name": REPO, "name": "inventory", "owner": {"login": "acme"}},
        "installation": {"id": 77},
        "sender": {"login": extra.pop("sender", "maintainer"), "type": "User"},
        "issue": {"number": number, "title": "t", "state": "open"},
    }
    if kind == "label":
        base.update(action="labeled", label={"name": extra.pop("label", "repoagent")})
    else:
        base.update(action="created", comment={"id": 9000 + number, "body": extra.pop("body"),
                                                "author_association": extra.pop("association", "MEMBER")})  # fmt: skip
        if extra.pop("on_pull", False):
            base["issue"]["pull_request"] = {"url": "..."}
    return base


def _world(tmp_path: Path, queue: str, redis: str | None, answers: list[Any], extra: dict[str, Any] | None = None):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    (tmp_path / "app.pem").write_text(pem)
    project = example_copy(tmp_path / "project", git=True)
    remote = tmp_path / "remotes" / "acme" / "inventory.git"
    remote.parent.mkdir(parents=True)
    subprocess.run(["git", "clone", "-q", "--bare", str(project), str(remote)], check=True)
    fake = FakeGitHub(APP_ID, public, REPO)
    issue = (project / "ISSUE.md").read_text()
    fake.add_issue(7, issue.splitlines()[0].strip("# "), issue)
    fake.permissions.update(maintainer="write", outsider="read")
    api = fake.start()
    settings = {
        "app_id": APP_ID,
        "private_key_file": str(tmp_path / "app.pem"),
        "api_url": api,
        "git_url": f"file://{tmp_path}/remotes/{{repo}}.git",
        "queue": queue,
        "redis_url": redis or "redis://127.0.0.1:1/0",
        "model": script(tmp_path, answers),
        "sandbox": "none",
        "allow_unsandboxed": True,  # the App's flow is tested here; Docker-only jobs in the tests below
        "state_dir": str(tmp_path / "state"),
        "max_body_bytes": 200_000,
        "fix_overrides": ["loop.reproduction_attempts=0", *PRICES],
        **(extra or {}),
    }
    config = tmp_path / "app.yaml"
    config.write_text(json.dumps(settings))
    return World(tmp_path, fake, api, remote, pem, config, tmp_path / "home")


def _no_secrets(world: World) -> None:
    """No secret in a comment, a pull request, a log line, /jobs, the state folder or the remote's config."""
    secrets = [SECRET, *world.github.tokens]
    secrets += [line for line in world.key_pem.splitlines() if len(line) > 20]
    texts = [json.dumps(c) for c in world.github.comments] + [json.dumps(p) for p in world.github.pulls.values()]
    texts.append(world.log.read_text() if world.log else "")
    texts.append(json.dumps(world.jobs()) if world.server and world.server.poll() is None else "")
    for path in (world.tmp / "state").rglob("*"):
        if path.is_file():
            texts.append(path.read_bytes().decode("utf-8", "replace"))
    texts.append((world.remote / "config").read_text())
    for secret in secrets:
        assert not any(secret in text for text in texts), f"a secret leaked: {secret[:8]}..."
    # the App's requests carried tokens only in the Authorization header
    for request in world.github.requests:
        assert not any(s in json.dumps(request["body"]) for s in secrets)


BACKENDS = ["sqlite", "redis"]


def _backend(request: Any, backend: str) -> str | None:
    return request.getfixturevalue("redis_url") if backend == "redis" else None


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_labelled_issue_becomes_a_pull_request_then_guidance_updates_it(
    tmp_path: Path, backend: str, request
) -> None:
    guided = {"when": "keep the loop readable", "answer": SECOND}  # guidance changes the code the fix left
    world = _world(tmp_path, backend, _backend(request, backend), [FILES, SYMBOLS, guided, GOOD])
    with world:
        assert world.post("issues", _payload("label", 7), "d-1")[0] == 202
        (job,) = world.wait_jobs(1)
        assert job["state"] == "done", (job, world.log.read_text())
        assert {"issue": 7, "content": "eyes"} in world.github.reactions
        (pull,) = world.github.pulls.values()
        assert pull["draft"] and pull["head"]["ref"] == "repoagent/issue-7" and pull["base"]["ref"] == "main"
        assert "Fixes #7" in pull["body"] and "Localization" in pull["body"] and "Cost" in pull["body"]
        assert any(c["issue"] == 7 and pull["html_url"] in c["body"] for c in world.github.comments)
        pushed = git(world.remote, "show", "repoagent/issue-7:inventory/pricing/discounts.py")
        assert "sorted(TIERS, reverse=True)" in pushed
        # guidance on the App's own pull request: the same branch and the same pull request
        body = "/repoagent fix keep the loop readable"
        status, _ = world.post("issue_comment", _payload("comment", pull["number"], body=body, on_pull=True), "d-2")
        assert status == 202
        jobs = world.wait_jobs(2)
        assert [j["state"] for j in jobs] == ["done", "done"], jobs
        assert len(world.github.pulls) == 1 and pull["updates"] == 1 and pull["state"] == "open"
        assert {"comment": 9000 + pull["number"], "content": "eyes"} in world.github.reactions
        assert jobs[0]["kind"] == "guidance" and jobs[0]["guidance"] == "keep the loop readable"
        _no_secrets(world)


@pytest.mark.parametrize("backend", BACKENDS)
def test_comment_command_from_a_member_runs_and_from_a_reader_does_not(tmp_path: Path, backend: str, request) -> None:
    world = _world(tmp_path, backend, _backend(request, backend), [FILES, SYMBOLS, GOOD])
    with world:
        outsider = _payload("comment", 7, body="/repoagent fix", sender="outsider", association="NONE")
        assert world.post("issue_comment", outsider, "c-1")[0] == 202
        (job,) = world.wait_jobs(1)
        assert job["state"] == "failed" and "no write access" in job["reason"]
        assert world.github.reactions == [] and world.github.pulls == {} and world.github.comments == []
        assert world.post("issue_comment", _payload("comment", 7, body="thanks!"), "c-2")[0] == 204
        member = _payload("comment", 7, body="/repoagent fix", association="MEMBER")
        assert world.post("issue_comment", member, "c-3")[0] == 202
        jobs = world.wait_jobs(2)
        assert jobs[0]["state"] == "done" and len(world.github.pulls) == 1
        assert {"comment": 9007, "content": "eyes"} in world.github.reactions
        _no_secrets(world)


@pytest.mark.parametrize("backend", BACKENDS)
def test_signatures_sizes_events_and_replays(tmp_path: Path, backend: str, request) -> None:
    world = _world(tmp_path, backend, _backend(request, backend), [FILES, SYMBOLS, GOOD], {"label": "autofix"})
    world.github.add_issue(8, "closed one", "text", state="closed")
    with world:
        payload = _payload("label", 8, label="autofix")
        assert world.post("issues", payload, "s-1", secret=None)[0] == 401
        assert world.post("issues", payload, "s-2", secret="wrong")[0] == 401
        big = json.dumps({**payload, "padding": "x" * 300_000}).encode()
        assert world.post("issues", None, "s-3", raw=big)[0] == 413
        assert world.post("issues", _payload("label", 8, label="other"), "s-4")[0] == 204
        assert world.post("ping", {"zen": "hi"}, "s-5")[0] == 204
        assert world.post("issues", payload, "s-6")[0] == 202
        status, body = world.post("issues", payload, "s-6")  # the same delivery again
        assert status == 200 and json.loads(body)["duplicate"] is True
        (job,) = world.wait_jobs(1)
        assert job["state"] == "done" and "closed" in job["reason"]  # closed issues are skipped
        assert world.github.pulls == {}
        health = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{world.port}/healthz").read())
        assert health["ok"] and health["deliveries"] == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_failing_fix_leaves_an_explanation(tmp_path: Path, backend: str, request) -> None:
    world = _world(tmp_path, backend, _backend(request, backend), ["I am not sure what to change here."])
    with world:
        assert world.post("issues", _payload("label", 7), "f-1")[0] == 202
        (job,) = world.wait_jobs(1)
        assert job["state"] == "done" and "no pull request" in job["reason"]
        (comment,) = [c for c in world.github.comments if c["issue"] == 7]
        assert "found no fix" in comment["body"] and world.github.pulls == {}
        _no_secrets(world)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_burst_of_100_deliveries_loses_none_and_runs_none_twice(tmp_path: Path, backend: str, request) -> None:
    from concurrent.futures import ThreadPoolExecutor

    world = _world(tmp_path, backend, _backend(request, backend), [FILES, SYMBOLS, GOOD], {"concurrency": 4})
    for n in range(200, 300):
        world.github.add_issue(n, f"issue {n}", "text", state="closed")  # each job ends at the issue's state
    with world:
        sends = [(n, f"b-{n}") for n in range(200, 300)] * 2  # every delivery twice
        with ThreadPoolExecutor(16) as pool:
            codes = list(pool.map(lambda a: world.post("issues", _payload("label", a[0]), a[1])[0], sends))
        assert codes.count(202) == 100 and codes.count(200) == 100
        assert len(world.wait_jobs(100)) == 100
        assert len(world.jobs()) == 50  # /jobs shows the 50 most recent unless asked for more
        state = sqlite_jobs(tmp_path / "state")
        assert sorted(issue for issue, _, _ in state) == list(range(200, 300))
        assert all(s == "done" and attempts == 1 for _, s, attempts in state)
        issue_gets = [r for r in world.github.requests if r["method"] == "GET" and "/issues/2" in r["path"]]
        assert len(issue_gets) == 100


def sqlite_jobs(folder: Path) -> list[tuple[int, str, int]]:
    import sqlite3

    with sqlite3.connect(folder / "app.sqlite3") as db:
        return list(db.execute("SELECT issue, state, attempts FROM jobs"))


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_restart_while_a_job_runs_runs_it_again(tmp_path: Path, backend: str, request) -> None:
    slow = ["sandbox.test_command=sleep 6 && python -m pytest -q", "loop.reproduction_attempts=0", *PRICES]
    extra = {"sandbox": "local", "fix_overrides": slow}
    world = _world(tmp_path, backend, _backend(request, backend), [FILES, SYMBOLS, GOOD], extra)
    with world:
        assert world.post("issues", _payload("label", 7), "r-1")[0] == 202
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and world.jobs()[0]["state"] != "running":
            time.sleep(0.1)
        assert world.jobs()[0]["state"] == "running"
        time.sleep(1.0)
        world.stop(signal.SIGKILL)
        world.start()  # the same state folder: the job is run again
        (job,) = world.wait_jobs(1, timeout=300)
        assert job["state"] == "done" and job["attempts"] == 2, job
        assert len(world.github.pulls) == 1
        assert "repoagent/issue-7" in git(world.remote, "branch", "--list")
        _no_secrets(world)


def test_the_manifest_asks_for_what_the_app_uses_and_the_settings_file_has_every_setting() -> None:
    from importlib import resources

    import yaml

    from repoagent.github_app.settings import DEFAULTS, AppSettings, load_app_settings

    manifest = json.loads((resources.files("configs") / "github_app_manifest.json").read_text())
    assert manifest["default_permissions"] == {
        "contents": "write",
        "issues": "write",
        "pull_requests": "write",
        "checks": "write",
        "metadata": "read",
    }
    assert sorted(manifest["default_events"]) == ["issue_comment", "issues", "pull_request_review_comment"]
    assert set(yaml.safe_load(DEFAULTS.read_text())) == set(AppSettings.model_fields)
    settings = load_app_settings(env={})
    assert settings.label == "repoagent" and settings.draft and settings.queue == "sqlite"
    with pytest.raises(Exception, match="unknown App setting"):
        load_app_settings(overrides=["labels=x"], env={})


def test_what_triggers_a_job() -> None:
    from types import SimpleNamespace

    from repoagent.github_app.server import trigger
    from repoagent.github_app.settings import load_app_settings

    ctx = SimpleNamespace(settings=load_app_settings(overrides=["allow_repos=[acme/inventory]"], env={}))
    job = trigger("issues", _payload("label", 7), ctx)
    assert job is not None and (job.kind, job.repo, job.issue, job.installation) == ("label", REPO, 7, 77)
    other = _payload("label", 7)
    other["repository"]["full_name"] = "acme/other"
    assert trigger("issues", other, ctx) is None  # not on the allow-list
    bot = _payload("comment", 7, body="/repoagent fix", sender="repoagent[bot]")
    assert trigger("issue_comment", bot, ctx) is None  # never itself, nor another bot
    guided = trigger("issue_comment", _payload("comment", 101, body="/repoagent fix  use a set", on_pull=True), ctx)
    assert guided is not None and guided.kind == "guidance" and guided.guidance == "use a set"
    assert guided.association == "MEMBER" and guided.comment_id == 9101
    assert trigger("issue_comment", _payload("comment", 7, body="/repoagent fixes"), ctx) is None
    edited = {**_payload("comment", 7, body="/repoagent fix"), "action": "edited"}
    assert trigger("issue_comment", edited, ctx) is None
    on_pull = _payload("label", 7)
    on_pull["issue"]["pull_request"] = {"url": "..."}
    assert trigger("issues", on_pull, ctx) is None  # a labelled pull request is not an issue


def test_a_permission_check_that_fails_runs_nothing(tmp_path: Path) -> None:
    """Issue #29: a lookup that timed out or errored queued the job anyway (fail open)."""
    world = _world(tmp_path, "sqlite", None, [FILES, SYMBOLS, GOOD], {"api_timeout": 1})
    check = r"/collaborators/maintainer/permission"
    # a timeout, then a server error that lasts past the retries (1, 4 and 9 s apart)
    world.github.faults += [{"path": check, "stall": 3}] + [{"path": check, "status": 502}] * 4
    with world:
        asker = _payload("comment", 7, body="/repoagent fix", association="NONE")
        assert world.post("issue_comment", asker, "p-1")[0] == 202
        assert world.post("issue_comment", asker, "p-2")[0] == 202
        jobs = world.wait_jobs(2)
        reasons = sorted(j["reason"] for j in jobs)
        assert [j["state"] for j in jobs] == ["failed", "failed"], jobs
        assert "GitHub answered 502 to the permission check of @maintainer" in reasons[0]
        assert "the permission check of @maintainer failed: RequestTimeout" in reasons[1]
        assert all("a check that fails runs nothing" in r for r in reasons)
        assert world.github.reactions == [] and world.github.pulls == {} and world.github.comments == []
        assert "permission check" in world.log.read_text()  # logged with the reason


def test_a_rate_limited_check_waits_as_github_says_and_asks_again(tmp_path: Path) -> None:
    world = _world(tmp_path, "sqlite", None, [FILES, SYMBOLS, GOOD])
    world.github.faults.append(
        {"path": r"/collaborators/maintainer/permission", "status": 403, "headers": {"retry-after": "2"}}
    )
    with world:
        started = time.monotonic()
        asker = _payload("comment", 7, body="/repoagent fix", association="NONE")
        assert world.post("issue_comment", asker, "q-1")[0] == 202
        (job,) = world.wait_jobs(1)
        assert job["state"] == "done" and len(world.github.pulls) == 1, job
        assert time.monotonic() - started >= 2
        checks = [r for r in world.github.requests if r["path"].endswith("/collaborators/maintainer/permission")]
        assert len(checks) >= 3  # refused once, then asked again at the trigger, and again when the job started


def test_collaborators_and_labellers_without_write_access_are_ignored(tmp_path: Path) -> None:
    world = _world(tmp_path, "sqlite", None, [FILES, SYMBOLS, GOOD])
    world.github.permissions.update(reader="read", triager="triage")
    with world:
        reader = _payload("comment", 7, body="/repoagent fix", sender="reader", association="COLLABORATOR")
        assert world.post("issue_comment", reader, "k-1")[0] == 202
        assert world.post("issues", _payload("label", 7, sender="triager"), "k-2")[0] == 202
        jobs = world.wait_jobs(2)
        assert [j["state"] for j in jobs] == ["failed", "failed"], jobs
        assert {j["reason"] for j in jobs} == {
            "@reader has no write access (read): ignored",
            "@triager has no write access (triage): ignored",
        }
        assert world.github.pulls == {} and world.github.reactions == []


def test_access_is_checked_again_when_the_job_starts(tmp_path: Path) -> None:
    world = _world(tmp_path, "sqlite", None, [FILES, SYMBOLS, GOOD])
    world.github.permission_answers["maintainer"] = ["write", "read"]  # write when asked, read once queued
    with world:
        asker = _payload("comment", 7, body="/repoagent fix", association="NONE")
        assert world.post("issue_comment", asker, "a-1")[0] == 202
        (job,) = world.wait_jobs(1)
        assert job["state"] == "failed" and job["reason"] == "@maintainer has no write access (read): ignored"
        assert {"comment": 9007, "content": "eyes"} in world.github.reactions and world.github.pulls == {}


def test_only_owners_and_members_are_trusted_by_association() -> None:
    from repoagent.github_app.settings import load_app_settings

    assert load_app_settings(env={}).trusted_associations == ["OWNER", "MEMBER"]
    with pytest.raises(Exception, match="COLLABORATOR cannot be trusted by association"):
        load_app_settings(overrides=["trusted_associations=[OWNER, COLLABORATOR]"], env={})


def test_jobs_wants_the_token_or_a_request_from_this_machine(tmp_path: Path) -> None:
    """Issue #29: /jobs needed no authentication and showed repositories, senders and guidance."""
    from types import SimpleNamespace

    from fastapi.testclient import TestClient

    from repoagent.github_app.server import create_app
    from repoagent.github_app.settings import Secrets, load_app_settings
    from repoagent.github_app.state import State

    settings = load_app_settings(env={})

    def client(token: str, host: str) -> TestClient:
        secrets = Secrets(private_key="k", webhook_secret=b"s", jobs_token=token)
        ctx = SimpleNamespace(settings=settings, secrets=secrets, state=State(tmp_path / "state"))
        return TestClient(create_app(ctx, lambda job_id: None), client=(host, 50000))

    with_token = client("jobs-secret", "203.0.113.9")
    assert with_token.get("/jobs").status_code == 401
    assert with_token.get("/jobs", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert with_token.get("/jobs", headers={"Authorization": "Bearer jobs-secret"}).json() == []
    assert client("jobs-secret", "127.0.0.1").get("/jobs").status_code == 401  # a token, so loopback needs it too
    assert client("", "127.0.0.1").get("/jobs").json() == []
    assert client("", "::1").get("/jobs").status_code == 200
    assert client("", "203.0.113.9").get("/jobs").status_code == 403
    forwarded = client("", "127.0.0.1").get("/jobs", headers={"X-Forwarded-For": "198.51.100.7"})
    assert forwarded.status_code == 403 and "jobs_token_file" in forwarded.json()["error"]
    assert client("", "203.0.113.9").get("/healthz").status_code == 200


def test_probot_variables_and_numeric_ids_are_accepted() -> None:
    """Issue #29: APP_ID, PRIVATE_KEY(_PATH), WEBHOOK_SECRET and GITHUB_API_URL were ignored; a numeric id refused."""
    from repoagent.github_app.settings import load_app_settings, load_secrets

    env = {"APP_ID": "123456", "GITHUB_API_URL": "https://ghe.example/api/v3", "PRIVATE_KEY_PATH": "/keys/app.pem"}
    settings = load_app_settings(env=env)
    assert (settings.app_id, settings.api_url, str(settings.private_key_file)) == (
        "123456", "https://ghe.example/api/v3", "/keys/app.pem"
    )  # fmt: skip
    assert load_app_settings(env={"REPOAGENT_APP__APP_ID": "654321"}).app_id == "654321"
    assert load_app_settings(env={**env, "REPOAGENT_APP__APP_ID": "7"}).app_id == "7"  # ours over Probot's
    bare = load_app_settings(env={"APP_ID": "1"})
    one_line = "-----BEGIN PRIVATE KEY-----\\nMIIabc\\n-----END PRIVATE KEY-----\\n"
    secrets = load_secrets(bare, env={"PRIVATE_KEY": one_line, "WEBHOOK_SECRET": "hook"})
    assert secrets.private_key == "-----BEGIN PRIVATE KEY-----\nMIIabc\n-----END PRIVATE KEY-----\n"
    assert secrets.webhook_secret == b"hook" and secrets.jobs_token == ""


def test_serve_starts_from_probot_variables_alone(tmp_path: Path) -> None:
    world = _world(tmp_path, "sqlite", None, [FILES, SYMBOLS, GOOD])
    settings = json.loads(world.config.read_text())
    for key in ("app_id", "private_key_file", "api_url"):
        settings.pop(key)
    world.config.write_text(json.dumps(settings))
    escaped = world.key_pem.replace("\n", "\\n")  # the key on one line, as .env files hold it
    world.env.update(APP_ID=APP_ID, PRIVATE_KEY=escaped, GITHUB_API_URL=world.api)
    with world:
        assert world.post("issues", _payload("label", 7), "e-1")[0] == 202
        (job,) = world.wait_jobs(1)
        assert job["state"] == "done" and len(world.github.pulls) == 1, (job, world.log.read_text()[-2000:])


def _serve_once(world: World, env: dict[str, str]) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("repoagent")
    full = {**child_env(), "REPOAGENT_HOME": str(world.home), "REPOAGENT_WEBHOOK_SECRET": SECRET, **env}
    return subprocess.run(
        [str(exe), "serve", "--config", str(world.config), "--port", str(_free_port())],
        env=full, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_serve_refuses_to_start_without_docker_or_its_image_unless_allowed(tmp_path: Path) -> None:
    """Issue #29: with `sandbox: auto` and no engine, the App ran untrusted tests beside its private key."""
    world = _world(tmp_path, "sqlite", None, [FILES, SYMBOLS, GOOD], {"sandbox": "docker", "allow_unsandboxed": False})
    no_engine = _serve_once(world, {"DOCKER_HOST": f"unix://{tmp_path}/no-docker.sock"})
    assert no_engine.returncode == 2 and "serve will not start" in no_engine.stderr, no_engine.stderr
    assert "Docker only" in no_engine.stderr and "docker_up.sh" in no_engine.stderr
    settings = json.loads(world.config.read_text())
    settings["fix_overrides"] = [*settings["fix_overrides"], "sandbox.image=repoagent-base:missing"]
    world.config.write_text(json.dumps(settings))
    require_docker()
    no_image = _serve_once(world, {})
    assert no_image.returncode == 2 and "repoagent-base:missing is not here" in no_image.stderr, no_image.stderr
    assert "repoagent sandbox build-base" in no_image.stderr
    for kind in ("local", "none"):
        settings.update(sandbox=kind)
        world.config.write_text(json.dumps(settings))
        unsafe = _serve_once(world, {})
        assert unsafe.returncode == 2 and f"sandbox: {kind} would run the tests" in unsafe.stderr, unsafe.stderr
        assert "allow_unsandboxed: true" in unsafe.stderr


def test_allowed_unsandboxed_jobs_say_so_in_the_log_and_the_pull_request(tmp_path: Path) -> None:
    world = _world(tmp_path, "sqlite", None, [FILES, SYMBOLS, GOOD])  # sandbox none, allow_unsandboxed true
    with world:
        assert world.post("issues", _payload("label", 7), "u-1")[0] == 202
        (job,) = world.wait_jobs(1)
        assert job["state"] == "done"
        (pull,) = world.github.pulls.values()
        assert pull["body"].startswith("> **Warning: this App runs with `allow_unsandboxed: true`")
        assert "allow_unsandboxed" in world.log.read_text()


def test_the_daily_cap_of_an_installation_is_kept_and_a_trigger_past_it_is_told(tmp_path: Path) -> None:
    """Issue #29: no cost cap by default, and no daily cap per installation."""
    from datetime import UTC, datetime

    from repoagent.github_app.settings import load_app_settings
    from repoagent.github_app.state import State

    defaults = load_app_settings(env={})
    assert defaults.max_cost == 2.0 and defaults.max_daily_cost == 20.0
    world = _world(tmp_path, "sqlite", None, [FILES, SYMBOLS, GOOD], {"max_daily_cost": 0.5})
    with world:
        assert world.post("issues", _payload("label", 7), "m-1")[0] == 202
        (job,) = world.wait_jobs(1)
        assert job["state"] == "done"
        (pull,) = world.github.pulls.values()
        cost = float(re.search(r"\*\*Cost\*\*: \$([\d.]+)", pull["body"])[1])
        assert cost > 0 and "of a $0.50 cap" in world.github.comments[-1]["body"]  # the job's budget: what is left
        state = State(tmp_path / "state")
        day = datetime.now(UTC).strftime("%Y-%m-%d")
        assert abs(state.spent(77, day) - cost) < 0.0001  # what it spent is kept
        state.settle(77, day, 0.0, 0.5)  # the rest of the day's money goes elsewhere
        again = _payload("comment", 7, body="/repoagent fix", association="MEMBER")
        assert world.post("issue_comment", again, "m-2")[0] == 202
        jobs = world.wait_jobs(2)
        assert jobs[0]["state"] == "failed" and "daily spending cap of $0.50" in jobs[0]["reason"], jobs[0]
        told = world.github.comments[-1]["body"]
        assert told.startswith("repoagent did not run: the daily spending cap of $0.50") and "max_daily_cost" in told
        assert len(world.github.pulls) == 1 and pull["updates"] == 0


def test_reservations_keep_jobs_running_at_once_within_the_daily_cap(tmp_path: Path) -> None:
    from repoagent.github_app.state import State

    state = State(tmp_path / "state")
    assert state.reserve(1, 2.0, 5.0, "d") == 2.0
    assert state.reserve(1, 2.0, 5.0, "d") == 2.0
    assert state.reserve(1, 2.0, 5.0, "d") == 1.0  # what is left, not the job's whole cap
    assert state.reserve(1, 2.0, 5.0, "d") is None
    assert state.reserve(2, 2.0, 5.0, "d") == 2.0  # another installation
    state.settle(1, "d", 2.0, 0.25)
    assert abs(state.reserve(1, 2.0, 5.0, "d") - 1.75) < 1e-9 and abs(state.spent(1, "d") - 0.25) < 1e-9
    assert state.reserve(3, None, None, "d") == float("inf") and state.reserve(3, 2.0, None, "d") == 2.0


def _git_over_http(world: World) -> None:
    """The world's remote served by the stand-in over HTTP, where a token that expired is refused."""
    world.github.git_root = str(world.tmp / "remotes")
    settings = json.loads(world.config.read_text())
    settings["git_url"] = f"{world.api}/git/{{repo}}.git"
    world.config.write_text(json.dumps(settings))


def test_a_long_job_whose_token_expires_before_the_push_still_pushes(tmp_path: Path) -> None:
    """Issue #29: one token, fetched before the clone, was used for the push an hour later."""
    from repoagent.github_app.github import JOB_PERMISSIONS

    slow = ["sandbox.test_command=sleep 5 && python3 -m pytest -q -p no:cacheprovider", *PRICES]
    extra = {"sandbox": "local", "fix_overrides": ["loop.reproduction_attempts=0", *slow]}
    world = _world(tmp_path, "sqlite", None, [FILES, SYMBOLS, GOOD], extra)
    world.github.token_seconds = 4
    _git_over_http(world)
    with world:
        assert world.post("issues", _payload("label", 7), "t-1")[0] == 202
        (job,) = world.wait_jobs(1)
        assert job["state"] == "done" and len(world.github.pulls) == 1, (job, world.log.read_text()[-3000:])
        assert "sorted(TIERS, reverse=True)" in git(
            world.remote, "show", "repoagent/issue-7:inventory/pricing/discounts.py"
        )
        requests = world.github.git_requests
        clone = next(r for r in requests if "upload-pack" in r["path"])
        pushes = [r for r in requests if "receive-pack" in r["path"]]
        assert all(r["ok"] for r in requests) and pushes, requests
        assert pushes[-1]["token"] != clone["token"] and not world.github._live(clone["token"])  # it had expired
        assert world.github.grants and all(
            g["repositories"] == ["inventory"] and g["permissions"] == JOB_PERMISSIONS for g in world.github.grants
        ), world.github.grants
        _no_secrets(world)


def test_rate_limits_and_server_errors_are_tried_again(tmp_path: Path) -> None:
    world = _world(tmp_path, "sqlite", None, [FILES, SYMBOLS, GOOD])
    world.github.faults += [
        {"path": r"/pulls$", "status": 403, "headers": {"retry-after": "1"}},
        {"path": r"/pulls$", "status": 502},
        {"path": r"/issues/7/comments$", "status": 503},
    ]
    with world:
        assert world.post("issues", _payload("label", 7), "r-1")[0] == 202
        (job,) = world.wait_jobs(1)
        assert job["state"] == "done" and len(world.github.pulls) == 1, (job, world.log.read_text()[-3000:])
        assert any(c["issue"] == 7 and "opened the pull request" in c["body"] for c in world.github.comments)
        assert world.github.faults == []  # every fault was met, and each call tried again past it


def _review_comment(pull: int, body: str, path: str, line: int, comment_id: int = 7100) -> dict[str, Any]:
    return {
        "action": "created",
        "repository": {"full_name": REPO, "name": "inventory", "owner": {"login": "acme"}},
        "installation": {"id": 77},
        "sender": {"login": "maintainer", "type": "User"},
        "pull_request": {"number": pull, "head": {"ref": "repoagent/issue-7"}},
        "comment": {"id": comment_id, "body": body, "path": path, "line": line, "author_association": "MEMBER"},
    }


def test_guidance_builds_on_the_pull_request_keeping_what_others_pushed(tmp_path: Path) -> None:
    """Issue #29: guidance started again from the default branch with only the latest comment, then force-pushed
    over commits that maintainers had added to the pull request."""
    guided = {"when": "keep the loop readable", "answer": SECOND}
    world = _world(tmp_path, "sqlite", None, [FILES, SYMBOLS, guided, GOOD])
    with world:
        assert world.post("issues", _payload("label", 7), "g-1")[0] == 202
        (first,) = world.wait_jobs(1)
        assert first["state"] == "done", first
        (pull,) = world.github.pulls.values()
        app_commit = git(world.remote, "rev-parse", "repoagent/issue-7")
        work = tmp_path / "maintainer"  # a maintainer adds a commit to the App's branch
        subprocess.run(["git", "clone", "-q", "-b", "repoagent/issue-7", str(world.remote), str(work)], check=True)
        (work / "MAINTAINER.md").write_text("notes from a maintainer\n")
        git(work, "add", "MAINTAINER.md")
        git(work, "commit", "-qm", "a maintainer's commit")
        git(work, "push", "-q", "origin", "repoagent/issue-7")
        theirs = git(work, "rev-parse", "HEAD")
        world.github.review_comments.append(
            {"id": 7001, "pull": pull["number"], "path": "inventory/pricing/discounts.py", "line": 12,
             "body": "please sort the tiers once", "user": {"login": "reviewer", "type": "User"},
             "created_at": "2026-01-01T10:00:00Z"}
        )  # fmt: skip
        world.github.reviews.append(
            {"pull": pull["number"], "state": "CHANGES_REQUESTED", "body": "Close, but not yet.",
             "user": {"login": "lead", "type": "User"}, "submitted_at": "2026-01-01T09:00:00Z"}
        )  # fmt: skip
        body = "/repoagent fix keep the loop readable"
        assert (
            world.post("issue_comment", _payload("comment", pull["number"], body=body, on_pull=True), "g-2")[0] == 202
        )
        jobs = world.wait_jobs(2)
        assert jobs[0]["state"] == "done", (jobs[0], world.log.read_text()[-3000:])
        head = git(world.remote, "rev-parse", "repoagent/issue-7")
        history = git(world.remote, "rev-list", "repoagent/issue-7").split()
        assert history[1] == theirs and app_commit in history  # on top of theirs, nothing overwritten
        assert git(world.remote, "show", f"{head}:MAINTAINER.md") == "notes from a maintainer"
        assert "# the largest tier first" in git(world.remote, "show", f"{head}:inventory/pricing/discounts.py")
        assert len(world.github.pulls) == 1 and pull["updates"] == 1
        trajectory = next(p for p in sorted((tmp_path / "state" / "runs").rglob("trajectory.jsonl"))[-1:])
        seen = trajectory.read_text()
        assert "@lead (review, CHANGES_REQUESTED): Close, but not yet." in seen
        assert "@reviewer (on inventory/pricing/discounts.py line 12): please sort the tiers once" in seen
        assert "Guidance from @maintainer on the pull request, to follow now:\\nkeep the loop readable" in seen
        assert "repoagent[bot]" not in seen.split("The discussion on the pull request")[1][:2000]  # not its own
        # a review comment "/repoagent fix ..." on a line runs with that line as a hint
        line_comment = _review_comment(
            pull["number"], "/repoagent fix name it better", "inventory/pricing/discounts.py", 9
        )
        assert world.post("pull_request_review_comment", line_comment, "g-3")[0] == 202
        jobs = world.wait_jobs(3)
        assert jobs[0]["kind"] == "review" and jobs[0]["state"] == "done", jobs[0]
        assert jobs[0]["guidance"] == (
            "name it better\n(The reviewer points at inventory/pricing/discounts.py, line 9.)"
        )
        assert {"review_comment": 7100, "content": "eyes"} in world.github.reactions
        assert theirs in git(world.remote, "rev-list", "repoagent/issue-7").split()


def _installation(action: str, **repos: list[str]) -> dict[str, Any]:
    payload: dict[str, Any] = {"action": action, "installation": {"id": 77}, "sender": {"login": "owner"}}
    for key, names in repos.items():
        payload[key] = [{"full_name": n, "name": n.split("/")[1]} for n in names]
    return payload


def test_installation_events_keep_the_served_repositories_and_make_the_label(tmp_path: Path) -> None:
    """Issue #29: the README did not say to create the label, and `installation` events were not kept."""
    world = _world(tmp_path, "sqlite", None, [FILES, SYMBOLS, GOOD])
    with world:
        status, body = world.post("installation", _installation("created", repositories=[REPO]), "i-1")
        assert status == 200 and json.loads(body) == {"served": [REPO]}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and world.github.labels != ["repoagent"]:
            time.sleep(0.1)
        assert world.github.labels == ["repoagent"]  # made in the background, once
        removed = _installation("removed", repositories_removed=[REPO], repositories_added=[])
        assert world.post("installation_repositories", removed, "i-2")[0] == 200
        assert world.post("issues", _payload("label", 7), "i-3")[0] == 204  # no longer served: nothing runs
        added = _installation("added", repositories_added=[REPO], repositories_removed=[])
        assert world.post("installation_repositories", added, "i-4")[0] == 200
        assert "label 'repoagent' already there in acme/inventory" in _wait_log(world, "already there")
        assert world.post("issues", _payload("label", 7), "i-5")[0] == 202
        (job,) = world.wait_jobs(1)
        assert job["state"] == "done" and len(world.github.pulls) == 1
        assert world.post("installation", _installation("deleted"), "i-6")[0] == 200
        assert world.post("issues", _payload("label", 7), "i-7")[0] == 204


def _wait_log(world: World, text: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        log = world.log.read_text() if world.log else ""
        if text in log:
            return log
        time.sleep(0.1)
    raise AssertionError(f"{text!r} is not in the log")


def test_the_manifest_flow_from_the_page_to_a_started_server(tmp_path: Path) -> None:
    """Issue #29: the manifest route had no page, its redirect was a 404 and nothing exchanged the code."""
    import html as html_module
    import stat

    world = _world(tmp_path, "sqlite", None, [FILES, SYMBOLS, GOOD])
    settings = json.loads(world.config.read_text())
    for key in ("app_id", "private_key_file", "api_url"):  # nothing of the App's identity is given
        settings.pop(key)
    world.config.write_text(json.dumps(settings))
    world.github.conversion = {"code": "code-123", "pem": world.key_pem, "webhook_secret": SECRET}
    port = _free_port()
    exe = Path(sys.executable).with_name("repoagent")
    env = {**child_env(), "REPOAGENT_HOME": str(world.home)}
    create = subprocess.Popen(
        [str(exe), "app", "create", "--webhook-url", "https://hooks.example/webhook", "--port", str(port),
         "--github-url", "https://github.test", "--org", "acme", "--config", str(world.config),
         "-o", f"api_url={world.api}"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    page = ""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not page:
        try:
            page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).read().decode()
        except OSError:
            assert create.poll() is None, create.stderr.read()
            time.sleep(0.2)
    action = html_module.unescape(re.search(r'<form action="([^"]+)" method="post">', page)[1])
    state = action.split("state=", 1)[1]
    assert action == f"https://github.test/organizations/acme/settings/apps/new?state={state}"
    manifest = json.loads(html_module.unescape(re.search(r'name="manifest" value="([^"]+)"', page)[1]))
    assert manifest["redirect_url"] == f"http://127.0.0.1:{port}/callback"
    assert manifest["hook_attributes"]["url"] == "https://hooks.example/webhook"
    assert manifest["default_permissions"]["pull_requests"] == "write"
    with pytest.raises(urllib.error.HTTPError) as wrong:  # a callback that is not from this page's form
        urllib.request.urlopen(f"http://127.0.0.1:{port}/callback?code=code-123&state=other", timeout=5)
    assert wrong.value.code == 400
    done = urllib.request.urlopen(f"http://127.0.0.1:{port}/callback?code=code-123&state={state}", timeout=30)
    assert f"App {APP_ID} created" in done.read().decode()
    assert create.wait(timeout=30) == 0, create.stderr.read()
    folder = tmp_path / "state"
    for name in ("app.pem", "webhook-secret", "app.yaml"):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600, name
    assert (folder / "app.pem").read_text() == world.key_pem
    world.secret_in_env = False  # serve starts with no other setting: the id, key and secret come from the state
    with world:
        assert world.post("issues", _payload("label", 7), "mf-1")[0] == 202
        (job,) = world.wait_jobs(1)
        assert job["state"] == "done" and len(world.github.pulls) == 1, (job, world.log.read_text()[-2000:])


def test_progress_shows_in_one_comment_then_in_check_runs_on_the_pull_request(tmp_path: Path) -> None:
    """Issue #29: nothing showed a job's stage, tests or cost while it ran."""
    world = _world(tmp_path, "sqlite", None, [FILES, SYMBOLS, {"when": "keep the loop readable", "answer": SECOND},
                                               GOOD], {"public_url": "https://app.example"})  # fmt: skip
    with world:
        assert world.post("issues", _payload("label", 7), "pg-1")[0] == 202
        (job,) = world.wait_jobs(1)
        assert job["state"] == "done"
        (comment,) = [c for c in world.github.comments if c["issue"] == 7]  # one comment, edited in place
        assert comment["edits"] >= 1 and "opened the pull request" in comment["body"], comment
        assert "**Spent so far**: $" in comment["body"] and "Cost: $" in comment["body"]
        (pull,) = world.github.pulls.values()
        run_id = re.search(r"https://app\.example/runs/([\w-]+)/report", comment["body"])[1]
        page = urllib.request.urlopen(f"http://127.0.0.1:{world.port}/runs/{run_id}/report", timeout=5).read()
        assert b"<html" in page.lower()  # the link leads to the run's report, read as /jobs is
        before = git(world.remote, "rev-parse", "repoagent/issue-7")
        guidance = _payload("comment", pull["number"], body="/repoagent fix keep the loop readable", on_pull=True)
        assert world.post("issue_comment", guidance, "pg-2")[0] == 202
        jobs = world.wait_jobs(2)
        assert jobs[0]["state"] == "done", jobs[0]
        after = git(world.remote, "rev-parse", "repoagent/issue-7")
        runs = {r["head_sha"]: r for r in world.github.check_runs.values()}
        assert set(runs) == {before, after}  # progress on the head it started from, the outcome on the new one
        started = runs[before]
        assert started["status"] == "completed" and started["conclusion"] in ("success", "neutral")
        assert started["titles"][0] == "repoagent: starting" and len(started["titles"]) >= 2
        assert runs[after]["status"] == "completed" and "Report" in runs[after]["output"]["summary"]


class _Smee:
    """A smee.io channel on loopback: an event stream that sends what the test puts in, as smee keeps it."""

    def __init__(self) -> None:
        import queue
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.messages: queue.Queue = queue.Queue()
        self.readers = 0
        channel = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def do_GET(self) -> None:  # noqa: N802
                channel.readers += 1
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                self.wfile.write(b"event: ready\ndata: {}\n\n")
                self.wfile.flush()
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline:
                    try:
                        message = channel.messages.get(timeout=0.5)
                    except Exception:  # noqa: BLE001 - queue.Empty: a comment line keeps the stream alive
                        message = None
                    try:
                        self.wfile.write(f"data: {json.dumps(message)}\n\n".encode() if message else b":\n\n")
                        self.wfile.flush()
                    except OSError:
                        return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/channel"

    def send(self, event: str, delivery: str, payload: dict[str, Any]) -> None:
        raw = json.dumps(payload, separators=(",", ":")).encode()  # GitHub sends compact JSON
        signature = "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
        headers = {"x-github-event": event, "x-github-delivery": delivery, "x-hub-signature-256": signature}
        self.messages.put({**headers, "content-type": "application/json", "body": payload, "query": {}, "timestamp": 1})

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_webhook_proxy_url_forwards_a_smee_channel(tmp_path: Path) -> None:
    """Issue #29: WEBHOOK_PROXY_URL (a smee.io channel, for development without a public address) was ignored."""
    smee = _Smee()
    world = _world(tmp_path, "sqlite", None, [FILES, SYMBOLS, GOOD])
    world.env["WEBHOOK_PROXY_URL"] = smee.url
    try:
        with world:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not smee.readers:
                time.sleep(0.1)
            assert smee.readers, world.log.read_text()
            smee.send("issues", "sm-1", _payload("label", 7))
            smee.send("issues", "sm-1", _payload("label", 7))  # smee may deliver twice: it runs once
            (job,) = world.wait_jobs(1)
            assert job["state"] == "done" and job["delivery"] == "sm-1" and len(world.github.pulls) == 1
            assert "webhook proxy: issues sm-1 -> 202" in world.log.read_text()
    finally:
        smee.close()


@pytest.fixture(scope="module")
def postgres_server() -> Any:
    """A PostgreSQL cluster of the tests' own (Debian's postgresql package; as root, run as its user)."""
    import tempfile

    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL must be installed in CI (scripts/test_tools.sh installs Debian's package)")
        pytest.skip("no PostgreSQL here")
    initdb, pg_ctl = found[-1], found[-1].with_name("pg_ctl")
    folder = Path(tempfile.mkdtemp(prefix="repoagent-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # the server refuses to run as root
        shutil.chown(folder, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = folder / "data", _free_port()
    subprocess.run([*as_user, str(initdb), "-D", str(data), "-U", "postgres", "--auth=trust"],
                   check=True, capture_output=True)  # fmt: skip
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run([*as_user, str(pg_ctl), "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w", "start"],
                   check=True, capture_output=True)  # fmt: skip
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run([*as_user, str(pg_ctl), "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture()
def postgres_url(postgres_server: str) -> str:
    """A new database of the cluster, for one test."""
    import uuid

    import psycopg

    name = f"app_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{postgres_server}/postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return f"{postgres_server}/{name}"


def test_the_state_in_postgresql_keeps_what_sqlite_keeps(postgres_url: str, tmp_path: Path) -> None:
    from repoagent.github_app.state import Job, State

    state = State(tmp_path / "a", postgres_url)
    other = State(tmp_path / "b", postgres_url)  # a second server: the same database
    job = Job(kind="label", repo=REPO, issue=1, installation=77, sender="maintainer")
    new, job_id = state.accept("pg-1", "issues", job)
    assert new and job_id is not None
    assert other.accept("pg-1", "issues", job) == (False, job_id)  # seen once, across servers
    assert other.job(job_id).repo == REPO and other.deliveries() == state.deliveries()
    state.update(job_id, state="queued")
    assert other.start(job_id) is not None and state.start(job_id) is None  # started once
    assert [j.id for j in state.unfinished()] == [job_id] and state.recent()[0].state == "running"
    assert state.reserve(77, 2.0, 3.0, "d") == 2.0 and other.reserve(77, 2.0, 3.0, "d") == 1.0
    assert state.reserve(77, 2.0, 3.0, "d") is None
    other.settle(77, "d", 2.0, 0.5)
    assert abs(state.spent(77, "d") - 0.5) < 1e-9
    state.installed(77, [REPO], replace=True)
    assert other.serves(77, REPO) and not other.serves(77, "acme/other")
    other.uninstalled(77)
    assert not state.serves(77, REPO)
    with state.issue_lock(REPO, 1):
        pass


def test_two_servers_sharing_redis_and_postgresql_run_each_delivery_once(
    tmp_path: Path, redis_url: str, postgres_url: str
) -> None:
    """Issue #29: with queue: redis, job ids came from each machine's own SQLite file."""
    from concurrent.futures import ThreadPoolExecutor

    from repoagent.github_app.state import State

    world = _world(tmp_path, "redis", redis_url, [FILES, SYMBOLS, GOOD], {"concurrency": 2, "state_url": postgres_url})
    for n in range(400, 500):
        world.github.add_issue(n, f"issue {n}", "text", state="closed")  # each job ends at the issue's state
    second = subprocess.Popen(
        [str(Path(sys.executable).with_name("repoagent")), "serve", "--config", str(world.config),
         "--port", str(port := _free_port()), "-o", f"state_dir={tmp_path / 'state-2'}"],
        env={**child_env(), "REPOAGENT_HOME": str(world.home), "REPOAGENT_WEBHOOK_SECRET": SECRET},
        stdout=(tmp_path / "second.log").open("w"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        with world:
            _wait_healthy(port, second, tmp_path / "second.log")
            sends = [(p, n) for n in range(400, 500) for p in (world.port, port)]  # each delivery to both servers
            with ThreadPoolExecutor(8) as pool:
                codes = list(pool.map(lambda item: _post_to(item[0], item[1]), sends))
            assert codes.count(202) == 100 and codes.count(200) == 100, codes
            jobs = world.wait_jobs(100)
            assert len(jobs) == 100
            shared = State(tmp_path / "check", postgres_url).recent(1000)
            assert sorted(j.issue for j in shared) == list(range(400, 500))
            assert all(j.state == "done" and j.attempts == 1 for j in shared), [(j.id, j.state) for j in shared]
            gets = [r for r in world.github.requests if r["method"] == "GET" and "/issues/4" in r["path"]]
            assert len(gets) == 100  # each job ran once, on one server or the other
    finally:
        second.terminate()
        second.wait(timeout=30)


def _post_to(port: int, number: int) -> int:
    payload = json.dumps(_payload("label", number)).encode()
    signature = "sha256=" + hmac.new(SECRET.encode(), payload, hashlib.sha256).hexdigest()
    headers = {"X-GitHub-Event": "issues", "X-GitHub-Delivery": f"two-{number}", "X-Hub-Signature-256": signature}
    request = urllib.request.Request(f"http://127.0.0.1:{port}/webhook", payload, headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
