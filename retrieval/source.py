"""Read a repository's files: a commit from git objects, a working tree, or a plain folder.

Every file is identified by a content id: the git blob id, computed the way git
does (``sha1("blob <size>\\0" + content)``) where git is not asked, so a file
read from a working tree or a plain folder gets the same id as the same bytes
committed.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import threading
import weakref
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from retrieval.errors import SourceError
from retrieval.git import git, git_process

_SKIP_DIRS = {
    ".git",
    ".hg",
    ".svn",
    "node_modules",
    "__pycache__",
    ".venv",
    "venv",
    ".tox",
    ".mypy_cache",
    ".pytest_cache",
    ".repoagent",
}


@dataclass(frozen=True)
class SourceFile:
    """One file: repository-relative POSIX path, content id and size in bytes."""

    path: str
    blob_id: str
    size: int
    kind: str = "file"  # file, symlink or submodule


def git_blob_id(content: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def _git(repo: Path, *args: str) -> bytes:
    proc = git(repo, *args)
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip().splitlines()
        raise SourceError(f"git {args[0]} failed in {repo}: {err[-1] if err else 'no message'}")
    return proc.stdout


def is_git_repo(path: Path) -> bool:
    """A repository's top folder or a bare git directory; a folder inside another repository is not one."""
    return _git_kind(path) is not None


def _git_kind(path: Path) -> str | None:
    """ "bare" (a bare git directory), "tree" (a repository's top folder), or None (not a repository, or a
    folder inside one)."""
    proc = git(path, "rev-parse", "--is-bare-repository", "--show-prefix")
    if proc.returncode != 0:
        return None
    lines = proc.stdout.decode(errors="replace").splitlines()
    if not lines:
        return None
    if lines[0] == "true":
        return "bare"
    return "tree" if len(lines) < 2 or not lines[1].strip() else None


_FEW = 16  # reads of up to this many blobs go through the source's one long-lived `git cat-file --batch`


class _BlobReader:
    """One ``git cat-file --batch`` kept open for small reads, asked one blob at a time (so neither pipe fills);
    its process ends when the source is collected, or at exit.  A warm ``localize`` on django read files 28
    times, each starting git (0.1 s in all)."""

    def __init__(self, repo: Path) -> None:
        self.repo = repo
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    def read(self, files: list[SourceFile]) -> list[tuple[SourceFile, bytes]]:
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self._proc = git_process(self.repo, "cat-file", "--batch")
                weakref.finalize(self, _end, self._proc)
            proc = self._proc
            assert proc.stdin is not None and proc.stdout is not None
            out = []
            try:
                for f in files:
                    proc.stdin.write(f.blob_id.encode() + b"\n")
                    proc.stdin.flush()
                    data = _answer(proc.stdout, f)
                    if data is not None:
                        out.append((f, data))
            except (OSError, SourceError):
                _end(proc)  # a broken conversation is not continued: the next read starts a new git
                self._proc = None
                raise
            return out


def _answer(stdout: IO[bytes], f: SourceFile) -> bytes | None:
    """``git cat-file --batch``'s answer for ``f``: its content, or None when the object is missing."""
    header = stdout.readline().split()
    if len(header) == 2 and header[1] == b"missing":
        return None
    if len(header) < 3:
        raise SourceError(f"git cat-file could not read {f.path} ({f.blob_id})")
    data = stdout.read(int(header[2]))
    stdout.read(1)
    return data


def _end(proc: subprocess.Popen[bytes]) -> None:
    for pipe in (proc.stdin, proc.stdout):
        if pipe is not None:
            pipe.close()
    proc.kill()
    proc.wait()


class RepoSource:
    """A repository at a revision (``rev``), its working tree (``rev=None``) or a plain folder."""

    def __init__(self, path: Path, rev: str | None = None) -> None:
        self.path = Path(path).resolve()
        if not self.path.exists():
            raise SourceError(f"{path}: no such folder; pass --repo a git repository or a folder")
        kind = _git_kind(self.path)
        self.is_git = kind is not None
        self.bare = kind == "bare"
        self.rev = rev
        self.commit: str | None = None
        if rev is not None:
            if not self.is_git:
                raise SourceError(f"{path} is not a git repository, so --rev {rev} cannot be read")
            try:
                self.commit = _git(self.path, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}").decode().strip()
            except SourceError:
                raise SourceError(f"{path}: no commit named {rev!r}; check the revision with git log") from None
        self._reader: _BlobReader | None = None
        if self.bare and rev is None:
            raise SourceError(f"{path} is a bare git repository: pass --rev to say which commit to read")

    @property
    def label(self) -> str:
        return f"{self.path}@{self.commit[:12]}" if self.commit else str(self.path)

    def files(self) -> list[SourceFile]:
        if self.commit is not None:
            return self._commit_files()
        if self.is_git:
            return self._worktree_files()
        return self._folder_files()

    def _commit_files(self) -> list[SourceFile]:
        out = _git(self.path, "ls-tree", "-r", "-z", "--full-tree", "-l", self.commit or "HEAD")
        files = []
        for entry in out.split(b"\0"):
            if not entry:
                continue
            meta, _, path = entry.partition(b"\t")
            mode, otype, oid, size = meta.split()
            kind = "submodule" if otype == b"commit" else "symlink" if mode == b"120000" else "file"
            if kind == "file" and not size.isdigit():
                kind = "missing"  # the object store lacks this blob (a partial or trimmed clone)
            files.append(
                SourceFile(
                    path=path.decode("utf-8", errors="surrogateescape"),
                    blob_id=oid.decode(),
                    size=int(size) if size.isdigit() else 0,
                    kind=kind,
                )
            )
        return files

    def _worktree_files(self) -> list[SourceFile]:
        out = _git(self.path, "ls-files", "-z", "--cached", "--others", "--exclude-standard", "-s")
        files: dict[str, SourceFile] = {}
        for entry in out.split(b"\0"):
            if not entry:
                continue
            if b"\t" in entry:
                meta, _, raw = entry.partition(b"\t")
                mode = meta.split()[0]
            else:  # untracked files come without stage data
                raw, mode = entry, b"100644"
            path = raw.decode("utf-8", errors="surrogateescape")
            if mode == b"160000":
                files[path] = SourceFile(path, "", 0, "submodule")
                continue
            files[path] = self._disk_file(path)
        return [f for f in files.values() if f is not None]

    def _folder_files(self) -> list[SourceFile]:
        files = []
        for dirpath, dirnames, filenames in os.walk(self.path):
            dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS)
            for name in sorted(filenames):
                rel = Path(dirpath, name).relative_to(self.path).as_posix()
                files.append(self._disk_file(rel))
        return files

    def _disk_file(self, rel: str) -> SourceFile:
        full = self.path / rel
        if full.is_symlink():
            return SourceFile(rel, "", 0, "symlink")
        if not full.is_file():  # deleted in the work tree but still in the index
            return SourceFile(rel, "", 0, "missing")
        size = full.stat().st_size
        return SourceFile(rel, "", size, "file")

    def read(self, files: Iterable[SourceFile]) -> Iterator[tuple[SourceFile, bytes]]:
        """Contents of ``files``; from the object store for a commit, else from disk.

        Files read from disk come back with their content id filled in.
        """
        files = list(files)
        if self.commit is not None:
            yield from self._read_blobs(files)
            return
        for f in files:
            data = (self.path / f.path).read_bytes()
            yield SourceFile(f.path, git_blob_id(data), len(data), f.kind), data

    def _read_blobs(self, files: list[SourceFile]) -> Iterator[tuple[SourceFile, bytes]]:
        if not files:
            return
        if len(files) <= _FEW:  # the scattered reads of retrieval and localization: one process for all of them
            if self._reader is None:
                self._reader = _BlobReader(self.path)
            yield from self._reader.read(files)
            return
        proc = git_process(self.path, "cat-file", "--batch")
        assert proc.stdin is not None and proc.stdout is not None
        stdin = proc.stdin

        def feed() -> None:  # in a thread, so a full stdout pipe cannot deadlock us
            try:
                stdin.write(b"".join(f.blob_id.encode() + b"\n" for f in files))
                stdin.close()
            except (BrokenPipeError, ValueError):
                pass

        writer = threading.Thread(target=feed, daemon=True)
        writer.start()
        try:
            for f in files:
                data = _answer(proc.stdout, f)
                if data is not None:
                    yield f, data
        finally:
            proc.stdout.close()
            proc.kill()
            proc.wait()
            writer.join(timeout=5)

    def read_one(self, path: str) -> bytes:
        for f in self.files():
            if f.path == path:
                return next(self.read([f]))[1]
        raise SourceError(f"{path} is not a file of {self.label}")
