"""``ast.parse`` for code that runs in threads (the sampler applies its samples in parallel).

CPython 3.11 keeps the AST converter's recursion depth in per-interpreter
state, so two threads building trees at once can fail with ``SystemError: AST
constructor recursion depth mismatch`` (python/cpython#106905, seen here on a
SWE-bench instance).  Every tree in this project is built through ``parse``,
one at a time, and so is any library call that builds them (pyflakes parses
string annotations): ``exclusive()`` holds the same lock.
"""

from __future__ import annotations

import ast
import threading

_LOCK = threading.RLock()


def exclusive() -> threading.RLock:
    """The lock every tree is built under; hold it around library code that calls ``ast.parse``."""
    return _LOCK


def parse(source: str | bytes, filename: str = "<unknown>") -> ast.Module:
    with _LOCK:
        return ast.parse(source, filename=filename)
