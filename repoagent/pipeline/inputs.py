"""Where a fix starts: the issue (text, @FILE or a GitHub issue URL) and the repository (path or git URL)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from repoagent.core.errors import UserError
from retrieval.index import Progress

ISSUE_URL = re.compile(r"^https?://[^/\s]+/(?P<owner>[\w.-]+)/(?P<name>[\w.-]+)/issues/(?P<number>\d+)/?(?:[#?].*)?$")
LOOKS_LIKE_URL = re.compile(r"^https?://\S+$")  # one word that is a web address: never taken as an issue's text
GIT_URL = re.compile(r"^(?:(?:https?|git|ssh|file)://\S+|[\w.-]+@[\w.-]+:\S+)$")


@dataclass
class Issue:
    text: str
    source: str  # "text", the file read, or the issue URL
    title: str = ""


def text_or_file(value: str, option: str) -> str:
    """An option's text, or the content of FILE when it is given as ``@FILE``."""
    if not value.startswith("@"):
        return value
    try:
        return Path(value[1:]).read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"{option} {value}: cannot read {value[1:]} ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise UserError(f"{option} {value}: {value[1:]} is not UTF-8 text; pass a text file") from None


def issue_text(value: str, forms: str = "the issue text or @FILE") -> str:
    """``--issue`` as text or ``@FILE``; refused when empty."""
    text = text_or_file(value, "--issue")
    if not text.strip():
        raise UserError(f"--issue is empty; pass {forms}")
    return text


def issue_title(text: str) -> str:
    first = next((line.strip("# ").strip() for line in text.splitlines() if line.strip()), "")
    return first[:100]


def read_issue(value: str, api_url: str = "https://api.github.com", timeout: float = 30) -> Issue:
    """``value`` as issue text, ``@FILE``, or a GitHub issue URL read through the API (``GITHUB_TOKEN`` if set)."""
    if ISSUE_URL.match(value.strip()):
        return fetch_github_issue(value.strip(), api_url, timeout)
    if LOOKS_LIKE_URL.match(value.strip()):
        raise UserError(
            f"--issue {value.strip()}: not a GitHub issue URL; write it as "
            "https://github.com/OWNER/NAME/issues/NUMBER, "
            "or pass the issue's text or @FILE"
        )
    text = issue_text(value, "the issue text, @FILE or a GitHub issue URL")
    return Issue(text, value[1:] if value.startswith("@") else "text", issue_title(text))


def fetch_github_issue(url: str, api_url: str, timeout: float = 30) -> Issue:
    m = ISSUE_URL.match(url)
    assert m is not None
    api = f"{api_url.rstrip('/')}/repos/{m['owner']}/{m['name']}/issues/{m['number']}"
    headers = {"Accept": "application/vnd.github+json", "User-Agent": "repoagent"}
    token = os.environ.get("GITHUB_TOKEN")
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        with urllib.request.urlopen(urllib.request.Request(api, headers=headers), timeout=timeout) as resp:
            data = json.loads(resp.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        hint = {
            401: "the token in GITHUB_TOKEN was refused",
            403: "access refused or rate limited; set GITHUB_TOKEN",
            404: "no such issue, or a private repository: set GITHUB_TOKEN",
        }.get(exc.code, "the GitHub API refused the request")
        raise UserError(f"--issue {url}: HTTP {exc.code} from {api} ({hint})") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise UserError(f"--issue {url}: cannot reach {api} ({reason}); pass the text or @FILE instead") from None
    except ValueError:
        raise UserError(f"--issue {url}: {api} did not answer with JSON") from None
    if "pull_request" in data:
        raise UserError(f"--issue {url}: this number is a pull request, not an issue")
    title = str(data.get("title") or "").strip()
    body = str(data.get("body") or "").strip()
    return Issue(f"{title}\n\n{body}".strip() + "\n", url, title)


def is_git_url(value: str) -> bool:
    return bool(GIT_URL.match(value)) and not Path(value).exists()


def clone_or_update(url: str, cache_dir: Path, progress: Progress | None = None) -> Path:
    """A bare clone of ``url`` in the cache (fetched again if it is already there), with progress."""
    import git as gitpython

    slug = re.sub(r"[^\w.-]+", "-", url.split("://")[-1]).strip("-")[-60:]
    dest = cache_dir / "repos" / f"{slug}-{hashlib.sha1(url.encode()).hexdigest()[:8]}"
    report = progress or (lambda task, done, total: None)

    class _Progress(gitpython.RemoteProgress):
        def update(self, op_code: int, cur_count: object, max_count: object = None, message: str = "") -> None:
            task = "fetch" if (dest / "HEAD").exists() else "clone"
            report(f"{task} {url}", int(float(cur_count or 0)), int(float(max_count or 0)))

    env = {"GIT_TERMINAL_PROMPT": "0"}
    try:
        if (dest / "HEAD").exists():
            repo = gitpython.Repo(dest)
            with repo.git.custom_environment(**env):
                repo.remote("origin").fetch("+refs/heads/*:refs/heads/*", prune=True, progress=_Progress())
        else:
            dest.parent.mkdir(parents=True, exist_ok=True)
            gitpython.Repo.clone_from(url, dest, bare=True, progress=_Progress(), env=env)
    except gitpython.GitCommandError as exc:
        why = (exc.stderr or str(exc)).strip().removeprefix("stderr:").strip(" '")
        raise UserError(f"--repo {url}: git could not clone or fetch it: {why}") from None
    return dest
