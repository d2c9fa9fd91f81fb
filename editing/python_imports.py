"""Imports a model writes beside a definition: taken out of the block and placed in the module's imports.

``### REPLACE pk/shapes.py::Circle.area`` with ``import math`` above the
method is the most common way a right answer adds a dependency.  The imports
at the top level of the block go to the module's import block, in the file's
own order (the group that already imports from the same package, or the
standard library's group for a standard module; sorted where that group is
sorted), and are skipped when the module already has them.
"""

from __future__ import annotations

import ast
import bisect
import sys
import textwrap

from editing import pyast
from editing.errors import EditError


def split_imports(code: str) -> tuple[str, list[ast.Import | ast.ImportFrom]]:
    """``code`` without its top-level imports, and those imports; unchanged when it is not a definition."""
    text = textwrap.dedent(code)
    try:
        tree = pyast.parse(text)
    except SyntaxError:
        return code, []
    imports = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom) and not _future(n)]
    rest = [n for n in tree.body if n not in imports]
    if not imports or not any(isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) for n in rest):
        return code, []
    lines = text.splitlines(keepends=True)
    drop = {i for n in imports for i in range(n.lineno - 1, (n.end_lineno or n.lineno))}
    kept = "".join(line for i, line in enumerate(lines) if i not in drop)
    return kept.strip("\n") + "\n", imports


def _future(node: ast.AST) -> bool:
    return isinstance(node, ast.ImportFrom) and node.module == "__future__"


def _names(node: ast.Import | ast.ImportFrom) -> set[tuple[str, str | None]]:
    return {(a.name, a.asname) for a in node.names}


def _missing(node: ast.Import | ast.ImportFrom, existing: list[ast.Import | ast.ImportFrom]) -> str | None:
    """The import statement still needed for ``node``, or None when the module has all it brings."""
    if isinstance(node, ast.Import):
        have = set().union(*(_names(e) for e in existing if isinstance(e, ast.Import)))
        wanted = [a for a in node.names if (a.name, a.asname) not in have]
        return ast.unparse(ast.Import(names=wanted)) if wanted else None
    have = set().union(
        *(
            _names(e)
            for e in existing
            if isinstance(e, ast.ImportFrom) and (e.module, e.level) == (node.module, node.level)
        )
    )
    wanted = [a for a in node.names if (a.name, a.asname) not in have]
    return ast.unparse(ast.ImportFrom(module=node.module, names=wanted, level=node.level)) if wanted else None


def _root(node: ast.Import | ast.ImportFrom) -> str:
    if isinstance(node, ast.ImportFrom):
        return "." if node.level else (node.module or "").split(".")[0]
    return node.names[0].name.split(".")[0]


def add_imports(content: bytes, imports: list[ast.Import | ast.ImportFrom], newline: str = "\n") -> bytes:
    """``content`` with the statements ``imports`` need and it lacks, placed among its leading imports."""
    if not imports:
        return content
    try:
        module = pyast.parse(content)
    except SyntaxError:
        raise EditError("the file does not parse, so the imports of the new code cannot be placed") from None
    existing = [n for n in module.body if isinstance(n, ast.Import | ast.ImportFrom)]
    lines = content.splitlines(keepends=True)
    for node in imports:
        statement = _missing(node, existing)
        if statement is None:
            continue
        at, alone = _position(module, lines, node, statement)
        block = [(statement + newline).encode()]
        if alone:  # the module's first import: a blank line on each side
            if at and lines[at - 1].strip():
                block.insert(0, newline.encode())
            if at < len(lines) and lines[at].strip():
                block.append(newline.encode())
        lines[at:at] = block
        module = pyast.parse(b"".join(lines))
        existing = [n for n in module.body if isinstance(n, ast.Import | ast.ImportFrom)]
    return b"".join(lines)


def _key(node: ast.Import | ast.ImportFrom) -> tuple[int, str]:
    """isort's default order within a group: plain imports first, then ``from`` imports, by module."""
    if isinstance(node, ast.Import):
        return (0, node.names[0].name.lower())
    return (1, "." * node.level + (node.module or "").lower())


def _position(
    module: ast.Module, lines: list[bytes], node: ast.Import | ast.ImportFrom, statement: str
) -> tuple[int, bool]:
    """The line index (0-based) to insert ``statement`` at, by the file's own order; True when it is the first."""
    body = module.body
    k = 0
    while k < len(body) and (
        isinstance(body[k], ast.Import | ast.ImportFrom)
        or (k == 0 and isinstance(body[k], ast.Expr) and isinstance(getattr(body[k], "value", None), ast.Constant))
    ):
        k += 1
    leading = [n for n in body[:k] if isinstance(n, ast.Import | ast.ImportFrom) and not _future(n)]
    if not leading:
        after = [n for n in body[:k] if not isinstance(n, ast.Import | ast.ImportFrom) or _future(n)]
        return (after[-1].end_lineno or 0) if after else 0, True  # after the docstring and __future__ imports
    groups: list[list[ast.Import | ast.ImportFrom]] = [[leading[0]]]
    for prev, cur in zip(leading, leading[1:], strict=False):
        blank = any(not lines[i].strip() for i in range((prev.end_lineno or prev.lineno), cur.lineno - 1))
        groups.append([cur]) if blank else groups[-1].append(cur)
    root = _root(node)
    stdlib = root in sys.stdlib_module_names
    group = next((g for g in groups if any(_root(n) == root for n in g)), None)
    if group is None and stdlib:
        group = next((g for g in groups if any(_root(n) in sys.stdlib_module_names for n in g)), None)
    if group is None and stdlib:  # the standard library's own group, first, as isort keeps it
        return groups[0][0].lineno - 1, True
    group = group or groups[-1]
    keys = [_key(n) for n in group]
    end = group[-1].end_lineno or group[-1].lineno
    if keys == sorted(keys):
        i = bisect.bisect(keys, _key(node))
        return (group[i].lineno - 1 if i < len(group) else end), False
    return end, False
