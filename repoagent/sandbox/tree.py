"""Working copies for sandboxes: a detached git worktree at a revision with a patch applied."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from repoagent.core.errors import JobFailed, UserError
from repoagent.core.gitcmd import git
from retrieval.source import is_git_repo


class WorkTree:
    """A temporary copy of ``repo`` at ``rev`` (default HEAD) with ``patch`` applied; removed on exit."""

    def __init__(self, repo: Path, rev: str | None = None, patch: bytes | None = None) -> None:
        self.repo = Path(repo).resolve()
        self.rev = rev
        self.patch = patch
        self.path: Path | None = None
        self._git = is_git_repo(self.repo)

    def __enter__(self) -> Path:
        parent = Path(tempfile.mkdtemp(prefix="repoagent-tree-"))
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
                    raise JobFailed(f"the patch does not apply: {proc.stderr.decode(errors='replace').strip()}")
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
