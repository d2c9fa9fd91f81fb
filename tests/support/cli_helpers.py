"""Run the installed ``repoagent`` console script for real, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def child_env() -> dict[str, str]:
    """This process's environment for a child ``repoagent``: no settings from REPOAGENT_* variables, but the
    session's sandbox owner (its containers are told apart from other runs' on the same machine)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("REPOAGENT_") or k == "REPOAGENT_SANDBOX_OWNER"}


def run_cli(
    *args: str, home: Path, env: dict[str, str | None] | None = None, timeout: float = 300, text: bool = True
) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("repoagent")
    full_env: dict[str, str | None] = {**child_env()}
    full_env.update({"REPOAGENT_HOME": str(home), "COLUMNS": "200", **(env or {})})
    full_env = {k: v for k, v in full_env.items() if v is not None}  # None removes a variable
    return subprocess.run([str(exe), *args], capture_output=True, text=text, env=full_env, timeout=timeout)
