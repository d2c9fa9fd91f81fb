"""Running git on a repository the user named: the one place repoagent (and its libraries) start git.

git never looks above the folder it is given (``GIT_CEILING_DIRECTORIES``),
so a plain folder inside another repository stays plain.  Clones and fetches
with progress go through gitpython (``repoagent.pipeline.inputs``), which
drives the same binary.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def _env(repo: Path) -> dict[str, str]:
    return {**os.environ, "GIT_CEILING_DIRECTORIES": str(Path(repo).resolve().parent)}


def git(repo: Path, *args: str, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    """``git -C repo ARGS``, its output captured; never raises for a failing command."""
    return subprocess.run(
        ["git", "-C", str(repo), *args], input=input, capture_output=True, check=False, env=_env(repo)
    )


def git_out(repo: Path, *args: str) -> str:
    """The stripped output of a git command, or "" when it failed."""
    proc = git(repo, *args)
    return proc.stdout.decode(errors="replace").strip() if proc.returncode == 0 else ""


def git_process(repo: Path, *args: str) -> subprocess.Popen[bytes]:
    """``git -C repo ARGS`` with pipes to talk to it (``cat-file --batch``)."""
    return subprocess.Popen(
        ["git", "-C", str(repo), *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=_env(repo)
    )
