"""Apply ``EditOp``s to files, anchored on the parser's symbols.

Every byte outside the target stays as it was (line endings, tabs, encoding
declaration, trailing newline).  Several operations on one or more files form
one transaction: all apply, or none does.
"""

from __future__ import annotations

import ast
import codecs
import difflib
import re
import textwrap
from collections.abc import Callable
from dataclasses import dataclass

from editing import pyast
from editing.elision import elision
from editing.errors import EditError, ElisionError
from editing.gates import check_gates
from editing.indent import leading_indent, newline_of, reindent, trim_blank_edges
from editing.ops import EditOp
from editing.python_imports import add_imports, split_imports
from retrieval.errors import SourceError
from retrieval.languages import language_for_path
from retrieval.parser import parse_source
from retrieval.symbols import ParsedFile, Symbol

_COMMENT_PREFIXES = ("#", "//", "/*", "*")


@dataclass
class FileEdit:
    path: str
    before: bytes
    after: bytes


def _line_start(content: bytes, pos: int) -> int:
    return content.rfind(b"\n", 0, pos) + 1


def find_definition(parsed: ParsedFile, path: str, name: str, line: int | None = None) -> Symbol:
    """The definition called ``name``; a line hint picks among redefinitions."""
    defs = parsed.definitions
    found = [s for s in defs if s.qualname == name]
    if not found:
        found = [s for s in defs if s.qualname.endswith("." + name) and "<locals>" not in s.qualname]
    if not found:
        close = difflib.get_close_matches(name, [s.qualname for s in defs], n=5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise EditError(f"there is no definition named {name!r} in {path}{hint}")
    if len(found) == 1:
        return found[0]
    if line is not None:
        inside = [s for s in found if s.start_line <= line <= s.end_line]
        if inside:
            return inside[-1]
        return min(found, key=lambda s: abs(s.header_line - line))
    where = ", ".join(f"{s.qualname} at line {s.header_line}" for s in found)
    raise EditError(f"{name!r} is ambiguous in {path}: {where}; give the line of the one to change")


def _code_text(code: str, newline: str, indent: str) -> bytes:
    return reindent(code, indent, newline).encode("utf-8", errors="surrogateescape")


def _header_region_start(content: bytes, sym: Symbol, new_code: str) -> int:
    """Where replacement starts: keep comments and decorators above unless the new code brings its own."""
    lines = [ln.strip() for ln in trim_blank_edges(new_code)]
    has_comments = bool(lines) and lines[0].startswith(_COMMENT_PREFIXES)
    has_decorators = any(ln.startswith("@") for ln in lines[:1]) or (
        has_comments and any(ln.startswith("@") for ln in lines)
    )
    if has_comments:
        return sym.start_byte
    header = _line_start(content, sym.header_byte)
    if not has_decorators:
        return max(sym.start_byte, header)
    pos = sym.start_byte
    while pos < header:
        end = content.find(b"\n", pos, header)
        end = header if end < 0 else end + 1
        if content[pos:end].strip().startswith(b"@"):
            return pos
        pos = end
    return max(sym.start_byte, header)


def _whole_class(content: bytes, parsed: ParsedFile, op: EditOp) -> EditOp:
    """A whole class written for ``REPLACE Class.method``: the method alone if nothing else changed, else the class."""
    target = op.target or ""
    if "." not in target or language_for_path(op.path) != "python":
        return op
    owner, method = target.rsplit(".", 1)
    new = _single_class(op.code, owner.rsplit(".", 1)[-1])
    if new is None:
        return op
    cls = find_definition(parsed, op.path, owner, op.line)
    # compared, never written: a byte that is not UTF-8 reads as U+FFFD (the parser takes no lone surrogates)
    old = _single_class(content[cls.start_byte : cls.end_byte].decode("utf-8", "replace"), new[0].name)
    if old is not None and _same_apart_from(old[0], new[0], method):
        member = next(n for n in new[0].body if getattr(n, "name", None) == method)
        lines = new[1].splitlines(keepends=True)
        first = min([member.lineno, *(d.lineno for d in getattr(member, "decorator_list", []))])
        return op.model_copy(update={"code": textwrap.dedent("".join(lines[first - 1 : member.end_lineno]))})
    return op.model_copy(update={"target": cls.qualname, "line": cls.header_line})


def _parses(path: str, code: str) -> bool:
    if language_for_path(path) != "python":
        return True
    try:
        pyast.parse(textwrap.dedent(code))
    except SyntaxError:
        return False
    return True


def _single_class(code: str, name: str) -> tuple[ast.ClassDef, str] | None:
    text = textwrap.dedent(code)
    try:
        body = pyast.parse(text).body
    except SyntaxError:
        return None
    classes = [n for n in body if isinstance(n, ast.ClassDef)]
    if (
        len(classes) == 1
        and classes[0].name == name
        and all(isinstance(n, ast.ClassDef | ast.Import | ast.ImportFrom) for n in body)
    ):
        return classes[0], text
    return None


def _same_apart_from(old: ast.ClassDef, new: ast.ClassDef, method: str) -> bool:
    def members(cls: ast.ClassDef) -> list[str]:
        return [ast.dump(n) for n in cls.body if getattr(n, "name", None) != method]

    header = [ast.dump(x) for x in (*old.bases, *old.keywords, *old.decorator_list)]
    new_header = [ast.dump(x) for x in (*new.bases, *new.keywords, *new.decorator_list)]
    has_method = any(getattr(n, "name", None) == method for n in new.body)
    return has_method and header == new_header and members(old) == members(new)


def _replace(content: bytes, parsed: ParsedFile, op: EditOp) -> bytes:
    op = _whole_class(content, parsed, op)
    sym = find_definition(parsed, op.path, op.target or "", op.line)
    why = elision(content[sym.start_byte : sym.end_byte].decode("utf-8", "surrogateescape"), op.code)
    if why and _parses(op.path, op.code):  # code that does not parse gets the syntax gate's message instead
        raise ElisionError(why)
    start = _header_region_start(content, sym, op.code)
    indent = leading_indent(content[_line_start(content, sym.header_byte) : sym.header_byte + 1])
    text = _code_text(op.code, newline_of(content), indent)
    if not content[sym.start_byte : sym.end_byte].endswith(b"\n"):
        text = text.rstrip(b"\r\n")
    return content[:start] + text + content[sym.end_byte :]


def _delete(content: bytes, parsed: ParsedFile, op: EditOp) -> bytes:
    """Remove the definition with the blank lines that separate it from what precedes it."""
    sym = find_definition(parsed, op.path, op.target or "", op.line)
    start, end = sym.start_byte, sym.end_byte
    while start > 0:
        prev = _line_start(content, start - 1)
        if content[prev:start].strip():
            break
        start = prev
    if start == sym.start_byte:  # first in its scope: take the blank lines after it instead
        while end < len(content):
            nl = content.find(b"\n", end)
            line_end = len(content) if nl < 0 else nl + 1
            if content[end:line_end].strip():
                break
            end = line_end
    return content[:start] + content[end:]


def _insert(content: bytes, parsed: ParsedFile, op: EditOp) -> bytes:
    nl = newline_of(content)
    if op.position == "class_end" or (op.position is None and op.target and not op.after):
        cls = find_definition(parsed, op.path, op.target or "", op.line)
        children = [s for s in parsed.definitions if s.parent == cls.qualname and s.start_byte >= cls.start_byte]
        if children:
            indent = leading_indent(content[_line_start(content, children[0].header_byte) : children[0].header_byte])
        else:
            indent = leading_indent(content[_line_start(content, cls.header_byte) : cls.header_byte]) + "    "
        pos = cls.end_byte
        prefix = "" if content[:pos].endswith(b"\n") else nl
        return content[:pos] + (prefix + nl).encode() + _code_text(op.code, nl, indent) + content[pos:]
    if op.after or op.position == "after":
        anchor = find_definition(parsed, op.path, op.after or op.target or "", op.line)
        indent = leading_indent(content[_line_start(content, anchor.header_byte) : anchor.header_byte])
        blanks = nl * (1 if indent or parsed.language != "python" else 2)
        pos = anchor.end_byte
        prefix = "" if content[:pos].endswith(b"\n") else nl
        return content[:pos] + (prefix + blanks).encode() + _code_text(op.code, nl, indent) + content[pos:]
    code = _code_text(op.code, nl, "")
    if op.position == "module_top":
        pos = _python_top(content) if parsed.language == "python" else None
        if pos is None:
            pos = 0
            for sym in parsed.toplevel:
                if sym.kind != "block" or sym.block_kind not in ("docstring", "imports", "comments", "blank"):
                    break
                pos = sym.end_byte
        if pos and not content[:pos].endswith((nl * 2).encode()):
            code = nl.encode() + code
        return content[:pos] + code + (nl * 2).encode() + content[pos:]
    if op.position == "module_bottom":
        body = content if not content or content.endswith(b"\n") else content + nl.encode()
        return body + (nl * 2).encode() + code
    raise EditError(
        "an insert needs after=<definition>, or position class_end (with target), module_top or module_bottom"
    )


def _python_top(content: bytes) -> int | None:
    """Where a module's own code starts, for an insert at its top; None when the file does not parse.

    After its docstring and its first imports (and the blank lines after them); in a module with neither,
    after its leading comments (a licence, a coding line) up to their last blank line.
    """
    try:
        body = pyast.parse(content).body
    except (SyntaxError, ValueError):
        return None
    lines = content.splitlines(keepends=True)
    last = 0  # lines taken
    for i, node in enumerate(body):
        value = getattr(node, "value", None)
        docstring = i == 0 and isinstance(node, ast.Expr) and isinstance(value, ast.Constant)
        if (docstring and isinstance(value.value, str)) or isinstance(node, (ast.Import, ast.ImportFrom)):
            last = node.end_lineno or node.lineno
            continue
        break
    if last:
        while last < len(lines) and not lines[last].strip():
            last += 1
        return sum(len(line) for line in lines[:last])
    first = body[0].lineno - 1 if body else len(lines)  # the comments and blank lines before the first statement
    blanks = [n + 1 for n in range(first) if not lines[n].strip()]
    last = blanks[-1] if blanks else first
    return sum(len(line) for line in lines[:last])


def _block_region(content: bytes, parsed: ParsedFile, op: EditOp) -> tuple[int, int]:
    top = parsed.toplevel
    if not content.strip():  # a new (or empty) file: the block is the whole of it
        return 0, len(content)
    if op.line is not None and not (op.after or op.before):
        for sym in top:
            if sym.kind == "block" and sym.start_line <= op.line <= sym.end_line:
                return sym.start_byte, sym.end_byte
        raise EditError(f"no module-level block holds line {op.line} of {op.path}")
    start, end = 0, len(content)
    if op.after:
        sym = find_definition(parsed, op.path, op.after, op.line)
        if not sym.toplevel:
            raise EditError(f"{op.after} is not a top-level definition of {op.path}")
        start = sym.end_byte
    if op.before:
        sym = find_definition(parsed, op.path, op.before)
        if not sym.toplevel:
            raise EditError(f"{op.before} is not a top-level definition of {op.path}")
        end = sym.start_byte
    if end < start:
        raise EditError(f"{op.before} does not come after {op.after} in {op.path}")
    return start, end


def _edge_blank(text: bytes, leading: bool) -> bytes:
    lines = text.splitlines(keepends=True)
    seq = lines if leading else list(reversed(lines))
    kept = []
    for ln in seq:
        if ln.strip():
            break
        kept.append(ln)
    return b"".join(kept if leading else reversed(kept))


def _replace_block(content: bytes, parsed: ParsedFile, op: EditOp) -> bytes:
    start, end = _block_region(content, parsed, op)
    old = content[start:end]
    why = elision(old.decode("utf-8", "surrogateescape"), op.code, bare=False)
    if why:
        raise ElisionError(why)
    nl = newline_of(content)
    code = op.code.replace("\r\n", "\n")
    if nl != "\n":
        code = code.replace("\n", nl)
    new = code.encode("utf-8", errors="surrogateescape")
    if new.strip() and not op.verbatim:
        if not _edge_blank(new, True):
            new = _edge_blank(old, True) + new
        if not new.endswith(b"\n") and end < len(content):
            new += nl.encode()
        if not _edge_blank(new, False).strip(b" \t") and _edge_blank(old, False) and not new.endswith(b"\n\n"):
            new = new + _edge_blank(old, False)
    return content[:start] + new + content[end:]


_APPLY: dict[str, Callable[[bytes, ParsedFile, EditOp], bytes]] = {
    "replace": _replace,
    "delete": _delete,
    "insert": _insert,
    "replace_block": _replace_block,
}


_CODING = re.compile(rb"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)")


def declared_encoding(path: str, content: bytes) -> str | None:
    """A Python file's PEP 263 encoding when it is not UTF-8 (``# -*- coding: latin-1 -*-``), else None."""
    if language_for_path(path) != "python":
        return None
    for line in content.splitlines()[:2]:
        m = _CODING.match(line)
        if m:
            try:
                name = codecs.lookup(m.group(1).decode("ascii")).name
            except (LookupError, UnicodeDecodeError):
                return None
            return None if name == "utf-8" else name
    return None


def apply_op(content: bytes, op: EditOp) -> bytes:
    """``op`` applied to ``content``; a file in a declared encoding is edited as text and written back in it."""
    language = language_for_path(op.path)
    if language is None:
        raise EditError(f"{op.path} is not a source file repoagent can parse")
    encoding = declared_encoding(op.path, content)
    if encoding is None:
        return _APPLY[op.kind](content, parse_source(content, language), op)
    utf8 = content.decode(encoding, errors="surrogateescape").encode("utf-8", errors="surrogateescape")
    done = _APPLY[op.kind](utf8, parse_source(utf8, language), op)
    try:
        return done.decode("utf-8", errors="surrogateescape").encode(encoding, errors="surrogateescape")
    except UnicodeEncodeError as exc:
        bad = exc.object[exc.start : exc.end]
        raise EditError(f"{op.path} is declared {encoding}, which cannot hold {bad!r}; write it as an escape") from None


def apply_ops(ops: list[EditOp], read: Callable[[str], bytes], gates: bool = True) -> list[FileEdit]:
    """Apply ``ops`` in order; all or nothing.  ``read`` gives a file's current bytes."""
    before: dict[str, bytes] = {}
    after: dict[str, bytes] = {}
    for op in ops:
        if op.path not in after:
            try:
                before[op.path] = read(op.path)
            except (FileNotFoundError, KeyError, SourceError):
                before[op.path] = b"" if op.kind in ("insert", "replace_block") else _missing(op.path)
            after[op.path] = before[op.path]
        imports: list = []
        if language_for_path(op.path) == "python" and op.kind in ("replace", "insert") and after[op.path]:
            code, imports = split_imports(op.code)
            op = op.model_copy(update={"code": code}) if imports else op
        after[op.path] = apply_op(after[op.path], op)
        if imports:
            after[op.path] = add_imports(after[op.path], imports, newline_of(after[op.path]))
    if gates:
        for path, new in after.items():
            check_gates(path, before[path], new)
    return [FileEdit(p, before[p], after[p]) for p in after if after[p] != before[p]]


def _missing(path: str) -> bytes:
    raise EditError(f"{path} does not exist; only an insert or a module-level block may create a file")
