"""Express a patch as whole-definition ``EditOp``s: the smallest enclosing definition of each change.

A change inside a definition that exists before and after becomes a
``replace`` of that definition with its patched text; a change between
top-level definitions (imports, constants, added or removed definitions)
becomes a ``replace_block`` of the region between the top-level definitions
around it.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from editing.ops import EditOp
from retrieval.languages import language_for_path
from retrieval.parser import parse_source
from retrieval.symbols import ParsedFile, Symbol


@dataclass
class _Change:
    old: tuple[int, int]  # 1-based inclusive line span in the base file (may be empty: start > end)
    new: tuple[int, int]


def _trim(lines: list[bytes], lo: int, hi: int) -> tuple[int, int]:
    """Narrow the 1-based span [lo, hi] past blank lines at its edges (unless all are blank)."""
    a, b = lo, hi
    while a <= b and not lines[a - 1].strip():
        a += 1
    while b >= a and not lines[b - 1].strip():
        b -= 1
    return (a, b) if a <= b else (lo, hi)


def _changes(before: bytes, after: bytes) -> list[_Change]:
    a, b = before.splitlines(keepends=True), after.splitlines(keepends=True)
    out = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag != "equal":
            out.append(_Change(_trim(a, i1 + 1, i2), _trim(b, j1 + 1, j2)))
    return out


def _occurrence(parsed: ParsedFile, sym: Symbol) -> int:
    same = [s for s in parsed.definitions if s.qualname == sym.qualname]
    return same.index(sym)


def _by_occurrence(parsed: ParsedFile, qualname: str, k: int) -> Symbol | None:
    same = [s for s in parsed.definitions if s.qualname == qualname]
    return same[k] if k < len(same) else None


def _holds(sym: Symbol, span: tuple[int, int], slack: int = 0) -> bool:
    """Whether ``span`` lies in ``sym``; ``slack`` blank lines after it count as inside."""
    lo, hi = span
    if lo > hi:  # pure insertion before line lo: inside only if strictly within the body
        return sym.header_line < lo <= sym.end_line + 1 + slack
    return sym.start_line <= lo and hi <= sym.end_line + slack


def _blank_after(lines: list[bytes], sym: Symbol) -> int:
    n = 0
    while sym.end_line + n < len(lines) and not lines[sym.end_line + n].strip():
        n += 1
    return n


def _enclosing(base: ParsedFile, new: ParsedFile, ch: _Change, base_lines: list[bytes]) -> tuple[Symbol, Symbol] | None:
    """The smallest definition holding the change on both sides (same name and occurrence).

    A change in the blank lines just after a definition on the old side (a
    method appended to a class) still belongs to it when the new side says so.
    """
    cands = sorted((s for s in new.definitions if _holds(s, ch.new)), key=lambda s: s.end_byte - s.start_byte)
    for sym in cands:
        old = _by_occurrence(base, sym.qualname, _occurrence(new, sym))
        if old is not None and _holds(old, ch.old, _blank_after(base_lines, old)):
            return old, sym
    return None


def _neighbours(parsed: ParsedFile, span: tuple[int, int]) -> tuple[Symbol | None, Symbol | None]:
    lo, hi = span
    hi = max(hi, lo - 1)
    tops = [s for s in parsed.toplevel if s.is_definition]
    after = [s for s in tops if s.end_line < lo]
    before = [s for s in tops if s.start_line > hi]
    return (after[-1] if after else None), (before[0] if before else None)


def gold_ops(path: str, before: bytes, after: bytes) -> list[EditOp]:
    """Operations that turn ``before`` into ``after`` for one file."""
    language = language_for_path(path)
    if language is None:
        raise ValueError(f"{path}: no parser for this kind of file")
    if not before:
        return [EditOp(kind="replace_block", path=path, code=after.decode("utf-8", "surrogateescape"), verbatim=True)]
    base, new = parse_source(before, language), parse_source(after, language)
    ops: dict[tuple, tuple[int, EditOp]] = {}
    regions: list[tuple[int, int, Symbol | None, Symbol | None]] = []
    base_lines = before.splitlines()
    for ch in _changes(before, after):
        pair = _enclosing(base, new, ch, base_lines)
        if pair is not None:
            old, sym = pair
            key = ("replace", old.qualname, old.start_byte)
            code = after[sym.start_byte : sym.end_byte].decode("utf-8", "surrogateescape")
            ops[key] = (
                old.start_byte,
                EditOp(kind="replace", path=path, target=old.qualname, code=code, line=old.header_line),
            )
            continue
        regions.append((ch.old[0], ch.old[1], *_neighbours(base, ch.old)))
    for a, b in _merge_regions(regions):
        start = a.end_byte if a else 0
        end = b.start_byte if b else len(before)
        new_a = _by_occurrence(new, a.qualname, _occurrence(base, a)) if a else None
        new_b = _by_occurrence(new, b.qualname, _occurrence(base, b)) if b else None
        if (a and new_a is None) or (b and new_b is None):
            raise ValueError(f"{path}: the definitions around a change are not both in the patched file")
        code = after[new_a.end_byte if new_a else 0 : new_b.start_byte if new_b else len(after)]
        op = EditOp(
            kind="replace_block",
            path=path,
            after=a.qualname if a else None,
            before=b.qualname if b else None,
            code=code.decode("utf-8", "surrogateescape"),
            line=a.header_line if a else None,
            verbatim=True,
        )
        ops[("block", start, end)] = (start, op)
    # Bottom-up, so each operation's line hint still points at its target.
    return [op for _, op in sorted(ops.values(), key=lambda t: -t[0])]


def _merge_regions(regions: list) -> list[tuple[Symbol | None, Symbol | None]]:
    seen: dict[tuple, tuple[Symbol | None, Symbol | None]] = {}
    for _, _, a, b in regions:
        key = (a.start_byte if a else -1, b.start_byte if b else -1)
        seen[key] = (a, b)
    return list(seen.values())
