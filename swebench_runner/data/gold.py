"""Gold patches: the files they change, and the files as they read before and after them."""

from __future__ import annotations

import ast
import tempfile
from pathlib import Path

from editing import pyast
from editing.patches import FilePatch, parse_patch
from retrieval.git import git
from retrieval.languages import language_for_path
from retrieval.source import RepoSource
from retrieval.testpaths import is_test_path

__all__ = ["FilePatch", "ast_equal", "gold_files", "parse_patch", "patched_files"]


def gold_files(patch: str) -> list[str]:
    return [f.old_path for f in parse_patch(patch) if not is_test_path(f.old_path) and f.old_path != "/dev/null"]


def patched_files(source: RepoSource, patch: str, paths: list[str]) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """Base and gold-patched contents of ``paths`` (``git apply`` in a scratch folder).

    A renamed file's base is empty under its new path: the editor can only create it.
    """
    listed = {f.path: f for f in source.files()}
    base = {p: next(source.read([listed[p]]))[1] if p in listed else b"" for p in paths}
    with tempfile.TemporaryDirectory(prefix="repoagent-gold-") as tmp:
        for rel in {fp.old_path for fp in parse_patch(patch)} | set(paths):
            if rel in listed:  # the files the patch reads, and the ones asked for (unchanged if it leaves them)
                (Path(tmp) / rel).parent.mkdir(parents=True, exist_ok=True)
                (Path(tmp) / rel).write_bytes(base[rel] if rel in base else next(source.read([listed[rel]]))[1])
        proc = git(Path(tmp), "apply", "--whitespace=nowarn", "-", input=patch.encode())
        if proc.returncode != 0:
            raise ValueError(f"git apply of the gold patch failed: {proc.stderr.decode(errors='replace')[:200]}")
        after = {p: (Path(tmp) / p).read_bytes() if (Path(tmp) / p).exists() else b"" for p in paths}
    return base, after


def ast_equal(path: str, a: bytes, b: bytes) -> bool:
    """Python files compare by syntax tree, others byte for byte."""
    if language_for_path(path) != "python":
        return a == b
    try:
        return ast.dump(pyast.parse(a)) == ast.dump(pyast.parse(b))
    except (SyntaxError, ValueError):
        return False
