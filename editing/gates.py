"""Gates a candidate passes before it is accepted: it parses, and it lints no worse.

The lint gate counts only fatal kinds (undefined names, names undefined in
``__all__``, locals used before assignment) and only those the edit added, so
a file that was already untidy is not blamed on the candidate.
"""

from __future__ import annotations

import ast
from collections import Counter

from tree_sitter import Node

from editing.errors import GateError
from retrieval.languages import language_for_path, new_parser

_FATAL = ("UndefinedName", "UndefinedExport", "UndefinedLocal")


def _first_error(node: Node) -> Node | None:
    if node.type == "ERROR" or node.is_missing:
        return node
    if not node.has_error:
        return None
    for child in node.children:
        found = _first_error(child)
        if found is not None:
            return found
    return node


def check_syntax(path: str, content: bytes) -> None:
    language = language_for_path(path)
    if language is None:
        return
    if language == "python":
        try:
            compile(content, path, "exec", dont_inherit=True, flags=ast.PyCF_ONLY_AST)
        except SyntaxError as exc:
            raise GateError("syntax", path, f"line {exc.lineno}: {exc.msg}") from None
        except ValueError as exc:  # null bytes
            raise GateError("syntax", path, str(exc)) from None
    tree = new_parser(language).parse(content)
    if tree.root_node.has_error:
        bad = _first_error(tree.root_node)
        row = (bad.start_point.row + 1) if bad is not None else 0
        what = f"missing {bad.type}" if bad is not None and bad.is_missing else "unexpected code"
        line = content.splitlines()[row - 1].decode("utf-8", "replace").strip() if row else ""
        raise GateError("syntax", path, f"line {row}: {what}: {line[:80]}")


def fatal_lint(path: str, content: bytes) -> Counter[tuple[str, str]]:
    """Fatal pyflakes findings as (kind, message without position) counts."""
    if language_for_path(path) != "python":
        return Counter()
    from pyflakes import checker

    try:
        tree = ast.parse(content, filename=path)
    except (SyntaxError, ValueError):
        return Counter()
    found: Counter[tuple[str, str]] = Counter()
    for msg in checker.Checker(tree, filename=path).messages:
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
    check_syntax(path, after)
    check_lint(path, before, after)
