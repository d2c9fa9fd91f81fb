"""Unified diffs in git's format that ``git apply`` takes on the base revision, byte for byte."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from editing.apply import FileEdit

_NO_NL = "\\ No newline at end of file\n"


def _range(start: int, count: int) -> str:
    if count == 1:
        return f"{start + 1}"
    return f"{start + 1 if count else start},{count}"


def _lines(data: bytes) -> list[str]:
    # surrogateescape keeps any byte sequence intact through str and back.
    return data.decode("utf-8", errors="surrogateescape").splitlines(keepends=True)


def _emit(prefix: str, line: str, out: list[str]) -> None:
    out.append(prefix + line)
    if not line.endswith("\n"):
        out.append("\n" + _NO_NL)


def file_diff(edit: FileEdit, context: int = 3) -> str:
    a, b = _lines(edit.before), _lines(edit.after)
    if a == b:
        return ""
    out = [f"diff --git a/{edit.path} b/{edit.path}\n"]
    if not edit.before:
        out += ["new file mode 100644\n", "--- /dev/null\n", f"+++ b/{edit.path}\n"]
    else:
        out += [f"--- a/{edit.path}\n", f"+++ b/{edit.path}\n"]
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for group in matcher.get_grouped_opcodes(context):
        i1, i2, j1, j2 = group[0][1], group[-1][2], group[0][3], group[-1][4]
        out.append(f"@@ -{_range(i1, i2 - i1)} +{_range(j1, j2 - j1)} @@\n")
        for tag, x1, x2, y1, y2 in group:
            if tag == "equal":
                for line in a[x1:x2]:
                    _emit(" ", line, out)
                continue
            for line in a[x1:x2]:
                _emit("-", line, out)
            for line in b[y1:y2]:
                _emit("+", line, out)
    return "".join(out)


def unified_diff(edits: Iterable[FileEdit]) -> str:
    """One patch for all edits, files in path order."""
    parts = [file_diff(e) for e in sorted(edits, key=lambda e: e.path)]
    return "".join(p for p in parts if p)


def patch_bytes(edits: Iterable[FileEdit]) -> bytes:
    """The patch as bytes, with any non-UTF-8 bytes of the files restored exactly."""
    return unified_diff(edits).encode("utf-8", errors="surrogateescape")
