"""How often each file changed in the commits before the indexed state: a prior for where faults lie.

Files changed often and lately are where bugs are fixed most (a gold file of the
SWE-bench dev split was among the last 5 commits' files 25% of the time, another
candidate 9%).  The learned file ranker reads each candidate's count over the
last ``WINDOWS`` commits, as a share of the most-changed candidate's.
"""

from __future__ import annotations

from collections import Counter

from retrieval.git import git
from retrieval.source import RepoSource

# Commits looked at (the second is how deep ``git log`` goes: 0.2 s for 1,000 of ansible's).
WINDOWS: tuple[int, ...] = (100, 1000)
# The counts kept in the index cache by commit are read again when this changes (or ``WINDOWS`` do).
HISTORY_VERSION = f"history1:{','.join(map(str, WINDOWS))}"


def change_counts(source: RepoSource) -> list[Counter[str]] | None:
    """Per window of ``WINDOWS``, how many of the last commits changed each path (see ``read_changes``)."""
    return read_changes(source)[0]


def read_changes(source: RepoSource) -> tuple[list[Counter[str]] | None, bool]:
    """Per window of ``WINDOWS``, how many of the last commits (merges left out) changed each path.

    Counted back from the indexed commit, or from ``HEAD`` for a working tree.  A
    commit with no parent is not counted: a first commit, or the last one a shallow
    clone holds, would name every file it has.  ``None`` for a plain folder, or when
    no commit with a parent is there (a copy of one commit, as ``swebench run`` grades in).
    A repository missing objects (a partial mirror) counts the commits git read
    before it stopped.  The flag says whether the deepest window was full: then any
    copy of the repository holding this commit's history counts the same.
    """
    if not source.is_git:
        return None, False
    proc = git(
        source.path,
        "-c",
        "core.quotePath=false",
        "log",
        f"-n{WINDOWS[-1]}",
        "--no-merges",
        "--name-only",
        "--format=tformat:%x00%P",  # a NUL, then the parents: a line no path can be
        source.commit or "HEAD",
        "--",
    )
    counts: list[Counter[str]] = [Counter() for _ in WINDOWS]
    commit, counted, has_parent = -1, 0, False
    for line in proc.stdout.decode(errors="replace").splitlines():
        if line.startswith("\0"):
            commit += 1
            has_parent = bool(line[1:].strip())
            counted += has_parent
        elif line and has_parent:
            for window, counter in zip(WINDOWS, counts, strict=True):
                if commit < window:
                    counter[line] += 1
    return (counts if counted else None), commit + 1 >= WINDOWS[-1]
