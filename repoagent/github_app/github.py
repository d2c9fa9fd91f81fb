"""GitHub, as the App sees it, through githubkit: a JWT signed with the App's key, then installation tokens.

Only the REST endpoints the App uses are called; answers are read as JSON
(``Response.json()``), so a field GitHub adds or leaves out never breaks a job.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from repoagent.github_app.settings import AppSettings, Secrets

RATE_LIMIT_WAIT = 120.0  # seconds a permission check waits, in all, for GitHub's rate limits to pass
# What a job's token may do, on the one repository it works on: push a branch, comment, open a pull request.
JOB_PERMISSIONS = {
    "contents": "write", "issues": "write", "pull_requests": "write", "checks": "write", "metadata": "read",
}  # fmt: skip
RETRIES = 3  # a rate-limited or failing (5xx) call is tried again this many times
LONGEST_WAIT = 60.0  # seconds: a rate limit that lasts longer is not waited for (the job fails and says so)


def retry_decision(exc: Any, retry_count: int) -> Any:
    """githubkit's retry hook: rate limits (``retry-after``, ``x-ratelimit-reset``, secondary limits) waited
    out as GitHub says when that is at most ``LONGEST_WAIT``, server errors after 1, 4 and 9 s; ``RETRIES``
    times at most, so a call gives up within about three minutes."""
    from datetime import timedelta

    from githubkit.exception import RateLimitExceeded, RequestFailed
    from githubkit.typing import RetryOption

    if retry_count >= RETRIES:
        return RetryOption(False)
    if isinstance(exc, RateLimitExceeded):
        wait = exc.retry_after.total_seconds()
        return RetryOption(True, exc.retry_after) if 0 <= wait <= LONGEST_WAIT else RetryOption(False)
    if isinstance(exc, RequestFailed) and exc.response.status_code >= 500:
        return RetryOption(True, timedelta(seconds=(retry_count + 1) ** 2))
    return RetryOption(False)


class PermissionUnknown(Exception):
    """The permission check could not be made (a network error, a timeout, an error answer): nothing runs."""


def _split(repo: str) -> tuple[str, str]:
    owner, _, name = repo.partition("/")
    return owner, name


class GitHubApp:
    def __init__(self, settings: AppSettings, secrets: Secrets) -> None:
        from githubkit import AppAuthStrategy, GitHub

        self.settings = settings
        self.app = GitHub(
            AppAuthStrategy(settings.app_id, secrets.private_key),
            base_url=settings.api_url.rstrip("/") + "/",
            http_cache=False,
            auto_retry=retry_decision,
            timeout=settings.api_timeout,
        )

    def installation(self, installation_id: int, repo: str) -> Installation:
        """A client for one repository of the installation: its tokens name that repository and the job's
        permissions only, and are renewed as they near their end (githubkit keeps each until a minute before)."""
        _, name = _split(repo)
        auth = self.app.auth.as_installation(installation_id, repositories=[name], permissions=JOB_PERMISSIONS)
        return Installation(self, installation_id, self.app.with_auth(auth))

    def token(self, installation_id: int, repo: str) -> str:
        """A fresh installation token for git on ``repo`` alone (never written to disk); one per git step,
        since a token lasts an hour and a job can last longer."""
        _, name = _split(repo)
        answer = self.app.rest.apps.create_installation_access_token(
            installation_id, repositories=[name], permissions=JOB_PERMISSIONS
        )
        return str(answer.json()["token"])


@dataclass
class Installation:
    app: GitHubApp
    id: int
    client: Any

    def issue(self, repo: str, number: int) -> dict[str, Any]:
        return self.client.rest.issues.get(*_split(repo), number).json()

    def comment(self, repo: str, number: int, body: str) -> int:
        return int(self.client.rest.issues.create_comment(*_split(repo), number, body=body).json()["id"])

    def edit_comment(self, repo: str, comment_id: int, body: str) -> None:
        self.client.rest.issues.update_comment(*_split(repo), comment_id, body=body)

    def create_check(self, repo: str, sha: str, title: str, summary: str) -> int:
        """A check run named ``repoagent`` on ``sha``, in progress."""
        answer = self.client.rest.checks.create(
            *_split(repo), name="repoagent", head_sha=sha, status="in_progress",
            output={"title": title[:250], "summary": summary[:60000]},
        )  # fmt: skip
        return int(answer.json()["id"])

    def update_check(self, repo: str, check_id: int, title: str, summary: str, conclusion: str | None = None) -> None:
        extra: dict[str, Any] = {"status": "completed", "conclusion": conclusion} if conclusion else {}
        self.client.rest.checks.update(
            *_split(repo), check_id, output={"title": title[:250], "summary": summary[:60000]}, **extra
        )

    def react_to_issue(self, repo: str, number: int, content: str = "eyes") -> None:
        self.client.rest.reactions.create_for_issue(*_split(repo), number, content=content)

    def react_to_comment(self, repo: str, comment_id: int, content: str = "eyes") -> None:
        self.client.rest.reactions.create_for_issue_comment(*_split(repo), comment_id, content=content)

    def react_to_review_comment(self, repo: str, comment_id: int, content: str = "eyes") -> None:
        self.client.rest.reactions.create_for_pull_request_review_comment(*_split(repo), comment_id, content=content)

    def ensure_label(self, repo: str, name: str) -> bool:
        """Create the trigger label in ``repo``; False when it was there already (GitHub answers 422)."""
        from githubkit.exception import RequestFailed

        try:
            self.client.rest.issues.create_label(
                *_split(repo), name=name, color="5319e7", description="repoagent: fix this issue with a tested PR"
            )
        except RequestFailed as exc:
            if exc.response.status_code == 422:
                return False
            raise
        return True

    def issue_comments(self, repo: str, number: int) -> list[dict[str, Any]]:
        return self.client.rest.issues.list_comments(*_split(repo), number, per_page=100).json()

    def reviews(self, repo: str, number: int) -> list[dict[str, Any]]:
        return self.client.rest.pulls.list_reviews(*_split(repo), number, per_page=100).json()

    def review_comments(self, repo: str, number: int) -> list[dict[str, Any]]:
        return self.client.rest.pulls.list_review_comments(*_split(repo), number, per_page=100).json()

    def permission(self, repo: str, user: str, wait_limit: float = RATE_LIMIT_WAIT) -> str:
        """``admin``, ``maintain``, ``write``, ``triage``, ``read`` or ``none`` (404: not a collaborator).

        Fails closed: any other answer, a network error or a timeout raises ``PermissionUnknown``; a rate
        limit is waited out as GitHub says (``retry-after``, ``x-ratelimit-reset``) while the waits add up
        to at most ``wait_limit`` seconds, then the check is asked again.
        """
        from githubkit.exception import RateLimitExceeded, RequestError, RequestFailed

        waited = 0.0
        while True:
            try:
                data = self.client.rest.repos.get_collaborator_permission_level(*_split(repo), user).json()
            except RateLimitExceeded as exc:
                wait = max(0.0, exc.retry_after.total_seconds())
                if waited + wait > wait_limit:
                    raise PermissionUnknown(
                        f"GitHub rate-limited the permission check of @{user} for {wait:.0f} s more"
                    ) from None
                time.sleep(wait)
                waited += wait
                continue
            except RequestFailed as exc:
                if exc.response.status_code == 404:
                    return "none"
                raise PermissionUnknown(
                    f"GitHub answered {exc.response.status_code} to the permission check of @{user}"
                ) from None
            except RequestError as exc:
                raise PermissionUnknown(f"the permission check of @{user} failed: {type(exc).__name__}") from None
            return str(data.get("role_name") or data.get("permission") or "none")

    def pull(self, repo: str, number: int) -> dict[str, Any]:
        return self.client.rest.pulls.get(*_split(repo), number).json()

    def open_pull(self, repo: str, branch: str) -> dict[str, Any] | None:
        owner, name = _split(repo)
        pulls = self.client.rest.pulls.list(owner, name, state="open", head=f"{owner}:{branch}").json()
        return pulls[0] if pulls else None

    def create_pull(self, repo: str, branch: str, base: str, title: str, body: str, draft: bool) -> dict[str, Any]:
        owner, name = _split(repo)
        return self.client.rest.pulls.create(
            owner, name, title=title, head=branch, base=base, body=body, draft=draft
        ).json()

    def update_pull(self, repo: str, number: int, body: str) -> dict[str, Any]:
        return self.client.rest.pulls.update(*_split(repo), number, body=body).json()

    def default_branch(self, repo: str) -> str:
        return str(self.client.rest.repos.get(*_split(repo)).json().get("default_branch") or "main")
