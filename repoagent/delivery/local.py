"""Local delivery: apply a patch to the working tree, or commit it on a new branch through a temporary worktree.

Nothing here runs unless asked (``--apply`` / ``--branch``); both check before
they write, so a refused patch leaves the repository as it was.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from repoagent.errors import JobFailed, UserError
from retrieval.git import git
from retrieval.source import is_git_repo

AUTHOR = ["-c", "user.name=repoagent", "-c", "user.email=repoagent@localhost"]


def dirty_files(repo: Path) -> list[str]:
    if not is_git_repo(repo):
        return []
    out = git(repo, "status", "--porcelain", "--untracked-files=no").stdout.decode(errors="replace")
    return [line[3:] for line in out.splitlines() if line.strip()]


def check_apply(repo: Path, force: bool) -> None:
    dirty = dirty_files(repo)
    if dirty and not force:
        shown = ", ".join(dirty[:5]) + (" ..." if len(dirty) > 5 else "")
        raise UserError(
            f"--apply: the working tree has uncommitted changes ({shown}); commit or stash them, or --force"
        )


def apply_patch(repo: Path, patch: str) -> None:
    data = patch.encode("utf-8", errors="surrogateescape")
    check = git(repo, "apply", "--check", "--whitespace=nowarn", "-", input=data)
    if check.returncode != 0:
        why = check.stderr.decode(errors="replace").strip()
        raise JobFailed(f"--apply: the patch does not apply to the working tree ({why})")
    done = git(repo, "apply", "--whitespace=nowarn", "-", input=data)
    if done.returncode != 0:
        raise JobFailed(f"--apply: git apply failed: {done.stderr.decode(errors='replace').strip()}")


def check_branch(repo: Path, branch: str) -> None:
    if not is_git_repo(repo):
        raise UserError(f"--branch needs a git repository; {repo} is a plain folder (use --apply)")
    if git(repo, "check-ref-format", "--branch", branch).returncode != 0:
        raise UserError(f"--branch {branch!r} is not a valid branch name")
    if git(repo, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}").returncode == 0:
        raise UserError(f"--branch {branch}: a branch of that name exists already; choose another name")


def commit_on_branch(repo: Path, rev: str, branch: str, patch: str, message: str) -> str:
    """Commit ``patch`` on a new ``branch`` from ``rev`` in a temporary worktree; return the commit id."""
    parent = Path(tempfile.mkdtemp(prefix="repoagent-branch-"))
    tree = parent / "tree"
    done = False
    try:
        made = git(repo, "worktree", "add", "-q", "-b", branch, str(tree), rev)
        if made.returncode != 0:
            raise JobFailed(f"--branch {branch}: {made.stderr.decode(errors='replace').strip()}")
        apply_patch(tree, patch)
        git(tree, "add", "-A")
        has_author = git(repo, "config", "user.email").returncode == 0
        commit = git(tree, *([] if has_author else AUTHOR), "commit", "-q", "-m", message)
        if commit.returncode != 0:
            raise JobFailed(f"--branch {branch}: git commit failed: {commit.stderr.decode(errors='replace').strip()}")
        sha = git(tree, "rev-parse", "HEAD").stdout.decode().strip()
        done = True
        return sha
    finally:
        git(repo, "worktree", "remove", "--force", str(tree))
        git(repo, "worktree", "prune")
        shutil.rmtree(parent, ignore_errors=True)
        if not done:  # no half-made branch is left behind
            git(repo, "branch", "-D", branch)
