"""The bounds a test run gets, whichever sandbox runs it (``sandbox.*`` in the settings)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from repoagent.config import SandboxSettings

MB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    memory_mb: int = 4096
    cpus: float = 2.0
    pids: int = 512
    disk_mb: int = 2048  # what the tests may write: the worktree, the temporary folder and the output
    output_mb: int = 256  # what they may print, stdout and stderr together
    tmp_mb: int = 512  # Docker: the size of the tmpfs at /tmp (it counts toward memory)
    log_mb: int = 16  # Docker: the engine's json-file log of the container (max-size; one file)

    @property
    def disk_bytes(self) -> int:
        return self.disk_mb * MB

    @property
    def output_bytes(self) -> int:
        return self.output_mb * MB

    def describe(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def of(cls, settings: SandboxSettings) -> Limits:
        """The limits of a ``SandboxSettings`` (``disk_limit`` there, in MB, is ``disk_mb`` here)."""
        fields = {name: getattr(settings, name) for name in cls.__dataclass_fields__ if name != "disk_mb"}
        return cls(disk_mb=settings.disk_limit, **fields)


def output_reason(limits: Limits) -> str:
    return f"the tests printed more than {limits.output_mb} MB (sandbox.output_mb)"


def disk_reason(limits: Limits) -> str:
    return f"the tests wrote more than {limits.disk_mb} MB (sandbox.disk_limit)"


def memory_reason(limits: Limits) -> str:
    return f"the tests used more than {limits.memory_mb} MB of memory (sandbox.memory_mb)"


def time_reason(timeout: float) -> str:
    return f"the tests did not finish within {timeout:g} s (sandbox.timeout)"


def junit_reason(cap: int) -> str:
    return f"the JUnit report is larger than {cap // MB} MB; not read"
