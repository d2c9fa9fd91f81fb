from __future__ import annotations

import os
from pathlib import Path

import pytest

from retrieval.index import RepoIndex
from retrieval.maps import estimate_tokens, file_map, schematic_map
from retrieval.source import RepoSource
from tests.support.gitrepo import make_repo

FIXTURES = Path(__file__).parents[1] / "support" / "fixtures"
GOLDEN = Path(__file__).parents[1] / "support" / "golden"


@pytest.fixture()
def index(tmp_path: Path) -> RepoIndex:
    repo = tmp_path / "repo"
    make_repo(
        repo,
        {
            "pkg/core.py": (FIXTURES / "sample.py").read_text(),
            "pkg/util.py": "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n",
            "src/counter/Counter.java": (FIXTURES / "Sample.java").read_text(),
            "web/stack.go": (FIXTURES / "sample.go").read_text(),
            "README.md": "# demo\n",
        },
    )
    return RepoIndex.build(RepoSource(repo, "HEAD"))


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text)
        pytest.fail(f"wrote {path}; check the change with git diff and run the tests again without UPDATE_GOLDEN")
    assert text == path.read_text()


def test_file_map_golden(index: RepoIndex) -> None:
    check_golden("file_map.txt", file_map(index))


def test_schematic_map_golden(index: RepoIndex) -> None:
    check_golden("schematic_core_py.txt", schematic_map(index, "pkg/core.py"))
    check_golden("schematic_counter_java.txt", schematic_map(index, "src/counter/Counter.java"))


def test_maps_respect_budget(index: RepoIndex) -> None:
    small = file_map(index, budget=25)
    assert estimate_tokens(small) <= 25 + 5
    assert "more files not shown" in small
    cut = schematic_map(index, "pkg/core.py", budget=40)
    assert estimate_tokens(cut) <= 45
    assert "more lines not shown" in cut
    # Without room for docstrings the signatures stay.
    full = schematic_map(index, "pkg/core.py", budget=10_000)
    mid = schematic_map(index, "pkg/core.py", budget=estimate_tokens(full) - 8)
    assert "def moved" in mid and "A point in the plane" not in mid


def test_file_map_follows_given_order(index: RepoIndex) -> None:
    text = file_map(index, ["pkg/util.py", "pkg/core.py"])
    assert text.index("pkg/util.py") < text.index("pkg/core.py")
    assert "README.md" not in text
