"""Choose the tests worth running for a change: those that import or name what changed."""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from retrieval.index import RepoIndex


def module_name(path: str) -> str:
    parts = list(PurePosixPath(path).with_suffix("").parts)
    if parts and parts[0] in ("src", "lib"):
        parts = parts[1:]
    if parts and parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def select_tests(index: RepoIndex, changed: dict[str, list[str]], limit: int = 20) -> list[str]:
    """Test files that import a changed module or name a changed symbol, most specific first.

    ``changed`` maps a path to the qualified names changed in it.  An empty
    answer means: run the whole suite.
    """
    scored: dict[str, int] = {}
    tests = [
        e.path
        for e in index.code_files(tests=True)
        if PurePosixPath(e.path).name.startswith("test") or e.path.endswith("_test.py")
    ]
    for test_path, content in index.read_many(tests).items():
        text = content.decode("utf-8", errors="replace")
        score = 0
        for path, names in changed.items():
            mod = module_name(path)
            if mod and re.search(rf"\b(from|import)\s+{re.escape(mod)}\b", text):
                score += 2
            stem = PurePosixPath(path).stem
            if stem and stem != "__init__" and stem in PurePosixPath(test_path).stem:
                score += 1
            for name in names:
                short = name.split(".")[-1]
                if len(short) > 2 and re.search(rf"\b{re.escape(short)}\b", text):
                    score += 1
        if score:
            scored[test_path] = score
    return [p for p, _ in sorted(scored.items(), key=lambda kv: (-kv[1], kv[0]))][:limit]
