"""Repositories for batch runs: one bare mirror per repository, and a sealed copy per instance.

The mirror is cloned once (``swebench.remote_url``) and fetched again only when
a base commit is missing; existing mirrors in ``--repos`` / ``--repo-map``
layouts are used as they are.  Workers share mirrors, so a lock file serialises
cloning and fetching one repository.

The agent never reads the mirror.  It works on a *sealed copy*: a bare
repository holding the base commit alone (fetched with ``--depth 1``), with no
parent, no other branch or tag, no remote, no reflog and no ``FETCH_HEAD``.
Nothing from after the base commit (the fix itself, in SWE-bench's case) can
be read from it, by the index, the model's prompts or a sandbox.
"""

from __future__ import annotations

import fcntl
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from repoagent.core.errors import UserError
from repoagent.core.gitcmd import git
from swebench_runner.repos import RepoFinder

SEALED_BRANCH = "refs/heads/base"


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _has_commit(repo: Path, commit: str) -> bool:
    return git(repo, "cat-file", "-e", f"{commit}^{{commit}}").returncode == 0


class Mirrors:
    """Bare mirrors under ``root`` (``<owner>+<name>/repo``, as ``fetch`` lays them out), or found by ``finder``."""

    def __init__(self, root: Path, remote_url: str, finder: RepoFinder | None = None) -> None:
        self.root = Path(root)
        self.remote_url = remote_url
        self.finder = finder

    def path(self, repo: str) -> Path:
        owner, _, name = repo.partition("/")
        return self.root / f"{owner}+{name}" / "repo"

    def ensure(self, repo: str, commit: str) -> Path:
        """A mirror of ``repo`` that holds ``commit``: found, cloned or fetched."""
        if self.finder is not None:
            try:
                found = self.finder.find(repo)
            except UserError:
                found = None
            if found is not None and _has_commit(found, commit):
                return found
        dest = self.path(repo)
        url = self.remote_url.format(repo=repo)
        with _locked(dest.parent / "lock"):
            if not (dest / "HEAD").exists():
                shutil.rmtree(dest, ignore_errors=True)  # a clone cut short
                proc = git(dest.parent, "clone", "--bare", "--quiet", url, str(dest))
                if proc.returncode != 0:
                    raise UserError(f"cannot clone {url}: {proc.stderr.decode(errors='replace').strip()[-300:]}")
            if not _has_commit(dest, commit):
                git(dest, "fetch", "--quiet", url, "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*")
                if not _has_commit(dest, commit):
                    git(dest, "fetch", "--quiet", url, commit)
            if not _has_commit(dest, commit):
                raise UserError(f"{repo}: commit {commit} is not in {url}")
        return dest


def sealed_copy(mirror: Path, commit: str, dest: Path) -> Path:
    """A bare repository at ``dest`` holding ``commit`` and nothing after (or before) it."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    steps = [
        ("init", "--bare", "--quiet"),
        ("config", "core.logAllRefUpdates", "false"),
        (
            "fetch",
            "--quiet",
            "--depth",
            "1",
            "--no-tags",
            "--upload-pack",
            "git -c uploadpack.allowAnySHA1InWant=true upload-pack",
            f"file://{Path(mirror).resolve()}",
            commit,
        ),
        ("update-ref", "--no-deref", SEALED_BRANCH, commit),
        ("symbolic-ref", "HEAD", SEALED_BRANCH),
    ]
    for args in steps:
        proc = git(dest, *args)
        if proc.returncode != 0:
            raise UserError(
                f"cannot make a copy of {mirror} at {commit[:12]}: git {args[0]}: "
                f"{proc.stderr.decode(errors='replace').strip()[-300:]}"
            )
    for leftover in ("FETCH_HEAD", "logs", "ORIG_HEAD"):
        target = dest / leftover
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    return dest


def reachable_commits(repo: Path) -> list[str]:
    """Every commit any ref, reflog or ``FETCH_HEAD`` of ``repo`` reaches (what a sealed copy must keep to one)."""
    proc = git(repo, "rev-list", "--all", "--reflog")
    commits = proc.stdout.decode().split()
    fetch_head = repo / "FETCH_HEAD"
    if fetch_head.exists():
        commits += [line.split()[0] for line in fetch_head.read_text().splitlines() if line.strip()]
    return sorted(set(commits))
