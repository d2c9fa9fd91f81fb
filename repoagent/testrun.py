"""``TestRun``: what one command run in a sandbox did, with per-test outcomes from JUnit XML."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import IO, Literal

from pydantic import BaseModel, Field

Outcome = Literal["passed", "failed", "error", "skipped"]
Limit = Literal["", "time", "memory", "disk", "output", "processes"]
TRIM = 20_000
JUNIT_LIMIT = 64 * 1024 * 1024  # a larger JUnit report is refused (it is read as a stream below that)


class TestOutcome(BaseModel):
    __test__ = False  # a data type, not a test class for pytest
    name: str
    outcome: Outcome
    message: str = ""


class TestRun(BaseModel):
    __test__ = False  # a data type, not a test class for pytest
    command: str
    exit_code: int | None
    seconds: float
    tests: list[TestOutcome] = Field(default_factory=list)
    stdout: str = ""
    stderr: str = ""
    timed_out: bool = False
    killed: bool = False  # by the memory limit or a signal
    sandbox: str = ""
    limit: Limit = ""  # the sandbox limit the run hit, if any
    limit_reason: str = ""  # in words: "the tests wrote more than 2048 MB (sandbox.disk_limit)"
    no_tests: str = ""  # how the runner said it found no test ("unittest ran 0 tests"), if it did
    output_bytes: int = 0  # what the command printed, stdout and stderr, before any cut

    @property
    def evidence(self) -> bool:
        """Whether the run judged anything: at least one test outcome was read, and no limit stopped it."""
        return bool(self.tests) and not self.limit and not self.timed_out

    def count(self, outcome: Outcome) -> int:
        return sum(1 for t in self.tests if t.outcome == outcome)

    @property
    def passed(self) -> int:
        return self.count("passed")

    @property
    def failed(self) -> int:
        return self.count("failed")

    @property
    def errors(self) -> int:
        return self.count("error")

    def summary(self) -> dict[str, object]:
        return {
            "passed": self.passed,
            "failed": self.failed,
            "errors": self.errors,
            "skipped": self.count("skipped"),
            "timed_out": self.timed_out,
            "killed": self.killed,
            "exit_code": self.exit_code,
            "seconds": round(self.seconds, 3),
            "limit": self.limit_reason or None,
            "no_tests": self.no_tests or None,
        }

    def hit(self, limit: Limit, reason: str) -> None:
        """Record the first limit the run hit (a later one, a consequence of the kill, is not the cause)."""
        if not self.limit:
            self.limit, self.limit_reason = limit, reason
            if limit == "time":
                self.timed_out = True


def trim(text: str, limit: int = TRIM) -> str:
    """Keep the head and the tail, where commands print what matters."""
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n... [{len(text) - limit} characters cut] ...\n{text[-half:]}"


def parse_junit(xml: bytes | IO[bytes]) -> list[TestOutcome]:
    """The test cases of a JUnit report, read as a stream (each case dropped once read); [] when it is not XML."""
    import io

    stream = io.BytesIO(xml) if isinstance(xml, bytes) else xml
    out = []
    try:
        for _, case in ET.iterparse(stream, events=("end",)):
            if case.tag != "testcase":
                continue
            name = f"{case.get('classname', '')}::{case.get('name', '')}".strip(":")
            outcome: Outcome = "passed"
            message = ""
            for child in case:
                if child.tag in ("failure", "error", "skipped"):
                    outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}[child.tag]  # type: ignore[assignment]
                    message = (child.get("message") or "")[:500]
                    break
            out.append(TestOutcome(name=name, outcome=outcome, message=message))
            case.clear()
    except ET.ParseError:
        return out
    return out


JUNIT_PATH = ".repoagent-junit.xml"


def is_pytest(command: str) -> bool:
    """Whether a test command runs pytest: ``pytest``, ``py.test`` or ``python -m pytest`` is one of its words."""
    words = command.split()
    return "pytest" in words or "py.test" in words


def with_junit(command: str) -> str:
    """Ask pytest for JUnit XML beside the code; other runners are left as they are."""
    if is_pytest(command) and "--junitxml" not in command:
        return f"{command} --junitxml={JUNIT_PATH} -o junit_family=xunit1"
    return command
