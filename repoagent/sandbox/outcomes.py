"""Per-test outcomes read from what a runner prints, for runners that write no JUnit XML.

A verdict needs evidence: a run is judged on the tests it names, never on its
exit code alone.  pytest writes JUnit XML (``testrun.parse_junit``); the
others are read from their own lines:

- unittest and django's runner at ``-v 2``: ``test_add (calc.tests.CalcTest) ... ok`` (names are
  written ``calc.tests.CalcTest.test_add`` whichever Python printed them);
- TAP (``node --test`` off a terminal, prove, many others): ``ok 3 - name`` / ``not ok 4 - name``;
- node's spec reporter, jest, mocha's passes: ``✔ name`` / ``✖ name``;
- ``go test``: ``--- PASS: TestX`` and a package's ``ok``/``FAIL`` line;
- pytest's own lines (``-v``, ``-rA``), when its JUnit report is missing.

``nothing_ran`` reads the lines with which runners say they found no test.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from repoagent.testrun import Outcome, TestOutcome

_UNITTEST_RESULT = r"ok|FAIL|ERROR|skipped(?: .*)?|expected failure|unexpected success"
_UNITTEST = re.compile(r"^(?P<test>(?:test|runTest)\w*) \((?P<where>[\w.]+)\)(?: \.\.\. ?(?P<rest>.*))?$")
_UNITTEST_LONE = re.compile(rf"^(?:.* )?(?:\.\.\. )?(?P<result>{_UNITTEST_RESULT})$")
_TAP = re.compile(r"^\s*(?P<status>not ok|ok) \d+(?: -)? ?(?P<name>.*?)(?:\s+#\s*(?P<directive>SKIP|TODO)\b.*)?$", re.I)
_MARKS = re.compile(r"^\s*(?P<mark>[✔✓√✖✕×﹣○]) (?P<name>.+?)(?: \([\d.]+ ?m?s\))?(?:\s+#\s*SKIP.*)?$")
_GO_TEST = re.compile(r"^\s*--- (?P<status>PASS|FAIL|SKIP): (?P<name>\S+)")
_GO_PACKAGE = re.compile(r"^(?P<status>ok|FAIL)\s+(?P<name>[\w./-]+)\s+(?:\(cached\)|[\d.]+s)")
_PYTEST_V = re.compile(r"^(?P<name>\S+::\S+(?: \S+)*?) (?P<status>PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS)\b")
_PYTEST_RA = re.compile(r"^(?P<status>PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS) (?P<name>\S+::\S+)")

# One pattern for every line above, so a stream's outcome lines are picked out in C as it goes by.
_ANY_LINE = "|".join(
    [
        r"(?:test|runTest)\w* \([\w.]+\).*",
        rf".*\b(?:{_UNITTEST_RESULT})",
        r"\s*(?:not ok|ok) \d+.*",
        r"\s*(?:✔|✓|√|✖|✕|×|﹣|○) .*",
        r"\s*--- (?:PASS|FAIL|SKIP): .*",
        r"(?:ok|FAIL)\s+\S+\s.*",
        r"\S+::\S+.* (?:PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS)\b.*",
        r"(?:PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS) \S+::.*",
    ]
)
OUTCOME_LINE = re.compile(rf"^(?:{_ANY_LINE})\r?$".encode(), re.M)
# Every such line holds one of these words: a chunk with none is passed over without running the pattern.
OUTCOME_HINT = re.compile(
    "|".join(
        ["ok", "test", "runTest", "FAIL", "ERROR", "PASS", "SKIP", "skipped", "failure", "success", *"✔✓√✖✕×﹣○"]
    ).encode()
)

_NOTHING = [
    (re.compile(r"^Ran 0 tests? in", re.M), "unittest ran 0 tests"),
    (re.compile(r"^NO TESTS RAN$", re.M), "unittest ran no test"),
    (re.compile(r"\bno tests ran\b"), "pytest ran no test"),
    (re.compile(r"^collected 0 items", re.M), "pytest collected 0 items"),
    (re.compile(r"^# tests 0$", re.M), "the runner counted 0 tests"),
    (re.compile(r"\[no test files\]"), "go found no test files"),
    (re.compile(r"^No tests found", re.M), "no tests found"),
]


def _unittest(result: str) -> Outcome:
    if result == "ok" or result == "expected failure":
        return "passed"
    if result.startswith("skipped"):
        return "skipped"
    return "error" if result == "ERROR" else "failed"


def unittest_name(test: str, where: str) -> str:
    """``where.test`` as Python 3.11+ prints it (``mod.Class.test``), whichever form was printed."""
    return where if where.endswith(f".{test}") else f"{where}.{test}"


def parse_lines(lines: Iterable[str]) -> list[TestOutcome]:
    """The outcomes the lines report, in order; a name seen twice keeps its worst outcome."""
    found: dict[str, Outcome] = {}
    pending: str | None = None  # a unittest name whose result comes on a later line (the test printed)

    def add(name: str, outcome: Outcome) -> None:
        name = name.strip()
        if not name:
            return
        if found.get(name) in ("failed", "error") and outcome in ("passed", "skipped"):
            return
        found[name] = outcome

    for line in lines:
        line = line.rstrip("\r")
        if m := _UNITTEST.match(line):
            name = unittest_name(m["test"], m["where"])
            rest = (m["rest"] or "").strip()
            if re.fullmatch(_UNITTEST_RESULT, rest):
                add(name, _unittest(rest))
                pending = None
            else:
                pending = name
            continue
        if pending is not None and (m := _UNITTEST_LONE.match(line.strip())):
            add(pending, _unittest(m["result"]))
            pending = None
            continue
        if m := _PYTEST_V.match(line) or _PYTEST_RA.match(line):
            status = m["status"]
            add(m["name"], "passed" if status in ("PASSED", "XFAIL") else "skipped" if status == "SKIPPED" else
                "error" if status == "ERROR" else "failed")  # fmt: skip
        elif m := _TAP.match(line):
            skipped = (m["directive"] or "").upper() in ("SKIP", "TODO")
            add(m["name"], "skipped" if skipped else "passed" if m["status"].lower() == "ok" else "failed")
        elif m := _MARKS.match(line):
            mark = m["mark"]
            add(m["name"], "passed" if mark in "✔✓√" else "skipped" if mark in "﹣○" else "failed")
        elif m := _GO_TEST.match(line) or _GO_PACKAGE.match(line):
            status = m["status"]
            add(m["name"], "passed" if status in ("PASS", "ok") else "skipped" if status == "SKIP" else "failed")
    return [TestOutcome(name=name, outcome=outcome) for name, outcome in found.items()]


def nothing_ran(text: str) -> str:
    """How the runner said it found no test ("" when it did not say so)."""
    return next((why for pattern, why in _NOTHING if pattern.search(text)), "")
