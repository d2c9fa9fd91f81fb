"""Read unified diffs: the files a patch touches and the old-side lines it changes."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from retrieval.index import RepoIndex
from retrieval.symbols import ParsedFile

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


@dataclass
class FilePatch:
    old_path: str
    new_path: str
    # Old-side lines that the patch removes or inserts before.
    changed_lines: set[int] = field(default_factory=set)


def parse_patch(patch: str) -> list[FilePatch]:
    files: list[FilePatch] = []
    current: FilePatch | None = None
    old_line = 0
    for line in patch.splitlines():
        if line.startswith("diff --git "):
            m = re.match(r"diff --git a/(.*) b/(.*)", line)
            current = FilePatch(m.group(1), m.group(2)) if m else None
            if current:
                files.append(current)
            continue
        if current is None:
            continue
        m = _HUNK.match(line)
        if m:
            old_line = int(m.group(1))
            continue
        if line.startswith(("---", "+++")) and old_line == 0:
            continue
        if line.startswith("-"):
            current.changed_lines.add(old_line)
            old_line += 1
        elif line.startswith("+"):
            # An insertion belongs with the line it follows.
            current.changed_lines.add(max(1, old_line - 1))
        elif line.startswith(" "):
            old_line += 1
    return files


def innermost_definitions(parsed: ParsedFile, lines: set[int]) -> set[str]:
    """Qualified names of the innermost definitions holding any of ``lines``."""
    found: set[str] = set()
    for line in lines:
        best = None
        for sym in parsed.definitions:
            if sym.header_line <= line <= sym.end_line and (best is None or sym.start_byte >= best.start_byte):
                best = sym
        if best is not None:
            found.add(best.qualname)
    return found


def changed_definitions(index: RepoIndex, patch: str, *, tests: bool = True) -> dict[str, list[str]]:
    """Path -> qualified names of the innermost definitions ``patch`` changes in the files of ``index``.

    Files the index has not parsed map to no names; ``tests=False`` leaves test files out.
    """
    changed: dict[str, list[str]] = {}
    for fp in parse_patch(patch):
        entry = index.files.get(fp.old_path)
        if entry is not None and entry.is_test and not tests:
            continue
        parsed = entry.parsed if entry is not None else None
        changed[fp.old_path] = sorted(innermost_definitions(parsed, fp.changed_lines)) if parsed else []
    return changed
