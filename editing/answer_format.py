"""Read the model's answer: headed, fenced blocks of whole definitions, into ``EditOp``s.

Usual slips are tolerated: a missing language tag, prose around the blocks, a
header without its verb (taken as REPLACE), a lone code block with no header
when only one definition was asked about and the block defines it.  Nothing
else is guessed: a ``###`` line that names an edit but is not a valid header,
or a path that leaves the repository, is a format error sent back to the model.
"""

from __future__ import annotations

import re

from pydantic import ValidationError

from editing.ops import EditOp


class FormatError(ValueError):
    """The answer cannot be read; the message is sent back to the model."""


_HEADER = re.compile(
    r"^#{2,4}\s*(?P<verb>REPLACE|INSERT AFTER|INSERT INTO|INSERT|DELETE|BLOCK)?\s*"
    r"`?(?P<path>[\w./-]+\.\w+)(?:(?:::|:)(?P<target>[\w.<>]+))?`?\s*(?P<where>TOP|BOTTOM)?\s*$",
    re.I | re.M,
)
FENCE = re.compile(r"^```[\w+-]*[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)
# A heading line that means to name an edit: a verb, or a path with a target.
_HEADER_LIKE = re.compile(r"^#{2,4}\s*(?:\W*(?:REPLACE|INSERT|DELETE|BLOCK)\b|.*(?:::|\S:\d))", re.I | re.M)


def _defines(code: str, qualname: str) -> bool:
    """Whether ``code`` defines the last part of ``qualname`` (def, class, function, or a method)."""
    name = re.escape(qualname.rsplit(".", 1)[-1])
    return bool(
        re.search(
            rf"^\s*(?:(?:async|export|static|public|private|protected)\s+)*(?:def|class|function|func)?\s*\*?{name}\s*[(<:{{]",
            code,
            re.M,
        )
    )


def parse_edit_answer(text: str, default_target: tuple[str, str] | None = None) -> list[EditOp]:
    """The ``EditOp``s an answer asks for; ``FormatError`` (sent back to the model) when it cannot be read safely."""
    try:
        return _parse(text, default_target)
    except ValidationError as exc:
        raise FormatError(str(exc.errors()[0]["msg"]).removeprefix("Value error, ")) from None


def _parse(text: str, default_target: tuple[str, str] | None) -> list[EditOp]:
    headers = list(_HEADER.finditer(text))
    fences = list(FENCE.finditer(text))
    good = {h.start() for h in headers}
    for line in _HEADER_LIKE.finditer(text):
        if line.start() not in good:
            raise FormatError(
                f"'{line.group(0).strip()}' is not a header this format knows; write for example "
                "'### REPLACE path/to/file.py::Class.method' with a path inside the repository"
            )
    if not headers:
        if len(fences) == 1 and default_target is not None and _defines(fences[0].group(1), default_target[1]):
            path, qualname = default_target
            return [EditOp(kind="replace", path=path, target=qualname, code=fences[0].group(1))]
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
        code = fence.group(1)
        if verb == "REPLACE":
            if not target:
                raise FormatError(f"'{h.group(0).strip()}' needs path::QualifiedName")
            ops.append(EditOp(kind="replace", path=path, target=target, code=code))
        elif verb == "INSERT AFTER":
            ops.append(EditOp(kind="insert", path=path, after=target, code=code))
        elif verb == "INSERT INTO":
            ops.append(EditOp(kind="insert", path=path, target=target, position="class_end", code=code))
        elif verb == "INSERT":
            position = "module_top" if where == "TOP" else "module_bottom"
            ops.append(EditOp(kind="insert", path=path, position=position, code=code))
        else:  # BLOCK path:LINE
            if not target or not target.isdigit():
                raise FormatError(f"'{h.group(0).strip()}' needs path:LINE with the block's first line")
            ops.append(EditOp(kind="replace_block", path=path, line=int(target), code=code))
    return ops
