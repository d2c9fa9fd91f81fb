"""Stage 4's neighbours of a definition: the definitions it calls and those that call it.

The chosen files are searched first; then the rest of the repository's code
(tests left out): callees whose name is defined at most ``_MAX_HOMONYMS`` times
(``get`` or ``save`` would name half the repository), and callers in the files
whose tokens hold the name, in retrieval order, at most ``_MAX_CALLERS`` of them.
Calls are matched by name (``name(``), not resolved: a neighbour is context for
the model, not a claim.
"""

from __future__ import annotations

import re
from collections import defaultdict

from retrieval.index import RepoIndex
from retrieval.lexical import FileBM25
from retrieval.symbols import Symbol

_CALL = re.compile(r"\b([A-Za-z_]\w*)\s*\(")
_MAX_HOMONYMS = 2
_MAX_CALLERS = 10

Neighbour = tuple[str, Symbol, str]  # path, definition, "caller" or "callee"


def called_names(content: bytes, sym: Symbol) -> set[str]:
    """The names ``sym``'s body calls (``name(``), its own left out; ``content`` is its file's bytes."""
    body = content[sym.start_byte : sym.end_byte].decode("utf-8", errors="replace")
    return set(_CALL.findall(body)) - {sym.name}


class Neighbours:
    def __init__(self, index: RepoIndex, code: FileBM25 | None = None) -> None:
        """``code``: the code files' lexical model, the retriever's (counted or read already), or a new one."""
        self.index = index
        self.code = code if code is not None else FileBM25(index, index.code_files(tests=False))
        self._by_name: dict[str, list[tuple[str, Symbol]]] | None = None

    def _named(self, name: str) -> list[tuple[str, Symbol]]:
        if self._by_name is None:  # built once, on the first question
            self._by_name = defaultdict(list)
            for entry in self.index.code_files(tests=False):
                for sym in entry.visible_definitions:
                    self._by_name[sym.name].append((entry.path, sym))
        return self._by_name.get(name, [])

    def of(self, path: str, sym: Symbol, files: list[str], ranked: list[str]) -> list[Neighbour]:
        """Neighbours of ``sym`` in ``path``: in ``path`` and ``files`` first, then the repository by ``ranked``."""
        called = called_names(self.index.read(path), sym)
        scope = list(dict.fromkeys([path, *files]))
        found: list[Neighbour] = []
        for p in scope:
            found.extend(self._in_file(p, sym, called, own=p == path))
        in_scope = set(scope)
        seen_names = {s.name for _, s, role in found if role == "callee"}
        for name in sorted(called - seen_names):
            defined = self._named(name)
            if len(name) >= 3 and len(defined) <= _MAX_HOMONYMS:
                found.extend((p, s, "callee") for p, s in defined if p not in in_scope)
        found.extend(self._callers_elsewhere(sym, in_scope, ranked))
        return found

    def _in_file(self, path: str, sym: Symbol, called: set[str], own: bool = False) -> list[Neighbour]:
        entry = self.index.files.get(path)
        if entry is None:
            return []
        found: list[Neighbour] = []
        content: bytes | None = None
        calls_it = re.compile(rb"\b" + re.escape(sym.name.encode()) + rb"\s*\(")
        for other in entry.visible_definitions:
            if own and other.qualname == sym.qualname:
                continue
            if other.name in called:
                found.append((path, other, "callee"))
            elif other.kind != "class":
                content = content if content is not None else self.index.read(path)
                if calls_it.search(content[other.start_byte : other.end_byte]):
                    found.append((path, other, "caller"))
        return found

    def _callers_elsewhere(self, sym: Symbol, skip: set[str], ranked: list[str]) -> list[Neighbour]:
        holders = [e for e in self.code.holding(sym.name.lower()) if e.path not in skip]
        order = {p: i for i, p in enumerate(ranked)}
        holders.sort(key=lambda e: (order.get(e.path, len(order)), e.path))
        found: list[Neighbour] = []
        for entry in holders:
            found.extend(self._in_file(entry.path, sym, set()))  # nothing is a callee of an empty call set
            if len({p for p, _, _ in found}) >= _MAX_CALLERS:
                break
        return found
