"""The ``oracle`` provider: answers every stage of a run from an answer sheet made from a gold patch.

``oracle/<file>`` names a JSON answer sheet (``swebench_runner.oracle.sheet`` makes
one per SWE-bench instance from its gold patch)::

    {"files": [...], "symbols": [{"path": ..., "name": ...}], "code": "...", "reproduction": ""}

The stage is read from the prompt, as a real model reads it: the candidate
files (stage 2), the schematic maps (stage 3), the request for a reproduction
test, and any request for code (first answers, feedback rounds, format
retries).  A run with it measures everything that is not the model: the
localization plumbing, the editor, the diffs and the prediction format.  It
goes through litellm's custom-provider hook, like a hosted model.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import litellm
from litellm import CustomLLM

from repoagent.errors import UserError
from repoagent.models.custom import model_response, register

ORACLE = "oracle"
NO_TEST = "No reproduction test: the oracle answers from the gold patch only."


# Lines of the prompts' own templates; the one found last in a prompt names its stage (an issue's text,
# which comes first, may quote any of them).
MARKERS = {
    "files": "# Candidate files\n\nThese files of the repository were ranked",
    "symbols": "# Schematic maps of the chosen files",
    "reproduction": "Write one pytest test file that reproduces the issue",
    "code": "# How to answer",
}


def _stage(prompt: str) -> str:
    found = {stage: prompt.rfind(marker) for stage, marker in MARKERS.items()}
    stage, at = max(found.items(), key=lambda kv: kv[1])
    return stage if at >= 0 else "code"


class OracleLLM(CustomLLM):
    def __init__(self) -> None:
        super().__init__()
        self.sheets: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()

    def sheet(self, name: str) -> dict[str, Any]:
        with self.lock:
            if name in self.sheets:
                return self.sheets[name]
        try:
            data = json.loads(Path(name).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UserError(f"oracle model {name!r}: cannot read the answer sheet ({exc})") from None
        if not isinstance(data, dict) or not isinstance(data.get("code"), str):
            raise UserError(f"oracle model {name!r}: the answer sheet must be a JSON object with 'code'")
        with self.lock:
            return self.sheets.setdefault(name, data)

    def answer(self, name: str, messages: list[dict[str, Any]]) -> str:
        sheet = self.sheet(name)
        asked = next((str(m.get("content", "")) for m in messages if m.get("role") == "user"), "")
        stage = _stage(asked)
        if stage == "files":
            return json.dumps({"files": sheet.get("files") or [], "reason": "the files the gold patch changes"})
        if stage == "symbols":
            symbols = [{**s, "action": "edit"} for s in sheet.get("symbols") or []]
            return json.dumps(
                {
                    "symbols": symbols,
                    "new_definition_needed": bool(sheet.get("new_definitions")),
                    "reason": "the definitions the gold patch changes",
                }
            )
        if stage == "reproduction":
            return sheet.get("reproduction") or NO_TEST
        return str(sheet["code"])

    def completion(self, model: str, messages: list, *args: Any, **kwargs: Any) -> litellm.ModelResponse:
        text = self.answer(model, messages)
        prompt_tokens = sum(len(str(m.get("content", ""))) for m in messages) // 4
        return model_response(ORACLE, model, text, prompt_tokens)


HANDLER: OracleLLM = register(ORACLE, OracleLLM)
