"""Gates a candidate passes before it is accepted: it adds no syntax error, and it lints no worse.

The lint gate counts only fatal kinds (undefined names, names undefined in
``__all__``, locals used before assignment) and only those the edit added, so
a file that was already untidy is not blamed on the candidate.
"""

from __future__ import annotations

import difflib
from collections import Counter

from tree_sitter import Node

from editing import pyast
from editing.errors import GateError
from retrieval.languages import language_for_path, new_parser

_FATAL = ("UndefinedName", "UndefinedExport", "UndefinedLocal")


def _error_nodes(node: Node, out: list[Node]) -> list[Node]:
    """Every ERROR or MISSING node, outermost first (a subtree without errors is not entered)."""
    if node.type == "ERROR" or node.is_missing:
        out.append(node)
        return out
    if node.has_error:
        for child in node.children:
            _error_nodes(child, out)
    return out


def _compiles(path: str, content: bytes) -> str | None:
    """None when Python compiles ``content``, else the error, as ``line N: message``."""
    try:
        pyast.parse(content, filename=path)
    except SyntaxError as exc:
        return f"line {exc.lineno}: {exc.msg}"
    except ValueError as exc:  # null bytes
        return str(exc)
    return None


def _changed_rows(before: bytes, after: bytes) -> set[int]:
    """0-based rows of ``after`` that the edit wrote (inserted or replaced lines)."""
    a, b = before.splitlines(), after.splitlines()
    rows: set[int] = set()
    for tag, _, _, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag != "equal":
            rows.update(range(j1, max(j2, j1 + 1)))
    return rows


def check_syntax(path: str, after: bytes, before: bytes = b"") -> None:
    """Refuse an edit for the syntax errors it adds, never for those the file had.

    For Python, ``compile()`` is the authority wherever the original compiled
    (the bundled grammar reports some valid code, such as ``f"{x:=}"``, as an
    error).  Elsewhere, tree-sitter's errors are compared: an error inside the
    lines the edit wrote, or more errors than before, refuse it.
    """
    language = language_for_path(path)
    if language is None:
        return
    if language == "python" and _compiles(path, before) is None:
        problem = _compiles(path, after)
        if problem:
            raise GateError("syntax", path, problem)
        return
    parser = new_parser(language)
    old = _error_nodes(parser.parse(before).root_node, []) if before else []
    new = _error_nodes(parser.parse(after).root_node, [])
    rows = _changed_rows(before, after)
    inside = [n for n in new if any(r in rows for r in range(n.start_point.row, n.end_point.row + 1))]
    if inside or len(new) > len(old):
        bad = (inside or new)[0]
        row = bad.start_point.row + 1
        what = f"missing {bad.type}" if bad.is_missing else "unexpected code"
        line = after.splitlines()[row - 1].decode("utf-8", "replace").strip() if row <= len(after.splitlines()) else ""
        raise GateError("syntax", path, f"line {row}: {what}: {line[:80]}")


def fatal_lint(path: str, content: bytes) -> Counter[tuple[str, str]]:
    """Fatal pyflakes findings as (kind, message without position) counts."""
    if language_for_path(path) != "python":
        return Counter()
    from pyflakes import checker

    try:
        tree = pyast.parse(content, filename=path)
    except (SyntaxError, ValueError):
        return Counter()
    found: Counter[tuple[str, str]] = Counter()
    with pyast.exclusive():  # pyflakes parses string annotations and doctests with ast.parse too
        messages = checker.Checker(tree, filename=path).messages
    for msg in messages:
        kind = type(msg).__name__
        if kind in _FATAL:
            found[(kind, msg.message % msg.message_args)] += 1
    return found


def check_lint(path: str, before: bytes, after: bytes) -> None:
    new = fatal_lint(path, after) - fatal_lint(path, before)
    if new:
        items = "; ".join(sorted(message for _, message in new))
        raise GateError("lint", path, items)


def check_gates(path: str, before: bytes, after: bytes) -> None:
    check_syntax(path, after, before)
    check_lint(path, before, after)
