from __future__ import annotations

import json
from pathlib import Path

from tests.support.cli_helpers import run_cli
from tests.support.gitrepo import make_repo

FIXTURES = Path(__file__).parents[1] / "support" / "fixtures"


def test_help_lists_every_command(tmp_path: Path) -> None:
    import re

    out = run_cli("--help", home=tmp_path)
    assert out.returncode == 0
    listed = set(re.findall(r"^│ (\w[\w-]*) ", out.stdout, re.M))
    expected = {
        "fix", "report", "index", "map", "localize", "edit", "test", "sandbox", "bench", "swebench", "serve", "app",
        "models",
    }  # fmt: skip
    assert listed == expected, listed
    groups = (
        ("sandbox", {"build-base", "doctor"}),
        ("bench", {"localize", "features", "train-ranker", "speed", "mine", "edit"}),
        ("swebench", {"run", "evaluate", "validate"}),
        ("app", {"create"}),
        ("models", {"build"}),
    )
    for group, commands in groups:
        sub = run_cli(group, "--help", home=tmp_path)
        assert set(re.findall(r"^│ (\w[\w-]*) ", sub.stdout, re.M)) == commands, sub.stdout


def test_index_json_then_cached(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    make_repo(repo, {"pkg/core.py": (FIXTURES / "sample.py").read_text(), "notes.txt": "hi\n"})
    first = run_cli("index", "--repo", str(repo), "--rev", "HEAD", "--json", home=tmp_path / "home")
    assert first.returncode == 0, first.stderr
    stats = json.loads(first.stdout.strip().splitlines()[-1])
    assert {"files", "symbols", "parsed", "reused", "skipped", "seconds", "peak_rss_mb"} <= set(stats)
    assert stats["files"] == 2 and stats["parsed"] == 1
    second = run_cli("index", "--repo", str(repo), "--rev", "HEAD", "--json", home=tmp_path / "home")
    again = json.loads(second.stdout.strip().splitlines()[-1])
    assert again["parsed"] == 0 and again["reused"] == 1
    assert (tmp_path / "home" / "cache" / "index.sqlite3").exists()


def test_map_commands(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    make_repo(repo, {"pkg/core.py": (FIXTURES / "sample.py").read_text()})
    whole = run_cli("map", "--repo", str(repo), home=tmp_path)
    assert whole.returncode == 0 and "class Point" in whole.stdout
    one = run_cli("map", "--repo", str(repo), "--file", "pkg/core.py", home=tmp_path)
    assert "def moved(self, dx: int)" in one.stdout


def test_user_mistakes_exit_2_with_one_line(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    make_repo(repo, {"a.py": "x = 1\n"})
    cases = [
        ("index", "--repo", str(tmp_path / "missing")),
        ("index", "--repo", str(repo), "--rev", "no-such-rev"),
        ("index", "--repo", str(repo), "-o", "index.nope=1"),
        ("map", "--repo", str(repo), "--file", "nothere.py"),
    ]
    for args in cases:
        out = run_cli(*args, home=tmp_path)
        assert out.returncode == 2, (args, out.stderr)
        assert "Traceback" not in out.stderr
        assert out.stderr.strip().startswith("repoagent:"), out.stderr
