"""Working copies for sandboxes: a detached git worktree at a revision with a patch applied."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from repoagent.errors import JobFailed, UserError
from retrieval.git import git
from retrieval.source import is_git_repo

PREFIX = "repoagent-tree-"
OWNER = "owner.pid"  # beside the tree: the process that made it


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def prune_stale_trees(repo: Path) -> list[str]:
    """Remove worktrees a killed run left registered (its owner process is gone); return their paths."""
    listing = git(repo, "worktree", "list", "--porcelain").stdout.decode(errors="replace")
    removed = []
    for line in listing.splitlines():
        if not line.startswith("worktree "):
            continue
        tree = Path(line.removeprefix("worktree "))
        if not tree.parent.name.startswith(PREFIX):
            continue
        try:
            pid = int((tree.parent / OWNER).read_text().strip())
        except (OSError, ValueError):
            pid = 0
        if pid and alive(pid):
            continue
        git(repo, "worktree", "remove", "--force", str(tree))
        shutil.rmtree(tree.parent, ignore_errors=True)
        removed.append(str(tree))
    if removed:
        git(repo, "worktree", "prune")
    return removed


class PatchRejected(JobFailed):
    """``git apply`` refused the patch on the base revision (a path it will not write, a context that differs)."""


class WorkTree:
    """A temporary copy of ``repo`` at ``rev`` (default HEAD) with ``patch`` applied; removed on exit."""

    def __init__(self, repo: Path, rev: str | None = None, patch: bytes | None = None) -> None:
        self.repo = Path(repo).resolve()
        self.rev = rev
        self.patch = patch
        self.path: Path | None = None
        self._git = is_git_repo(self.repo)

    def __enter__(self) -> Path:
        if self._git:
            prune_stale_trees(self.repo)
        parent = Path(tempfile.mkdtemp(prefix=PREFIX))
        (parent / OWNER).write_text(str(os.getpid()))
        self.path = parent / "repo"
        try:
            if self._git:
                proc = git(self.repo, "worktree", "add", "--detach", "-q", str(self.path), self.rev or "HEAD")
                if proc.returncode != 0:
                    raise UserError(
                        f"cannot check out {self.rev or 'HEAD'} of {self.repo}: "
                        f"{proc.stderr.decode(errors='replace').strip()}"
                    )
            else:
                if self.rev:
                    raise UserError(f"{self.repo} is not a git repository, so --rev cannot be used")
                skip = shutil.ignore_patterns(".repoagent", "__pycache__", ".pytest_cache")
                shutil.copytree(self.repo, self.path, symlinks=True, ignore=skip)
            if self.patch:
                proc = git(self.path, "apply", "--whitespace=nowarn", "-", input=self.patch)
                if proc.returncode != 0:
                    raise PatchRejected(f"the patch does not apply: {proc.stderr.decode(errors='replace').strip()}")
        except BaseException:
            self.__exit__()
            raise
        return self.path

    def __exit__(self, *exc: object) -> None:
        if self.path is None:
            return
        if self._git:
            git(self.repo, "worktree", "remove", "--force", str(self.path))
            git(self.repo, "worktree", "prune")
        shutil.rmtree(self.path.parent, ignore_errors=True)
        self.path = None
