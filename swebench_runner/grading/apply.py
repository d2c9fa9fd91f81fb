"""A patch applied to a tree as the official harness applies a prediction.

The harness tries three commands in turn in the instance's container and keeps
the first that exits 0: ``git apply --verbose``, ``git apply --verbose
--reject`` and ``patch --batch --fuzz=5 -p1 -i``.  They run here in the same
order, on the same tree (a ``--reject`` that fails leaves its partial work for
``patch``, as there), and the result names the command that applied.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

GIT_APPLY = "git apply --verbose"
GIT_APPLY_REJECT = "git apply --verbose --reject"
PATCH_FUZZ = "patch --batch --fuzz=5 -p1 -i"
APPLY_COMMANDS = (GIT_APPLY, GIT_APPLY_REJECT, PATCH_FUZZ)


@dataclass(frozen=True)
class Applied:
    """What became of a patch: ``by`` the command that applied it ("" for an empty patch, None when none did),
    and the output of the commands that failed."""

    by: str | None
    output: str = ""

    @property
    def ok(self) -> bool:
        return self.by is not None


def apply_patch(tree: Path, patch: str) -> Applied:
    """Apply ``patch`` in ``tree`` with the official harness's commands, the first that exits 0 wins."""
    if not patch.strip():
        return Applied("")
    text = patch if patch.endswith("\n") else patch + "\n"
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="repoagent-patch-") as tmp:
        path = Path(tmp) / "patch.diff"
        path.write_text(text, encoding="utf-8", errors="surrogateescape")
        for command in APPLY_COMMANDS:
            argv = [*command.split(), str(path)]
            if shutil.which(argv[0]) is None:
                failures.append(f"$ {command}: {argv[0]} is not installed on this machine")
                continue
            proc = subprocess.run(argv, cwd=tree, capture_output=True, text=True, errors="replace", check=False)
            if proc.returncode == 0:
                return Applied(command, "\n".join(failures))
            said = (proc.stdout + proc.stderr).strip()
            failures.append(f"$ {command} (exit {proc.returncode}):\n{said[-600:]}")
    return Applied(None, "\n".join(failures))
