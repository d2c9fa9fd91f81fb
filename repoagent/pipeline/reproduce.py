"""Reproduce: the model writes a test for the issue; it is kept only if it fails on the base revision.

A test that passes on the unfixed code, or an answer without the test, goes
back to the model with the reason, at most ``attempts`` times in all; then the
loop goes on without one.  ``ModelStopped`` (the budget) propagates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from editing.answer_format import FENCE
from editing.apply import FileEdit
from editing.diff import file_diff
from repoagent.chat import Message
from repoagent.events import AnswerRejected
from repoagent.pipeline.generate import numbered
from repoagent.pipeline.tester import Tester
from repoagent.prompts import Prompts
from repoagent.protocols import ChatModel
from repoagent.testrun import TestRun
from retrieval.localization import Localization

prompt = Prompts(Path(__file__).parent / "prompts" / "reproduce")
REPRO_PATH = "tests/test_repoagent_reproduction.py"
_NEW_TEST = re.compile(r"^#{2,4}\s*NEW TEST\s+`?(?P<path>[\w./-]+\.py)`?\s*$", re.M)


@dataclass(frozen=True)
class Reproduction:
    """The kept test (its code, "" when there is none) and its failing run on the base revision."""

    code: str = ""
    run: TestRun | None = None

    @property
    def patch(self) -> str:
        """The patch that adds the test ("" without one)."""
        return new_file_patch(REPRO_PATH, self.code) if self.code else ""


def new_file_patch(path: str, text: str) -> str:
    data = text if not text or text.endswith("\n") else text + "\n"
    return file_diff(FileEdit(path, b"", data.encode("utf-8", errors="surrogateescape")))


def reproduce(
    model: ChatModel, tester: Tester, issue: str, loc: Localization, attempts: int, temperature: float
) -> Reproduction:
    """A test that fails on the base revision, or an empty ``Reproduction`` when the model cannot write one."""
    locations = "\n\n".join(
        f"## {x.path}::{x.qualname}\n```\n{numbered(x.source, x.start_line)}\n```"
        for x in loc.locations
        if x.role == "edit"
    )
    messages = [Message("user", prompt("reproduce", issue=issue, locations=locations, path=REPRO_PATH))]
    tester.stages.start("reproduce")
    for attempt in range(attempts):
        answer = model.complete(messages, temperature=temperature, stage="reproduce").text
        code, error = read_test(answer), ""
        if code is None:
            error = "no '### NEW TEST path' header followed by a fenced block was found"
        else:
            run = tester.run([REPRO_PATH], new_file_patch(REPRO_PATH, code), f"reproduction (attempt {attempt})")
            if run.failed or run.errors:
                tester.stages.end("reproduce", kept=True)
                return Reproduction(code, run)
            error = "it passes on the current, unfixed code" if run.passed else "it ran no test"
        tester.stages.emit(AnswerRejected(stage="reproduce", attempt=attempt, error=error))
        messages += [Message("assistant", answer), Message("user", prompt("retry", error=error))]
    tester.stages.end("reproduce", kept=False)
    return Reproduction()


def read_test(answer: str) -> str | None:
    """The code of the answer's ``### NEW TEST path`` block, or None."""
    head = _NEW_TEST.search(answer)
    if head is None:
        return None
    fence = FENCE.search(answer, head.end())
    return fence.group("code") if fence else None
