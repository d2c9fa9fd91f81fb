"""File maps and schematic maps: what the model reads to choose files and symbols.

Both are deterministic and cut to a token budget (about four characters a
token, the usual rule of thumb for code; a cut map says what it left out).
"""

from __future__ import annotations

from collections.abc import Iterable

from retrieval.index import IndexedFile, RepoIndex
from retrieval.symbols import Symbol


def estimate_tokens(text: str) -> int:
    return (len(text) + 3) // 4


def _file_entry(entry: IndexedFile) -> list[str]:
    lines = [entry.path]
    for sym in entry.symbols:
        if sym.toplevel and sym.is_definition:
            keyword = "class" if sym.kind == "class" else "def"
            lines.append(f"  {keyword} {sym.name}")
    return lines


def file_map(index: RepoIndex, paths: Iterable[str] | None = None, budget: int = 4000) -> str:
    """The files ``paths`` (default: every file, sorted) with their top-level definitions.

    Files are taken in the order given; one that does not fit whole is shown by
    its path and definition count, and the map ends when not even that fits.
    """
    order = list(paths) if paths is not None else sorted(index.files)
    out: list[str] = []
    used = 0
    for n, path in enumerate(order):
        entry = index.files.get(path)
        if entry is None:
            continue
        lines = _file_entry(entry)
        cost = estimate_tokens("\n".join(lines)) + 1
        if used + cost > budget:
            lines = [f"{path}  ({len(lines) - 1} definitions)" if len(lines) > 1 else path]
            cost = estimate_tokens(lines[0]) + 1
            if used + cost > budget - 12:
                out.append(f"... {len(order) - n} more files not shown")
                break
        out.extend(lines)
        used += cost
    return "\n".join(out) + "\n"


def _schematic_lines(sym: Symbol, depth: int, docstrings: bool, width: int) -> list[str]:
    pad = "    " * depth
    blank = " " * width + " │ "
    lines = [f"{blank}{pad}{d}" for d in sym.decorators]
    suffix = ":" if sym.signature.startswith(("def ", "class ", "async def ")) else ""
    body = " ..." if sym.kind != "class" else ""
    lines.append(f"{sym.header_line:>{width}} │ {pad}{sym.signature}{suffix}{body}")
    if docstrings and sym.docstring:
        first = sym.docstring.strip().splitlines()[0].strip()
        lines.append(
            f'{blank}{pad}    """{first}"""'
            if sym.signature.startswith(("def ", "class ", "async "))
            else f"{blank}{pad}    // {first}"
        )
    return lines


def schematic_map(index: RepoIndex, path: str, budget: int = 2000) -> str:
    """Classes, functions and method signatures of one file, bodies elided, with line numbers."""
    entry = index.files.get(path)
    if entry is None or entry.parsed is None:
        return f"{path}\n  (no symbols: not a parsed source file)\n"
    parsed = entry.parsed
    width = max(4, len(str(parsed.line_count)))
    shown = [
        s
        for s in parsed.symbols
        if "<locals>" not in s.qualname and (s.is_definition or s.block_kind not in ("blank", "comments"))
    ]
    depth = {s.qualname: s.qualname.count(".") if s.parent and "." in s.qualname else 0 for s in shown}
    for docstrings in (True, False):
        head = f"{path} ({parsed.line_count} lines{', has syntax errors' if parsed.has_errors else ''})"
        lines = [head]
        for sym in shown:
            if sym.kind == "block":
                lines.append(f"{sym.header_line:>{width}} │ [{sym.block_kind}, lines {sym.header_line}-{sym.end_line}]")
            else:
                lines.extend(_schematic_lines(sym, depth[sym.qualname], docstrings, width))
        text = "\n".join(lines) + "\n"
        if estimate_tokens(text) <= budget:
            return text
    kept: list[str] = []
    used = 0
    for n, line in enumerate(lines):
        used += estimate_tokens(line) + 1
        if used > budget - 12:
            kept.append(f"... {len(lines) - n} more lines not shown")
            break
        kept.append(line)
    return "\n".join(kept) + "\n"
