"""The run report: redrawn by ``repoagent report`` and opened in a real headless Chromium."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from html import unescape
from pathlib import Path

import pytest

from repoagent.records.report_page import render
from tests.support.cli_helpers import run_cli
from tests.support.fix_fixtures import FILES, FIXED_LINE, GOOD, SYMBOLS, example_copy, script

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _chromium() -> str:
    exe = shutil.which("chromium")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium must be installed in CI (scripts/test_tools.sh)")
        pytest.skip("no chromium here")
    return exe


def test_the_page_escapes_what_it_shows_and_marks_diff_lines() -> None:
    hostile = "<script>alert(1)</script>"
    patch = "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-if a < b:\n+if a <= b & c:\n"
    result = {"status": "resolved", "patch": patch, "issue": hostile, "issue_title": hostile, "repo": hostile}
    page = render(result, [{"type": "model", "stage": hostile, "messages": [{"role": "user", "content": hostile}]}])
    assert '<span class="del">-if a &lt; b:</span>' in page
    assert '<span class="add">+if a &lt;= b &amp; c:</span>' in page
    assert '<span class="hunk">@@ -1 +1 @@</span>' in page and "<script" not in page


def test_report_page_opens_in_headless_chromium_and_shows_the_patch(tmp_path: Path) -> None:
    exe = _chromium()
    repo = example_copy(tmp_path / "inventory", git=True)
    proc = run_cli(
        "fix",
        "--repo",
        str(repo),
        "--issue",
        f"@{repo}/ISSUE.md",
        "--model",
        script(tmp_path, [FILES, SYMBOLS, GOOD]),
        "--sandbox",
        "none",
        "--json",
        home=tmp_path / "home",
    )
    assert proc.returncode == 0, proc.stderr
    run_dir = Path(json.loads(proc.stdout.strip().splitlines()[-1])["run_dir"])
    (run_dir / "report.html").unlink()
    redraw = run_cli("report", str(run_dir), home=tmp_path / "home")
    assert redraw.returncode == 0, redraw.stderr
    page = Path(redraw.stdout.strip())
    assert page == (run_dir / "report.html").resolve() and page.is_file()
    profile = tmp_path / "chromium-profile"
    base = [exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}"]
    dom = subprocess.run([*base, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    text = unescape(dom.stdout)
    assert "Bulk discount stays at 5% for large orders" in text
    assert f"+    {FIXED_LINE}" in text  # the chosen patch, rendered by the browser
    assert 'class="badge untested"' in dom.stdout
    shot = tmp_path / "report.png"
    subprocess.run(
        [*base, "--window-size=1200,1600", f"--screenshot={shot}", page.as_uri()],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


def test_report_refuses_a_folder_that_is_not_a_run(tmp_path: Path) -> None:
    proc = run_cli("report", str(tmp_path), home=tmp_path / "home")
    assert proc.returncode == 2 and "not a run folder" in proc.stderr
