"""Gold locations of a patch: the files it changes and the definitions around its changes."""

from __future__ import annotations

from editing.patches import FilePatch, parse_patch
from retrieval.testpaths import is_test_path

__all__ = ["FilePatch", "gold_files", "parse_patch"]


def gold_files(patch: str) -> list[str]:
    return [f.old_path for f in parse_patch(patch) if not is_test_path(f.old_path) and f.old_path != "/dev/null"]
