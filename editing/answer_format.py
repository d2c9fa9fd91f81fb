"""Read the model's answer: headed, fenced blocks of whole definitions, into ``EditOp``s.

Usual slips are tolerated: a missing language tag, prose around the blocks, a
header without its verb (taken as REPLACE), a lone code block with no header
when only one definition was asked about.
"""

from __future__ import annotations

import re

from editing.ops import EditOp


class FormatError(ValueError):
    """The answer cannot be read; the message is sent back to the model."""


_HEADER = re.compile(
    r"^#{2,4}\s*(?P<verb>REPLACE|INSERT AFTER|INSERT INTO|INSERT|DELETE|BLOCK)?\s*"
    r"`?(?P<path>[\w./-]+\.\w+)(?:(?:::|:)(?P<target>[\w.<>]+))?`?\s*(?P<where>TOP|BOTTOM)?\s*$",
    re.I | re.M,
)
FENCE = re.compile(r"^```[\w+-]*[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)


def parse_edit_answer(text: str, default_target: tuple[str, str] | None = None) -> list[EditOp]:
    headers = list(_HEADER.finditer(text))
    fences = list(FENCE.finditer(text))
    if not headers:
        if len(fences) == 1 and default_target is not None:
            path, qualname = default_target
            return [EditOp(kind="replace", path=path, target=qualname, code=fences[0].group(1))]
        raise FormatError(
            "no header line such as '### REPLACE path/to/file.py::Class.method' was found before the code"
        )
    ops: list[EditOp] = []
    for i, h in enumerate(headers):
        end = headers[i + 1].start() if i + 1 < len(headers) else len(text)
        verb = (h.group("verb") or "REPLACE").upper()
        path, target, where = h.group("path"), h.group("target"), (h.group("where") or "").upper()
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
