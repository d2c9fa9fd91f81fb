from __future__ import annotations

import json
import sqlite3
from contextlib import closing
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


def test_a_cache_damaged_in_use_is_reported_in_one_line_then_checked_and_rebuilt(tmp_path: Path) -> None:
    """The whole-file check runs once a day, not at each open: damage met in between is one line (exit 1),
    and the next run checks the file, moves it aside and builds a new one."""
    repo = tmp_path / "repo"
    make_repo(repo, {f"pkg/m{i}.py": f"def f{i}(x):\n    '''{'doc ' * 200}'''\n    return x\n" for i in range(60)})
    home = tmp_path / "home"
    db = home / "cache" / "index.sqlite3"
    assert run_cli("index", "--repo", str(repo), "--rev", "HEAD", home=home).returncode == 0
    with closing(sqlite3.connect(db)) as conn:  # the tables' first pages stay whole: their rows' pages do not
        roots = max(r for (r,) in conn.execute("SELECT rootpage FROM sqlite_master"))
        size = conn.execute("PRAGMA page_size").fetchone()[0]
    data = bytearray(db.read_bytes())
    assert len(data) > (roots + 4) * size  # the parses fill pages past them
    data[roots * size :] = b"\xa5" * (len(data) - roots * size)
    db.write_bytes(bytes(data))

    damaged = run_cli("index", "--repo", str(repo), "--rev", "HEAD", home=home)
    assert damaged.returncode == 1 and "Traceback" not in damaged.stderr
    assert "could not be read" in damaged.stderr and "the next run checks it" in damaged.stderr
    assert db.with_name("index.sqlite3.check").exists()

    again = run_cli("index", "--repo", str(repo), "--rev", "HEAD", "--json", home=home)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout.strip().splitlines()[-1])["parsed"] == 60
    assert list(db.parent.glob("index.sqlite3.corrupt-*")) and not db.with_name("index.sqlite3.check").exists()
