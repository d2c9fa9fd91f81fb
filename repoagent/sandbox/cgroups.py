"""A control group for one test run, where this process may make one: memory and processes for the whole tree.

cgroup v2 (one hierarchy with ``cgroup.controllers``) or v1 (``memory`` and
``pids`` hierarchies) is used when its folder is writable (as root, or where
systemd delegated a subtree to the user); otherwise ``TreeGroup.make`` returns
None and the local sandbox falls back to limits per process (``RLIMIT_AS``),
with no limit on the number of processes.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")


def _own_path(controller: str) -> str | None:
    """This process's group in ``controller``'s hierarchy ("" for v2's), from /proc/self/cgroup."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, names, path = line.split(":", 2)
        if names.split(",") == [controller] or (controller == "" and names == ""):
            return path
    return None


class TreeGroup:
    """One run's group (one folder per hierarchy): limits set, processes attached, killed and removed as one."""

    def __init__(self, folders: dict[str, Path], v2: bool) -> None:
        self.folders = folders  # "memory"/"pids" (v1) or "unified" (v2) -> the group's folder
        self.v2 = v2

    @classmethod
    def make(cls, memory_mb: int, pids: int, root: Path = ROOT) -> TreeGroup | None:
        """A new group with the limits, or None where no writable hierarchy is found."""
        name = f"repoagent-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        folders: dict[str, Path] = {}
        try:
            if (root / "cgroup.controllers").exists():  # v2
                own = _own_path("")
                if own is None:
                    return None
                parent = root / own.lstrip("/")
                enabled = (parent / "cgroup.subtree_control").read_text().split()
                if not {"memory", "pids"} <= set(enabled):
                    return None
                folders["unified"] = parent / name
                folders["unified"].mkdir()
                group = cls(folders, True)
                group._write("unified", "memory.max", str(memory_mb * 1024 * 1024))
                group._write("unified", "memory.swap.max", "0", optional=True)
                group._write("unified", "pids.max", str(pids))
                return group
            for controller in ("memory", "pids"):
                own = _own_path(controller)
                if own is None or not (root / controller).is_dir():
                    raise OSError(f"no {controller} hierarchy")
                folders[controller] = root / controller / own.lstrip("/") / name
                folders[controller].mkdir()
            group = cls(folders, False)
            limit = str(memory_mb * 1024 * 1024)
            group._write("memory", "memory.limit_in_bytes", limit)
            group._write("memory", "memory.memsw.limit_in_bytes", limit, optional=True)
            group._write("pids", "pids.max", str(pids))
            return group
        except OSError:
            for folder in folders.values():
                with contextlib.suppress(OSError):
                    folder.rmdir()
            return None

    def _write(self, key: str, name: str, value: str, optional: bool = False) -> None:
        try:
            (self.folders[key] / name).write_text(value)
        except OSError:
            if not optional:
                raise

    def attach_self(self) -> None:
        """Move the calling process into the group (runs in the child before exec: plain writes only)."""
        for folder in self.folders.values():
            with open(folder / "cgroup.procs", "w") as f:
                f.write("0")

    def pids(self) -> list[int]:
        folder = next(iter(self.folders.values()))
        try:
            return [int(p) for p in (folder / "cgroup.procs").read_text().split()]
        except OSError:
            return []

    def kill(self, wait: float = 5.0) -> bool:
        """SIGKILL every process in the group until it is empty (within ``wait`` seconds); True when it is."""
        deadline = time.monotonic() + wait
        kill_file = self.folders.get("unified", Path("/nonexistent")) / "cgroup.kill"
        while True:
            pids = self.pids()
            if not pids:
                return True
            if kill_file.exists():
                with contextlib.suppress(OSError):
                    kill_file.write_text("1")
            else:
                for pid in pids:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.kill(pid, signal.SIGKILL)
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)

    def _count(self, key: str, name: str, field: str) -> int:
        try:
            text = (self.folders[key] / name).read_text()
        except (OSError, KeyError):
            return 0
        for line in text.splitlines():
            words = line.split()
            if len(words) == 2 and words[0] == field:
                return int(words[1])
        return 0

    def out_of_memory(self) -> bool:
        if self.v2:
            return self._count("unified", "memory.events", "oom_kill") > 0
        return self._count("memory", "memory.oom_control", "oom_kill") > 0

    def out_of_processes(self) -> bool:
        return self._count("unified" if self.v2 else "pids", "pids.events", "max") > 0

    def remove(self) -> None:
        self.kill()
        for folder in self.folders.values():
            for _ in range(50):  # the kernel frees a group a moment after its last process is reaped
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)
