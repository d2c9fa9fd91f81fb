"""``Candidate``: one proposed fix, and how identical fixes collapse into votes."""

from __future__ import annotations

import ast
import hashlib
import io
import re
import tokenize

from pydantic import BaseModel, Field

from editing import pyast
from editing.ops import EditOp


class Candidate(BaseModel):
    ops: list[EditOp] = Field(default_factory=list)
    patch: str = ""
    files: dict[str, str] = Field(default_factory=dict)  # path -> normalised-content key
    temperatures: list[float] = Field(default_factory=list)
    votes: int = 1
    error: str | None = None
    gate: str | None = None
    response: str = ""
    format: str = "definitions"  # how the answer came: definitions, unified_diff or search_replace

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.patch)

    @property
    def patch_id(self) -> str:
        """A short, stable name for this candidate's diff."""
        return hashlib.sha1(self.patch.encode("utf-8", errors="surrogateescape")).hexdigest()[:8]

    @property
    def key(self) -> str:
        return "|".join(f"{p}:{h}" for p, h in sorted(self.files.items()))


def normalise(path: str, content: bytes) -> str:
    """A hash of the code without comments and formatting (the AST for Python)."""
    text = content.decode("utf-8", errors="replace")
    if path.endswith((".py", ".pyi")):
        try:
            return hashlib.sha1(ast.dump(pyast.parse(text)).encode()).hexdigest()
        except (SyntaxError, ValueError):
            pass
        try:
            toks = [
                t.string
                for t in tokenize.generate_tokens(io.StringIO(text).readline)
                if t.type not in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT)
            ]
            return hashlib.sha1(" ".join(toks).encode()).hexdigest()
        except (tokenize.TokenError, SyntaxError):
            pass
    stripped = re.sub(r"//[^\n]*|/\*.*?\*/", "", text, flags=re.S)
    return hashlib.sha1(" ".join(stripped.split()).encode()).hexdigest()


def collapse(candidates: list[Candidate]) -> list[Candidate]:
    """Merge candidates whose edited files normalise alike; the first keeps the votes."""
    merged: dict[str, Candidate] = {}
    out: list[Candidate] = []
    for cand in candidates:
        if not cand.ok:
            out.append(cand)
            continue
        if cand.key in merged:
            first = merged[cand.key]
            first.votes += cand.votes
            first.temperatures.extend(cand.temperatures)
            continue
        merged[cand.key] = cand
        out.append(cand)
    return out
