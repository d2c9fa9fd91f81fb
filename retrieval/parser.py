"""Parse source bytes into symbols with tree-sitter.

The parser never fails on bad source: tree-sitter recovers from syntax errors,
the definitions that parse are kept and the file is marked ``has_errors``.
Top-level definitions and module-level blocks tile the file exactly, so the
editor can address any byte of it.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

from tree_sitter import Node, QueryCursor

from retrieval.languages import LANGUAGES, LanguageSpec, new_parser, source_query
from retrieval.symbols import ParsedFile, Symbol

# Bump when the parse output changes, so cached parses are redone.
PARSER_VERSION = "5"

_MAX_LITERALS = 200
_WS = b" \t\r\f\v"
_NEWLINE = re.compile(b"\n")
_QUOTES = re.compile(r"""^[rRbBuUfF]{0,2}('''|\"\"\"|'|"|`)(.*)\1$""", re.S)


class _Lines:
    """Byte offset to 1-based line number."""

    def __init__(self, content: bytes) -> None:
        self.starts = [0] + [m.end() for m in _NEWLINE.finditer(content)]

    def line_of(self, pos: int) -> int:
        return bisect.bisect_right(self.starts, pos)


@dataclass
class _Def:
    node: Node
    outer: Node
    name: str
    kind: str
    receiver: str | None
    start: int
    end: int


def parse_source(content: bytes, language: str) -> ParsedFile:
    """Parse ``content`` written in ``language`` (a key of ``LANGUAGES``)."""
    spec = LANGUAGES[language]
    tree = new_parser(language).parse(content)
    root = tree.root_node
    parsed = ParsedFile(
        language=language,
        size=len(content),
        has_errors=root.has_error,
        line_count=content.count(b"\n") + (0 if content.endswith(b"\n") or not content else 1),
    )
    matches = QueryCursor(source_query(spec.name)).matches(root)
    strings = [caps["string"][0] for _, caps in matches if "string" in caps]
    defs = _collect_definitions([caps for _, caps in matches if "string" not in caps], content, spec)
    lines = _Lines(content)
    parsed.symbols = _definition_symbols(defs, root, content, spec, lines)
    taken = [s for s in parsed.symbols if s.toplevel]
    parsed.symbols.extend(_module_blocks(root, content, spec, taken, lines))
    parsed.symbols.sort(key=lambda s: (s.start_byte, -s.end_byte))
    if language == "python":
        parsed.docstring = _python_docstring(root)
    parsed.literals = _string_literals(strings)
    return parsed


def _text(node: Node | None) -> str:
    if node is None or node.text is None:
        return ""
    return node.text.decode("utf-8", errors="replace")


def _line_start(content: bytes, pos: int) -> int:
    return content.rfind(b"\n", 0, pos) + 1


def _line_end(content: bytes, pos: int) -> int:
    """The byte after the newline that ends the line holding ``pos - 1``."""
    nl = content.find(b"\n", pos)
    return len(content) if nl < 0 else nl + 1


def _aligned(content: bytes, start: int, end: int) -> tuple[int, int]:
    """Widen ``[start, end)`` to whole lines where only blanks stand beside it."""
    ls = _line_start(content, start)
    if not content[ls:start].strip(_WS):
        start = ls
    le = _line_end(content, end)
    if not content[end:le].strip(_WS + b"\n"):
        end = le
    return start, end


def _collect_definitions(matches: list[dict[str, list[Node]]], content: bytes, spec: LanguageSpec) -> list[_Def]:
    seen: dict[tuple[int, int, str], _Def] = {}
    for caps in matches:
        for capture, nodes in caps.items():
            if not capture.startswith("definition."):
                continue
            node = nodes[0]
            key = (node.start_byte, node.end_byte, node.type)
            if key in seen:
                continue
            outer = node
            while outer.parent is not None and outer.parent.type in spec.wrapper_types:
                outer = outer.parent
            start = _comments_above(outer, content, spec)
            start, end = _aligned(content, start, outer.end_byte)
            receiver = caps.get("receiver")
            seen[key] = _Def(
                node=node,
                outer=outer,
                name=_text(caps["name"][0]),
                kind=capture.split(".", 1)[1],
                receiver=_text(receiver[0]) if receiver else None,
                start=start,
                end=end,
            )
    return sorted(seen.values(), key=lambda d: (d.node.start_byte, -d.node.end_byte))


def _comments_above(outer: Node, content: bytes, spec: LanguageSpec) -> int:
    """Start byte of the comment lines directly above ``outer`` (no blank line between)."""
    start = outer.start_byte
    row = outer.start_point.row
    prev = outer.prev_sibling
    while (
        prev is not None
        and prev.type in spec.comment_types
        and prev.end_point.row == row - 1
        and not content[_line_start(content, prev.start_byte) : prev.start_byte].strip(_WS)
    ):
        start, row = prev.start_byte, prev.start_point.row
        prev = prev.prev_sibling
    return start


def _definition_symbols(
    defs: list[_Def], root: Node, content: bytes, spec: LanguageSpec, lines: _Lines
) -> list[Symbol]:
    symbols: list[Symbol] = []
    stack: list[tuple[_Def, Symbol]] = []
    last_top_end = -1
    for d in defs:
        while stack and not (
            stack[-1][0].node.start_byte <= d.node.start_byte and d.node.end_byte <= stack[-1][0].node.end_byte
        ):
            stack.pop()
        parent = stack[-1][1] if stack else None
        kind = d.kind
        if parent is None:
            qualname = f"{d.receiver}.{d.name}" if d.receiver else d.name
            parent_name = d.receiver
            if d.receiver:
                kind = "method"
        elif parent.kind == "class":
            qualname, parent_name = f"{parent.qualname}.{d.name}", parent.qualname
            kind = "method" if kind == "function" else kind
        else:
            qualname, parent_name = f"{parent.qualname}.<locals>.{d.name}", parent.qualname
        toplevel = parent is None and d.outer.parent == root and d.start >= last_top_end
        if toplevel:
            last_top_end = d.end
        sym = Symbol(
            name=d.name,
            qualname=qualname,
            kind=kind,  # type: ignore[arg-type]
            start_byte=d.start,
            end_byte=d.end,
            start_line=lines.line_of(d.start),
            end_line=lines.line_of(max(d.start, d.end - 1)),
            header_byte=d.node.start_byte,
            header_line=d.node.start_point.row + 1,
            signature=_signature(d.node, content),
            docstring=_docstring(d.node, spec, content),
            decorators=_decorators(d.outer),
            parent=parent_name,
            toplevel=toplevel,
        )
        symbols.append(sym)
        stack.append((d, sym))
    return symbols


def _signature(node: Node, content: bytes) -> str:
    body = node.child_by_field_name("body")
    if body is not None and body.start_byte > node.start_byte:
        end = body.start_byte
        for child in node.children:
            if child.start_byte >= body.start_byte:
                break
            if "comment" not in child.type:
                end = child.end_byte
    else:
        end = min(node.end_byte, _line_end(content, node.start_byte))
    text = content[node.start_byte : end].decode("utf-8", errors="replace")
    text = " ".join(text.split()).rstrip(":{ ")
    return text.replace("( ", "(").replace(", )", ")").replace(" )", ")")


def _decorators(outer: Node) -> tuple[str, ...]:
    if outer.type != "decorated_definition":
        return ()
    return tuple(" ".join(_text(c).split()) for c in outer.children if c.type == "decorator")


def _dequote(text: str) -> str:
    m = _QUOTES.match(text.strip())
    return m.group(2) if m else text


def _docstring(node: Node, spec: LanguageSpec, content: bytes) -> str:
    if spec.name == "python":
        return _python_docstring(node.child_by_field_name("body"))
    prev = node.prev_sibling
    if node.parent is not None and node.parent.type in spec.wrapper_types:
        prev = node.parent.prev_sibling
    if prev is not None and prev.type in spec.comment_types:
        if prev.end_point.row >= node.start_point.row - 1:
            text = _text(prev).strip("/* \n")
            return "\n".join(line.strip().lstrip("*/ ").rstrip() for line in text.splitlines())
    return ""


def _python_docstring(body: Node | None) -> str:
    if body is None:
        return ""
    first = next((c for c in body.named_children if c.type != "comment"), None)
    if first is not None and first.type == "expression_statement" and first.named_children:
        first = first.named_children[0]
    if first is None or first.type != "string":
        return ""
    return _dequote(_text(first)).strip()


def _block_kind(node: Node, spec: LanguageSpec, first: bool) -> str:
    if node.type in spec.comment_types:
        return ""
    if spec.name == "python":
        head = node.type
        if head == "expression_statement" and node.named_children:
            head = node.named_children[0].type
        if head == "string" and first:
            return "docstring"
        if head in ("assignment", "augmented_assignment"):
            return "assignments"
        if node.type == "if_statement" and "__name__" in _text(node.child_by_field_name("condition")):
            return "main"
    return spec.block_kinds.get(node.type, "statements")


def _module_blocks(root: Node, content: bytes, spec: LanguageSpec, taken: list[Symbol], lines: _Lines) -> list[Symbol]:
    """Blocks that fill every gap between top-level definitions."""
    blocks: list[Symbol] = []
    gaps: list[tuple[int, int]] = []
    pos = 0
    for sym in sorted(taken, key=lambda s: s.start_byte):
        if sym.start_byte > pos:
            gaps.append((pos, sym.start_byte))
        pos = max(pos, sym.end_byte)
    if pos < len(content):
        gaps.append((pos, len(content)))
    children = [c for c in root.children if c.end_byte > c.start_byte]
    first_code = _first_code_byte(content)
    ci = 0
    for g0, g1 in gaps:
        while ci < len(children) and children[ci].start_byte < g0:
            ci += 1
        nodes = []
        while ci < len(children) and children[ci].end_byte <= g1:
            nodes.append(children[ci])
            ci += 1
        runs: list[tuple[str, int, int]] = []  # kind, first node start, first node row
        pending: tuple[int, int] | None = None
        prev_row = -1
        for node in nodes:
            kind = _block_kind(node, spec, first=node.start_byte == first_code)
            trailing = not kind and node.start_point.row == prev_row
            prev_row = node.end_point.row
            if trailing:  # a comment after code on the same line stays with that code
                continue
            if not kind:
                pending = pending or (node.start_byte, node.start_point.row)
                continue
            start, row = pending or (node.start_byte, node.start_point.row)
            pending = None
            if not runs or runs[-1][0] != kind:
                runs.append((kind, start, row))
        if pending is not None:
            if runs:
                pass  # trailing comments stay with the run before them
            else:
                runs.append(("comments", pending[0], pending[1]))
        if not runs:
            runs.append(("blank", g0, lines.line_of(g0) - 1))
        for i, (kind, start, row) in enumerate(runs):
            b0 = g0 if i == 0 else _aligned(content, start, start)[0]
            b1 = g1 if i == len(runs) - 1 else _aligned(content, runs[i + 1][1], runs[i + 1][1])[0]
            name = f"<{kind}:{row + 1}>"
            blocks.append(
                Symbol(
                    name=name,
                    qualname=name,
                    kind="block",
                    start_byte=b0,
                    end_byte=b1,
                    start_line=lines.line_of(b0),
                    end_line=lines.line_of(max(b0, b1 - 1)),
                    header_byte=start,
                    header_line=row + 1,
                    toplevel=True,
                    block_kind=kind,
                )
            )
    return blocks


def _first_code_byte(content: bytes) -> int:
    m = re.compile(rb"\S").search(content)
    return m.start() if m else len(content)


def _string_literals(nodes: list[Node]) -> list[str]:
    """One-line string literals long enough to match an error message quoted in an issue."""
    found: dict[str, None] = {}
    for node in sorted(nodes, key=lambda n: n.start_byte):
        if not 14 <= node.end_byte - node.start_byte <= 310 or node.start_point.row != node.end_point.row:
            continue
        text = _dequote(_text(node))
        if " " in text:
            found[text] = None
            if len(found) >= _MAX_LITERALS:
                break
    return list(found)
