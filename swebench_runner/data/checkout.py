"""Repositories for batch runs: one bare mirror per repository, and a sealed copy per instance.

The mirror is cloned once (``swebench.remote_url``) and fetched again only when
a base commit is missing; existing mirrors in ``--repos`` / ``--repo-map``
layouts are used as they are.  Workers share mirrors, so a lock file serialises
cloning and fetching one repository.

The agent never reads the mirror.  It works on a *sealed copy*: a bare
repository holding the base commit and its last 1,000 ancestors (fetched with
``--depth 1001``: the history the learned ranker reads), with no other branch
or tag, no remote, no reflog and no ``FETCH_HEAD``.  Nothing from after the
base commit (the fix itself, in SWE-bench's case) can be read from it, by the
index, the model's prompts or a sandbox.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from repoagent.errors import UserError
from repoagent.locks import file_lock
from retrieval.git import git
from retrieval.history import WINDOWS
from swebench_runner.data.repos import RepoFinder

SEALED_BRANCH = "refs/heads/base"
# Commits before the base that the agent's sealed copy keeps: the window of the history columns.
HISTORY_ANCESTORS = WINDOWS[-1]


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
        lacking = ""  # a mirror given that has not the commit: said when the clone fails too
        if self.finder is not None:
            try:
                found = self.finder.find(repo)
            except UserError:
                found = None
            if found is not None and _has_commit(found, commit):
                return found
            lacking = f"{repo}: commit {commit} is not in {found}; " if found is not None else ""
        dest = self.path(repo)
        url = self.remote_url.format(repo=repo)
        with file_lock(dest.parent / "lock"):
            if not (dest / "HEAD").exists():
                shutil.rmtree(dest, ignore_errors=True)  # a clone cut short
                proc = git(dest.parent, "clone", "--bare", "--quiet", url, str(dest))
                if proc.returncode != 0:
                    said = proc.stderr.decode(errors="replace").strip()[-300:]
                    raise UserError(f"{lacking}cannot clone {url} for commit {commit}: {said}")
            if not _has_commit(dest, commit):
                git(dest, "fetch", "--quiet", url, "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*")
                if not _has_commit(dest, commit):
                    git(dest, "fetch", "--quiet", url, commit)
            if not _has_commit(dest, commit):
                raise UserError(f"{repo}: commit {commit} is not in {url}")
        return dest


@dataclass
class Sealed:
    """A sealed copy: its path, the commit to work on, and the files a partial mirror could not give."""

    path: Path
    commit: str
    missing: list[str]


def sealed_copy(mirror: Path, commit: str, dest: Path, ancestors: int = 0) -> Sealed:
    """A bare repository at ``dest`` holding ``commit``, up to ``ancestors`` of the commits before it, and
    nothing after it.

    The agent's copy keeps the last commits before the base (``HISTORY_ANCESTORS``: what the learned file
    ranker's history columns read, about 20 MB for ansible's last 1,000); copies for building environments and
    grading hold the base commit alone.  A mirror that lacks some of the older objects gives the base commit
    alone; one that lacks some of the commit's own (a partial clone) cannot serve a shallow fetch at all: then
    the copy is a new one-commit repository made from the files it has, and ``missing`` lists the files left out.
    """
    for depth in dict.fromkeys((1 + ancestors, 1)):
        try:
            return Sealed(_shallow_copy(mirror, commit, dest, depth), commit, [])
        except UserError as exc:
            if "unable to read" not in str(exc) and "corrupt" not in str(exc):
                raise
    return _rebuilt_copy(mirror, commit, dest)


def _fresh(dest: Path) -> None:
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)


def _run(dest: Path, *args: str, input: bytes | None = None) -> bytes:
    proc = git(dest, *args, input=input)
    if proc.returncode != 0:
        raise UserError(
            f"cannot make a sealed copy: git {args[0]}: {proc.stderr.decode(errors='replace').strip()[-300:]}"
        )
    return proc.stdout


def _shallow_copy(mirror: Path, commit: str, dest: Path, depth: int) -> Path:
    _fresh(dest)
    _run(dest, "init", "--bare", "--quiet")
    _run(dest, "config", "core.logAllRefUpdates", "false")
    upload = "git -c uploadpack.allowAnySHA1InWant=true upload-pack"
    _run(
        dest,
        "fetch",
        "--quiet",
        "--depth",
        str(depth),
        "--no-tags",
        "--upload-pack",
        upload,
        f"file://{Path(mirror).resolve()}",
        commit,
    )
    _run(dest, "update-ref", "--no-deref", SEALED_BRANCH, commit)
    _run(dest, "symbolic-ref", "HEAD", SEALED_BRANCH)
    for leftover in ("FETCH_HEAD", "logs", "ORIG_HEAD"):
        target = dest / leftover
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    return dest


def _rebuilt_copy(mirror: Path, commit: str, dest: Path) -> Sealed:
    """A one-commit repository of ``commit``'s files that the mirror has (its tree, blob by blob)."""
    listing = _run(mirror, "ls-tree", "-r", "-z", "--full-tree", commit).split(b"\0")
    entries = []
    for item in listing:
        if item:
            meta, _, path = item.partition(b"\t")
            mode, kind, sha = meta.split()
            if kind == b"blob":
                entries.append((mode.decode(), sha.decode(), path.decode("utf-8", "surrogateescape")))
    _fresh(dest)
    _run(dest, "init", "--bare", "--quiet")
    _run(dest, "config", "core.logAllRefUpdates", "false")
    present = _present_objects(mirror, [sha for _, sha, _ in entries])
    missing = [path for _, sha, path in entries if sha not in present or "\n" in path or path.startswith('"')]
    kept = [(mode, sha, path) for mode, sha, path in entries if path not in set(missing)]
    reader = subprocess.Popen(
        ["git", "-C", str(mirror), "cat-file", "--batch"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    importer = subprocess.Popen(
        ["git", "-C", str(dest), "fast-import", "--quiet", "--date-format=raw"],
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert reader.stdin and reader.stdout and importer.stdin
    try:
        for n, (_, sha, _) in enumerate(kept, 1):  # each blob once, under a mark
            reader.stdin.write(sha.encode() + b"\n")
            reader.stdin.flush()
            size = int(reader.stdout.readline().split()[2])
            data = reader.stdout.read(size)
            reader.stdout.read(1)
            importer.stdin.write(b"blob\nmark :%d\ndata %d\n" % (n, size) + data + b"\n")
        message = f"the files of {commit} this mirror has".encode()
        head = b"commit %s\ncommitter repoagent <repoagent@localhost> 946684800 +0000\n" % SEALED_BRANCH.encode()
        importer.stdin.write(head + b"data %d\n" % len(message) + message + b"\n")
        for n, (mode, _, path) in enumerate(kept, 1):
            importer.stdin.write(f"M {mode} :{n} {path}\n".encode("utf-8", "surrogateescape"))
        importer.stdin.close()
        if importer.wait() != 0:
            why = importer.stderr.read().decode(errors="replace")[-300:] if importer.stderr else ""
            raise UserError(f"cannot make a sealed copy of {mirror} at {commit[:12]}: {why}")
    finally:
        reader.kill()
        reader.wait()
        importer.kill()
        importer.wait()
    _run(dest, "symbolic-ref", "HEAD", SEALED_BRANCH)
    made = _run(dest, "rev-parse", SEALED_BRANCH).decode().strip()
    for leftover in ("logs", "FETCH_HEAD"):
        target = dest / leftover
        if target.is_dir():
            shutil.rmtree(target)
    return Sealed(dest, made, missing)


def _present_objects(repo: Path, shas: list[str]) -> set[str]:
    proc = git(repo, "cat-file", "--batch-check", input="".join(f"{s}\n" for s in shas).encode())
    return {line.split()[0] for line in proc.stdout.decode().splitlines() if line and not line.endswith("missing")}


def reachable_commits(repo: Path) -> list[str]:
    """Every commit any ref, reflog or ``FETCH_HEAD`` of ``repo`` reaches (what a sealed copy must keep to one)."""
    proc = git(repo, "rev-list", "--all", "--reflog")
    commits = proc.stdout.decode().split()
    fetch_head = repo / "FETCH_HEAD"
    if fetch_head.exists():
        commits += [line.split()[0] for line in fetch_head.read_text().splitlines() if line.strip()]
    return sorted(set(commits))
