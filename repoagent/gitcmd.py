"""Running git on a repository the user named: the one place repoagent shells out to git."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def git(repo: Path, *args: str, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    """``git -C repo ARGS``; git never looks above ``repo``, so a plain folder inside another repository stays plain."""
    env = {**os.environ, "GIT_CEILING_DIRECTORIES": str(Path(repo).resolve().parent)}
    return subprocess.run(["git", "-C", str(repo), *args], input=input, capture_output=True, check=False, env=env)


def git_out(repo: Path, *args: str) -> str:
    """The stripped output of a git command, or "" when it failed."""
    proc = git(repo, *args)
    return proc.stdout.decode(errors="replace").strip() if proc.returncode == 0 else ""
