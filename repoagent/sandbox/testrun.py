"""``TestRun``: what one command run in a sandbox did, with per-test outcomes from JUnit XML."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Literal

from pydantic import BaseModel, Field

Outcome = Literal["passed", "failed", "error", "skipped"]
TRIM = 20_000


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
        }


def trim(text: str, limit: int = TRIM) -> str:
    """Keep the head and the tail, where commands print what matters."""
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n... [{len(text) - limit} characters cut] ...\n{text[-half:]}"


def parse_junit(xml: bytes) -> list[TestOutcome]:
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return []
    out = []
    for case in root.iter("testcase"):
        name = f"{case.get('classname', '')}::{case.get('name', '')}".strip(":")
        outcome: Outcome = "passed"
        message = ""
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}[child.tag]  # type: ignore[assignment]
                message = (child.get("message") or "")[:500]
                break
        out.append(TestOutcome(name=name, outcome=outcome, message=message))
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
