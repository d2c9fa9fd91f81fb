"""``EditOp``: one whole-definition change, as the model or a user asks for it.

Kinds:
- ``replace``: replace definition ``target`` (a qualified name) by ``code``.
- ``insert``: add ``code`` as a new definition ``after`` a named definition, at
  the end of class ``target`` (``position="class_end"``), or at the module's
  top (after its docstring and imports) or bottom.
- ``delete``: remove definition ``target``.
- ``replace_block``: replace the module-level statements between two top-level
  definitions (``after`` and ``before``; either may be empty for the file's
  start or end), or the block that starts on ``line``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator

OpKind = Literal["replace", "insert", "delete", "replace_block"]
Position = Literal["after", "class_end", "module_top", "module_bottom"]


def repo_path_problem(path: str) -> str | None:
    """Why ``path`` may not be edited, or None: it must be relative, normalised, inside and not under ``.git/``."""
    if not path or "\0" in path or "\\" in path:
        return "is not a repository path"
    if path.startswith("/") or (len(path) > 1 and path[1] == ":"):
        return "is absolute; paths are relative to the repository's top folder"
    parts = path.split("/")
    if ".." in parts:
        return "leaves the repository"
    if any(part in ("", ".") for part in parts):
        return "is not normalised (write it as dir/file.py)"
    if parts[0] == ".git":
        return "is inside .git/"
    return None


class EditOp(BaseModel):
    kind: OpKind
    path: str
    target: str | None = None
    code: str = ""
    position: Position | None = None
    after: str | None = None
    before: str | None = None
    line: int | None = Field(None, description="Line hint: disambiguates redefinitions, or a block's first line.")
    verbatim: bool = Field(False, description="replace_block: use code byte for byte, blank edges included.")

    @field_validator("path")
    @classmethod
    def _inside(cls, path: str) -> str:
        problem = repo_path_problem(path)
        if problem:
            raise ValueError(f"the path {path!r} {problem}")
        return path

    def describe(self) -> str:
        where = self.target or self.after or (f"line {self.line}" if self.line else self.position) or "?"
        return f"{self.kind} {self.path}::{where}"
