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


def _enclosing(
    base: ParsedFile, new: ParsedFile, ch: _Change, base_lines: list[bytes], toplevel_only: bool = False
) -> tuple[Symbol, Symbol] | None:
    """The smallest definition holding the change on both sides (same name and occurrence).

    A change in the blank lines just after a definition on the old side (a
    method appended to a class) still belongs to it when the new side says so.
    """
    cands = sorted((s for s in new.definitions if _holds(s, ch.new)), key=lambda s: s.end_byte - s.start_byte)
    if toplevel_only:
        cands = [s for s in cands if s.toplevel]
    for sym in cands:
        old = _by_occurrence(base, sym.qualname, _occurrence(new, sym))
        if old is not None and _holds(old, ch.old, _blank_after(base_lines, old)):
            return old, sym
    return None


def _shared_neighbours(
    base: ParsedFile, new: ParsedFile, lo: int, hi: int, texts: tuple[bytes, bytes] | None = None
) -> tuple[tuple[Symbol, Symbol] | None, tuple[Symbol, Symbol] | None]:
    """The nearest top-level definitions before ``lo`` and after ``hi`` that both files have.

    With ``texts`` (before, after) they must also be unchanged, byte for byte.
    """
    hi = max(hi, lo - 1)
    tops = [s for s in base.toplevel if s.is_definition]

    def twin_of(sym: Symbol) -> Symbol | None:
        twin = _by_occurrence(new, sym.qualname, _occurrence(base, sym))
        if twin is None or not twin.toplevel:
            return None
        if texts is not None and sym.source(texts[0]) != twin.source(texts[1]):
            return None
        return twin

    before = None
    for sym in reversed([s for s in tops if s.end_line < lo]):
        twin = twin_of(sym)
        if twin is not None:
            before = (sym, twin)
            break
    after = None
    for sym in [s for s in tops if s.start_line > hi]:
        twin = twin_of(sym)
        if twin is not None and (before is None or twin.start_byte >= before[1].end_byte):
            after = (sym, twin)
            break
    return before, after


def _region_op(path: str, after: bytes, a: tuple[Symbol, Symbol] | None, b: tuple[Symbol, Symbol] | None) -> EditOp:
    code = after[a[1].end_byte if a else 0 : b[1].start_byte if b else len(after)]
    return EditOp(
        kind="replace_block",
        path=path,
        after=a[0].qualname if a else None,
        before=b[0].qualname if b else None,
        code=code.decode("utf-8", "surrogateescape"),
        line=a[0].header_line if a else None,
        verbatim=True,
    )


def gold_ops(path: str, before: bytes, after: bytes, level: int = 0) -> list[EditOp]:
    """Operations that turn ``before`` into ``after`` for one file.

    ``level`` 0 replaces the smallest enclosing definitions, 1 the enclosing
    top-level definitions, 2 one region between unchanged top-level definitions.
    """
    language = language_for_path(path)
    if language is None:
        raise ValueError(f"{path}: no parser for this kind of file")
    if not before:
        return [EditOp(kind="replace_block", path=path, code=after.decode("utf-8", "surrogateescape"), verbatim=True)]
    base, new = parse_source(before, language), parse_source(after, language)
    changes = _changes(before, after)
    if not changes:
        return []
    if level >= 2:
        lo = min(c.old[0] for c in changes)
        hi = max(max(c.old[1], c.old[0] - 1) for c in changes)
        return [_region_op(path, after, *_shared_neighbours(base, new, lo, hi, (before, after)))]
    ops: dict[tuple, tuple[int, EditOp]] = {}
    base_lines = before.splitlines()
    for ch in changes:
        pair = _enclosing(base, new, ch, base_lines, toplevel_only=level == 1)
        if pair is not None:
            old, sym = pair
            code = after[sym.start_byte : sym.end_byte].decode("utf-8", "surrogateescape")
            op = EditOp(kind="replace", path=path, target=old.qualname, code=code, line=old.header_line)
            ops[("replace", old.start_byte)] = (old.start_byte, op)
            continue
        a, b = _shared_neighbours(base, new, ch.old[0], ch.old[1])
        start = a[0].end_byte if a else 0
        ops[("block", start)] = (start, _region_op(path, after, a, b))
    # Bottom-up, so each operation's line hint still points at its target.
    return [op for _, op in sorted(ops.values(), key=lambda t: -t[0])]
