"""Answers in formats other than whole definitions: a unified diff, or SEARCH/REPLACE blocks.

They are applied only when they apply cleanly to the files as they are (a
diff through ``git apply --recount``, which forgives the hunk counts models
get wrong; a SEARCH text found exactly once); otherwise the answer goes back to
the model with the expected format.  A hunk
whose context git will not place is placed by the lines it removes.  The gates
then judge them like any edit.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from pathlib import Path

from editing.answer_format import FormatError, SearchReplace
from editing.apply import FileEdit
from editing.elision import elision
from editing.gates import check_gates
from editing.ops import repo_path_problem
from retrieval.errors import SourceError
from retrieval.git import git

Reader = Callable[[str], bytes]
EXPECTED = "or answer in the expected format: '### REPLACE path::Qualified.name' and the whole definition"


def _read_or_empty(read: Reader, path: str) -> bytes | None:
    try:
        return read(path)
    except (FileNotFoundError, KeyError, SourceError):
        return None


def diff_paths(diff: str) -> list[str]:
    """The files a unified diff names on its ``---`` and ``+++`` lines (``a/`` and ``b/`` taken off)."""
    paths = []
    for m in re.finditer(r"^(?:---|\+\+\+) (?P<path>\S+)", diff, re.M):
        path = m.group("path")
        if path != "/dev/null":
            paths.append(path[2:] if path[:2] in ("a/", "b/") else path)
    return sorted(set(paths))


def apply_unified_diff(diff: str, read: Reader) -> list[FileEdit]:
    paths = diff_paths(diff)
    if not paths:
        raise FormatError(f"the diff names no file; {EXPECTED}")
    for path in paths:
        problem = repo_path_problem(path)
        if problem:
            raise FormatError(f"the path {path!r} {problem}")
    for hunk_text in _added_and_removed(diff):
        why = elision(*hunk_text)
        if why:
            raise FormatError(why)
    before = {p: _read_or_empty(read, p) for p in paths}
    with tempfile.TemporaryDirectory(prefix="repoagent-diff-") as tmp:
        root = Path(tmp)
        for path, data in before.items():
            if data is not None:
                (root / path).parent.mkdir(parents=True, exist_ok=True)
                (root / path).write_bytes(data)
        text = diff if diff.endswith("\n") else diff + "\n"
        proc = git(root, "apply", "--recount", "--whitespace=nowarn", "-", input=text.encode("utf-8"))
        if proc.returncode != 0 and all(old for old, _ in _added_and_removed(diff)):
            # Hunks with uneven context (one line above, none below) are anchored to the file's end by
            # git; where every hunk removes lines, those lines alone place it (-C0), as patch(1) would.
            proc = git(root, "apply", "--recount", "-C0", "--whitespace=nowarn", "-", input=text.encode("utf-8"))
        if proc.returncode != 0:
            why = proc.stderr.decode(errors="replace").strip().splitlines()
            raise FormatError(f"the diff does not apply to the files as they are ({why[-1] if why else 'no reason'}); "
                              + EXPECTED)  # fmt: skip
        after = {p: (root / p).read_bytes() if (root / p).exists() else None for p in paths}
    edits = []
    for path in paths:
        old, new = before[path] or b"", after[path]
        if new is None:
            raise FormatError(f"the diff deletes {path}; files are not deleted this way, {EXPECTED}")
        if new != old:
            check_gates(path, old, new)
            edits.append(FileEdit(path, old, new))
    return edits


def _added_and_removed(diff: str) -> list[tuple[str, str]]:
    """Per hunk: its removed lines and its added lines, as the old and new text the elision check compares."""
    out: list[tuple[str, str]] = []
    old: list[str] = []
    new: list[str] = []
    for line in diff.splitlines():
        if line.startswith("@@"):
            if old or new:
                out.append(("\n".join(old), "\n".join(new)))
            old, new = [], []
        elif line.startswith("-") and not line.startswith("---"):
            old.append(line[1:])
        elif line.startswith("+") and not line.startswith("+++"):
            new.append(line[1:])
    if old or new:
        out.append(("\n".join(old), "\n".join(new)))
    return out


def apply_search_replace(blocks: list[SearchReplace], read: Reader) -> list[FileEdit]:
    before: dict[str, bytes] = {}
    after: dict[str, bytes] = {}
    for block in blocks:
        if block.path not in after:
            data = _read_or_empty(read, block.path)
            before[block.path] = data or b""
            after[block.path] = before[block.path]
        text = after[block.path].decode("utf-8", errors="surrogateescape")
        why = elision(block.search, block.replace)
        if why:
            raise FormatError(why)
        if not block.search.strip():
            if text.strip():
                raise FormatError(f"an empty SEARCH can only create a new file, and {block.path} exists; {EXPECTED}")
            text = block.replace
        else:
            count = text.count(block.search)
            if count != 1:
                where = "was not found" if count == 0 else f"was found {count} times"
                raise FormatError(f"the SEARCH text {where} in {block.path}; copy it exactly, {EXPECTED}")
            text = text.replace(block.search, block.replace, 1)
        after[block.path] = text.encode("utf-8", errors="surrogateescape")
    edits = []
    for path, new in after.items():
        if new != before[path]:
            check_gates(path, before[path], new)
            edits.append(FileEdit(path, before[path], new))
    return edits
