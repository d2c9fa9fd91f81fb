"""Read the model's answer into edits: definitions under headers, or a unified diff, or SEARCH/REPLACE blocks.

The asked-for format is one fenced block of whole definitions per header
(``### REPLACE path::Qualified.name``).  Usual slips are tolerated: a missing
language tag, ``~~~`` fences, prose around the blocks, a header in bold or
without hashes (then its verb is required), a path in backticks or with a
leading ``./``, a header without its verb (taken as REPLACE), a lone code block
with no header when only one definition was asked about and the block defines
it.  Formats models know from other tools are read too: a unified diff, and
SEARCH/REPLACE blocks; ``Answer.format`` says which one came.  Nothing else is
guessed: a ``###`` line that names an edit but is not a valid header, or a path
that leaves the repository, is a ``FormatError`` sent back to the model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from pydantic import ValidationError

from editing.ops import EditOp, repo_path_problem


class FormatError(ValueError):
    """The answer cannot be read; the message is sent back to the model."""


AnswerFormat = Literal["definitions", "unified_diff", "search_replace"]
_VERB = r"REPLACE|INSERT AFTER|INSERT INTO|INSERT|DELETE|BLOCK"
_PATH = r"`?(?P<path>[\w./-]+\.\w+)`?(?:(?:::|:)`?(?P<target>[\w.<>]+))?`?\s*(?P<where>TOP|BOTTOM)?"
_HEADER = re.compile(rf"^#{{2,4}}\s*(?:\*\*)?\s*(?P<verb>{_VERB})?\s*{_PATH}\s*(?:\*\*)?\s*:?\s*$", re.I | re.M)
# In bold or with no hashes the verb is required, in capitals: "**REPLACE a.py::f**", "REPLACE a.py::f"
_BARE_HEADER = re.compile(rf"^(?:\*\*)?\s*(?P<verb>{_VERB})\s+{_PATH}\s*(?:\*\*)?\s*:?\s*$", re.M)
FENCE = re.compile(r"^(?P<mark>```|~~~)[\w+.-]*[ \t]*\n(?P<code>.*?)^(?P=mark)[ \t]*$", re.S | re.M)
# A heading line that means to name an edit: a verb, or a path with a target.
_HEADER_LIKE = re.compile(rf"^#{{2,4}}\s*(?:\W*(?:{_VERB})\b|.*(?:::|\S:\d))", re.I | re.M)
_SEARCH_REPLACE = re.compile(
    r"^<{5,9} SEARCH[ \t]*\n(?P<search>.*?)^={5,9}[ \t]*\n(?P<replace>.*?)^>{5,9} REPLACE[ \t]*$", re.S | re.M
)
_DIFF_START = re.compile(r"^(?:diff --git |--- (?:a/|/dev/null))", re.M)


@dataclass(frozen=True)
class SearchReplace:
    path: str
    search: str
    replace: str


@dataclass
class Answer:
    format: AnswerFormat
    ops: list[EditOp] = field(default_factory=list)
    diff: str = ""
    blocks: list[SearchReplace] = field(default_factory=list)


def _defines(code: str, qualname: str) -> bool:
    """Whether ``code`` defines the last part of ``qualname`` (def, class, function, or a method)."""
    name = re.escape(qualname.rsplit(".", 1)[-1])
    keywords = r"(?:(?:async|export|static|public|private|protected)\s+)*(?:def|class|function|func)?"
    return bool(re.search(rf"^\s*{keywords}\s*\*?{name}\s*[(<:{{]", code, re.M))


def read_answer(text: str, default_target: tuple[str, str] | None = None) -> Answer:
    """The edits an answer asks for, in whichever accepted format it came; ``FormatError`` otherwise."""
    if not _headers(text):
        blocks = _search_replace_blocks(text)
        if blocks:
            return Answer("search_replace", blocks=blocks)
        diff = _unified_diff(text)
        if diff:
            return Answer("unified_diff", diff=diff)
    return Answer("definitions", ops=parse_edit_answer(text, default_target))


def parse_edit_answer(text: str, default_target: tuple[str, str] | None = None) -> list[EditOp]:
    """The ``EditOp``s of an answer in the definitions format; ``FormatError`` when it cannot be read safely."""
    try:
        return _parse(text, default_target)
    except ValidationError as exc:
        raise FormatError(str(exc.errors()[0]["msg"]).removeprefix("Value error, ")) from None


def _headers(text: str) -> list[re.Match[str]]:
    found = {m.start(): m for m in _HEADER.finditer(text)}
    for m in _BARE_HEADER.finditer(text):
        found.setdefault(m.start(), m)
    return [found[k] for k in sorted(found)]


def _parse(text: str, default_target: tuple[str, str] | None) -> list[EditOp]:
    headers = _headers(text)
    fences = list(FENCE.finditer(text))
    good = {h.start() for h in headers}
    for line in _HEADER_LIKE.finditer(text):
        if line.start() not in good:
            raise FormatError(
                f"'{line.group(0).strip()}' is not a header this format knows; write for example "
                "'### REPLACE path/to/file.py::Class.method' with a path inside the repository"
            )
    if not headers:
        code = fences[0].group("code") if len(fences) == 1 else ""
        if code and default_target is not None and _defines(code, default_target[1]):
            path, qualname = default_target
            return [EditOp(kind="replace", path=path, target=qualname, code=code)]
        raise FormatError(
            "no header line such as '### REPLACE path/to/file.py::Class.method' was found before the code"
        )
    ops: list[EditOp] = []
    for i, h in enumerate(headers):
        end = headers[i + 1].start() if i + 1 < len(headers) else len(text)
        verb = (h.group("verb") or "REPLACE").upper()
        path = h.group("path").removeprefix("./")
        target, where = h.group("target"), (h.group("where") or "").upper()
        fence = next((f for f in fences if h.end() <= f.start() < end), None)
        if verb == "DELETE":
            if not target:
                raise FormatError(f"'{h.group(0).strip()}' names no definition to delete")
            ops.append(EditOp(kind="delete", path=path, target=target))
            continue
        if fence is None:
            raise FormatError(f"'{h.group(0).strip()}' is not followed by a fenced code block")
        ops.append(_op(h.group(0).strip(), verb, path, target, where, fence.group("code")))
    return ops


def _op(header: str, verb: str, path: str, target: str | None, where: str, code: str) -> EditOp:
    if verb == "REPLACE":
        if not target:
            raise FormatError(f"'{header}' needs path::QualifiedName")
        return EditOp(kind="replace", path=path, target=target, code=code)
    if verb == "INSERT AFTER":
        return EditOp(kind="insert", path=path, after=target, code=code)
    if verb == "INSERT INTO":
        return EditOp(kind="insert", path=path, target=target, position="class_end", code=code)
    if verb == "INSERT":
        return EditOp(kind="insert", path=path, position="module_top" if where == "TOP" else "module_bottom", code=code)
    if not target or not target.isdigit():  # BLOCK path:LINE
        raise FormatError(f"'{header}' needs path:LINE with the block's first line")
    return EditOp(kind="replace_block", path=path, line=int(target), code=code)


_PATH_LINE = re.compile(r"^\W*(?:File:\s*)?`?(?P<path>[\w./-]+\.\w+)`?\W*$", re.I)


def _search_replace_blocks(text: str) -> list[SearchReplace]:
    """SEARCH/REPLACE blocks, each under the file path written on a line of its own before it."""
    blocks = []
    for m in _SEARCH_REPLACE.finditer(text):
        before = [ln for ln in text[: m.start()].splitlines() if ln.strip() and not FENCE_OPEN.match(ln)]
        found = _PATH_LINE.match(before[-1].strip()) if before else None
        if found is None:
            raise FormatError("a SEARCH/REPLACE block must follow a line with the file's path")
        path = found.group("path").removeprefix("./")
        problem = repo_path_problem(path)
        if problem:
            raise FormatError(f"the path {path!r} {problem}")
        blocks.append(SearchReplace(path, m.group("search"), m.group("replace")))
    return blocks


FENCE_OPEN = re.compile(r"^\s*(?:```|~~~)[\w+.-]*\s*$")


def _unified_diff(text: str) -> str:
    """The unified diff in an answer (fenced as diff or patch, or bare), or ""."""
    for fence in FENCE.finditer(text):
        if _DIFF_START.search(fence.group("code")):
            return fence.group("code")
    start = _DIFF_START.search(text)
    if start and re.search(r"^@@ ", text[start.start() :], re.M):
        return text[start.start() :]
    return ""
