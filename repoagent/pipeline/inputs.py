"""Where a fix starts: the issue (text, @FILE or a GitHub issue URL) and the repository (path or git URL),
resolved into a ``FixRequest`` the same way for every caller."""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from repoagent.cancel import CancelToken
from repoagent.config import Settings
from repoagent.errors import UserError
from retrieval.index import Progress
from retrieval.source import is_git_repo

ISSUE_URL = re.compile(r"^https?://[^/\s]+/(?P<owner>[\w.-]+)/(?P<name>[\w.-]+)/issues/(?P<number>\d+)/?(?:[#?].*)?$")
LOOKS_LIKE_URL = re.compile(r"^https?://\S+$")  # one word that is a web address: never taken as an issue's text
GIT_URL = re.compile(r"^(?:(?:https?|git|ssh|file)://\S+|[\w.-]+@[\w.-]+:\S+)$")


ISSUE_MAX_BYTES = 1_000_000  # inputs.max_issue_bytes


@dataclass
class Issue:
    text: str
    source: str  # "text", the file read, or the issue URL
    title: str = ""


@dataclass(frozen=True)
class FixRequest:
    """What to fix: the input only (collaborators and delivery are not part of it)."""

    issue: Issue
    repo: Path
    settings: Settings
    rev: str | None = None
    repo_label: str = ""  # how the run names the repository (the URL it was cloned from); default: the path


def resolve_request(
    issue: str, repo: str, rev: str | None, settings: Settings, *, local_only: bool = False,
    cancel: CancelToken | None = None,
) -> FixRequest:  # fmt: skip
    """``--issue`` (text, @FILE, a GitHub issue URL) and ``--repo`` (a folder, or a git URL cloned into the cache,
    whose runs go under the state folder) as a request; ``local_only``: a git URL is refused (``--apply``,
    ``--branch``).  The model is checked first: no model, no key, nothing is cloned or read."""
    from repoagent.models.litellm_model import check_model

    check_model(settings.model, settings.budget)
    token = cancel or CancelToken()
    local = not is_git_url(repo)
    if local:
        path = Path(repo).expanduser().resolve()
        if not path.is_dir():
            raise UserError(f"--repo {repo}: no such folder; pass a repository folder or a git URL")
    else:
        if local_only:
            raise UserError("--apply and --branch need a local repository; with a git URL the patch is printed")
        path = clone_or_update(repo, settings.resolved_cache_dir(), lambda *a: token.check())
        if settings.runs_dir is None:
            settings = settings.model_copy(update={"runs_dir": settings.resolved_state_dir() / "runs"})
    return FixRequest(
        issue=read_issue(issue, settings.github.api_url, max_bytes=settings.inputs.max_issue_bytes),
        repo=path,
        settings=settings,
        rev=rev or ("HEAD" if is_git_repo(path) else None),
        repo_label=str(path) if local else repo,
    )


def text_or_file(value: str, option: str, max_bytes: int | None = None) -> str:
    """An option's text, or the content of FILE when it is given as ``@FILE``.

    A FILE must be a regular file (not a device, a pipe or a folder) of at most ``max_bytes``; it is never
    read past that, so ``@/dev/zero`` or a file of gigabytes is one line of error, not memory.
    """
    if not value.startswith("@"):
        if max_bytes is not None and len(value.encode("utf-8", errors="surrogateescape")) > max_bytes:
            raise UserError(f"{option}: the text is longer than {max_bytes} bytes (inputs.max_issue_bytes)")
        return value
    path = Path(value[1:])
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise UserError(f"{option} {value}: {path} is not a regular file; pass a text file")
        if max_bytes is not None and info.st_size > max_bytes:
            raise UserError(
                f"{option} {value}: {path} has {info.st_size} bytes, more than {max_bytes} "
                "(inputs.max_issue_bytes); pass a shorter text"
            )
        with path.open("rb") as f:
            data = f.read(max_bytes + 1) if max_bytes is not None else f.read()
    except OSError as exc:
        raise UserError(f"{option} {value}: cannot read {path} ({exc.strerror})") from None
    if max_bytes is not None and len(data) > max_bytes:  # it grew after the check
        raise UserError(f"{option} {value}: {path} is longer than {max_bytes} bytes (inputs.max_issue_bytes)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{option} {value}: {path} is not UTF-8 text; pass a text file") from None


def issue_text(value: str, forms: str = "the issue text or @FILE", max_bytes: int = ISSUE_MAX_BYTES) -> str:
    """``--issue`` as text or ``@FILE`` of at most ``max_bytes``; refused when empty."""
    text = text_or_file(value, "--issue", max_bytes)
    if not text.strip():
        raise UserError(f"--issue is empty; pass {forms}")
    return text


def issue_title(text: str) -> str:
    first = next((line.strip("# ").strip() for line in text.splitlines() if line.strip()), "")
    return first[:100]


def read_issue(
    value: str, api_url: str = "https://api.github.com", timeout: float = 30, max_bytes: int = ISSUE_MAX_BYTES
) -> Issue:
    """``value`` as issue text, ``@FILE``, or a GitHub issue URL read through the API (``GITHUB_TOKEN`` if set);
    at most ``max_bytes`` of it."""
    if ISSUE_URL.match(value.strip()):
        return fetch_github_issue(value.strip(), api_url, timeout, max_bytes)
    if LOOKS_LIKE_URL.match(value.strip()):
        raise UserError(
            f"--issue {value.strip()}: not a GitHub issue URL; write it as "
            "https://github.com/OWNER/NAME/issues/NUMBER, "
            "or pass the issue's text or @FILE"
        )
    text = issue_text(value, "the issue text, @FILE or a GitHub issue URL", max_bytes)
    return Issue(text, value[1:] if value.startswith("@") else "text", issue_title(text))


def fetch_github_issue(url: str, api_url: str, timeout: float = 30, max_bytes: int = ISSUE_MAX_BYTES) -> Issue:
    import urllib.error  # HTTP and TLS only for an issue given by its URL
    import urllib.request

    m = ISSUE_URL.match(url)
    assert m is not None
    api = f"{api_url.rstrip('/')}/repos/{m['owner']}/{m['name']}/issues/{m['number']}"
    headers = {"Accept": "application/vnd.github+json", "User-Agent": "repoagent"}
    token = os.environ.get("GITHUB_TOKEN")
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        with urllib.request.urlopen(urllib.request.Request(api, headers=headers), timeout=timeout) as resp:
            raw = resp.read(4 * max_bytes + 1)  # the JSON around the text: escapes and the other fields
            if len(raw) > 4 * max_bytes:
                raise UserError(f"--issue {url}: the answer is longer than {4 * max_bytes} bytes; pass @FILE")
            data = json.loads(raw.decode("utf-8"))
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
    text = f"{title}\n\n{body}".strip() + "\n"
    if len(text.encode("utf-8", errors="surrogateescape")) > max_bytes:
        raise UserError(f"--issue {url}: the issue is longer than {max_bytes} bytes (inputs.max_issue_bytes)")
    return Issue(text, url, title)


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
