"""The oracle's answer sheet for one SWE-bench instance, made from its gold patch.

The sheet holds what a perfect model would say at each stage (see
``repoagent.models.oracle``): the gold files, the gold definitions, and the
code, written in the editor's answer format (whole definitions under
``### REPLACE`` / ``### BLOCK`` / ``### INSERT`` headers) at the finest
granularity whose answer, read and applied by the editor itself, gives files
AST-equal to the gold patched ones.  When no such answer exists (the patch
changes a file no parser reads, or a region the headers cannot name) the code
is the gold patch as a unified diff, which the editor also reads; ``form``
says which, and why.
"""

from __future__ import annotations

from typing import Any

from editing.answer_format import read_answer
from editing.apply import apply_ops
from editing.errors import EditError
from editing.ops import EditOp
from editing.other_formats import apply_unified_diff
from editing.patches import innermost_definitions, parse_patch
from retrieval.languages import language_for_path
from retrieval.parser import parse_source
from retrieval.source import RepoSource
from retrieval.symbols import ParsedFile, Symbol
from retrieval.testpaths import is_test_path
from swebench_runner.data.gold import ast_equal, patched_files
from swebench_runner.data.gold_ops import gold_ops


def _fenced(code: str) -> str:
    mark = "~~~" if "```" in code else "```"
    return f"{mark}\n{code if code.endswith(chr(10)) else code + chr(10)}{mark}"


def _region(parsed: ParsedFile, content: bytes, op: EditOp) -> list[Symbol]:
    """The top-level items (blocks and definitions, blank blocks aside) between ``op``'s anchors."""
    tops = {s.qualname: s for s in parsed.toplevel if s.is_definition}
    start = tops[op.after].end_byte if op.after in tops else 0
    end = tops[op.before].start_byte if op.before in tops else len(content)
    return [
        s
        for s in parsed.toplevel
        if start <= s.start_byte and s.end_byte <= end and not (s.kind == "block" and s.block_kind == "blank")
    ]


def _region_ops(op: EditOp, base: bytes, after: bytes, old: ParsedFile, new: ParsedFile) -> list[str] | None:
    """A region change as headers: each changed block as BLOCK, each changed definition as REPLACE."""
    before_items, after_items = _region(old, base, op), _region(new, after, op)
    if not before_items:
        code = op.code.strip("\n")
        if not code:
            return []
        header = f"INSERT AFTER {op.path}::{op.after}" if op.after else f"INSERT {op.path} TOP"
        return [f"### {header}\n{_fenced(code)}"]
    if len(before_items) != len(after_items):
        return None
    out = []
    for a, b in zip(before_items, after_items, strict=True):
        a_text, b_text = a.source(base), b.source(after)
        if a_text == b_text:
            continue
        if a.kind == "block" and b.kind == "block":
            out.append(f"### BLOCK {op.path}:{a.start_line}\n{_fenced(b_text.decode('utf-8', 'surrogateescape'))}")
        elif a.is_definition and b.is_definition and a.qualname == b.qualname:
            out.append(f"### REPLACE {op.path}::{a.qualname}\n{_fenced(b_text.decode('utf-8', 'surrogateescape'))}")
        else:
            return None
    return out


def render(op: EditOp, base: bytes, after: bytes, language: str) -> list[str] | None:
    """``op`` under answer-format headers, or None when no header says it."""
    if op.kind == "replace":
        return [f"### REPLACE {op.path}::{op.target}\n{_fenced(op.code)}"]
    if op.kind != "replace_block":
        return None
    if not base.strip():
        return [f"### BLOCK {op.path}:1\n{_fenced(op.code)}"]
    if op.line is not None and not (op.after or op.before):
        return [f"### BLOCK {op.path}:{op.line}\n{_fenced(op.code)}"]
    return _region_ops(op, base, after, parse_source(base, language), parse_source(after, language))


def _verify(text: str, base: dict[str, bytes], gold: dict[str, bytes]) -> str | None:
    """Why the editor does not turn ``base`` into ``gold`` with answer ``text``; None when it does."""

    def read(path: str) -> bytes:
        if path not in base or not base[path]:
            raise FileNotFoundError(path)
        return base[path]

    try:
        answer = read_answer(text)
        if answer.format == "unified_diff":
            edits = apply_unified_diff(answer.diff, read)
        else:
            edits = apply_ops(answer.ops, read)
    except (EditError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"
    result = {p: base.get(p, b"") for p in gold}
    result.update({e.path: e.after for e in edits})
    differs = [p for p in gold if not ast_equal(p, result.get(p, b""), gold[p])]
    return f"differs from the gold file: {', '.join(differs)}" if differs else None


def code_answer(source: RepoSource, patch: str) -> tuple[str, str, list[str]]:
    """The code answer for ``patch`` (its non-test files): (text, form, notes on the coarser forms tried)."""
    changed = [f for f in parse_patch(patch) if not is_test_path(f.new_path) and f.new_path != "/dev/null"]
    paths = [f.new_path for f in changed]
    deleted = [f.old_path for f in parse_patch(patch) if f.new_path == "/dev/null"]
    base, gold = patched_files(source, patch, paths)
    notes: list[str] = []
    unreadable = [p for p in paths if language_for_path(p) is None]
    if unreadable or deleted:
        notes.append(f"no definitions format for {', '.join(unreadable + deleted)}")
    else:
        for level in (0, 1, 2):
            try:
                parts = [
                    render(op, base[p], gold[p], language_for_path(p) or "")
                    for p in paths
                    for op in gold_ops(p, base[p], gold[p], level)
                ]
            except (EditError, ValueError) as exc:
                notes.append(f"level {level}: {exc}")
                continue
            if any(part is None for part in parts):
                notes.append(f"level {level}: a change no header can name")
                continue
            text = "\n\n".join(h for part in parts for h in part or [])
            why = _verify(text, base, gold)
            if why is None:
                return text, f"definitions (level {level})", notes
            notes.append(f"level {level}: {why}")
    diff = _non_test_diff(patch)
    return f"```diff\n{diff}```", "unified_diff", notes


def _non_test_diff(patch: str) -> str:
    """The file sections of ``patch`` that change no test file."""
    sections, current = [], []
    for line in patch.splitlines(keepends=True):
        if line.startswith("diff --git ") and current:
            sections.append("".join(current))
            current = []
        current.append(line)
    if current:
        sections.append("".join(current))
    keep = []
    for section in sections:
        fps = parse_patch(section)
        if fps and not any(is_test_path(f.new_path) or is_test_path(f.old_path) for f in fps):
            keep.append(section)
    return "".join(keep)


def answer_sheet(source: RepoSource, patch: str) -> dict[str, Any]:
    """Everything the oracle says for an instance whose gold patch is ``patch``, at ``source``'s commit."""
    listed = {f.path: f for f in source.files()}
    files, symbols = [], []
    for fp in parse_patch(patch):
        if fp.old_path == "/dev/null" or is_test_path(fp.old_path) or fp.old_path not in listed:
            continue
        language = language_for_path(fp.old_path)
        if language is None:  # the index holds code files only: a changelog would make stage 2 refuse the answer
            continue
        files.append(fp.old_path)
        parsed = parse_source(next(source.read([listed[fp.old_path]]))[1], language)
        names = sorted(innermost_definitions(parsed, fp.changed_lines))
        symbols += [{"path": fp.old_path, "name": name} for name in names]
    code, form, notes = code_answer(source, patch)
    new = [f.new_path for f in parse_patch(patch) if f.old_path == "/dev/null"]
    return {"files": files, "symbols": symbols, "code": code, "form": form, "notes": notes, "new_definitions": new}


def check_against_gold(source: RepoSource, patch: str, gold_patch: str) -> dict[str, Any]:
    """Whether ``patch`` applies at ``source``'s commit and leaves every non-test file it or the gold patch
    changes AST-equal to the gold patched file (what the oracle's run must give)."""
    if not patch.strip():
        return {"applies": False, "ast_equal": False, "why": "no patch"}
    paths = sorted(
        {
            f.new_path if f.new_path != "/dev/null" else f.old_path
            for f in parse_patch(patch) + parse_patch(gold_patch)
            if not is_test_path(f.new_path) and not is_test_path(f.old_path)
        }
    )
    try:
        _, mine = patched_files(source, patch, paths)
    except ValueError as exc:
        return {"applies": False, "ast_equal": False, "why": str(exc)}
    _, gold = patched_files(source, gold_patch, paths)
    differs = [p for p in paths if not ast_equal(p, mine[p], gold[p])]
    return {"applies": True, "ast_equal": not differs, "why": f"differs: {', '.join(differs)}" if differs else ""}
