"""The ``scripted`` provider the tests use, registered with litellm once, when this module is imported.

``scripted/<file>`` names a JSON script: a list of answers, each a string or
``{"when": "text in the last user message", "answer": "..."}``.  Answers with
``when`` are matched first; the rest are served in order (the last repeats),
with a read position per script file, so runs that share a process use one
script file each.  The provider goes through litellm's custom-provider hook,
so a scripted call takes the same path as a hosted one.
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

SCRIPTED = "scripted"


class ScriptedLLM(CustomLLM):
    """Answers from script files; keeps a read position per script."""

    def __init__(self) -> None:
        super().__init__()
        self.positions: dict[str, int] = {}
        self.scripts: dict[str, list[Any]] = {}
        self.lock = threading.Lock()  # samples and runs may call from several threads

    def _script(self, name: str) -> list[Any]:
        with self.lock:
            if name in self.scripts:
                return self.scripts[name]
        try:
            data = json.loads(Path(name).read_text())
        except (OSError, ValueError) as exc:
            raise UserError(f"scripted model {name!r}: cannot read the script ({exc})") from None
        if not isinstance(data, list) or not data:
            raise UserError(f"scripted model {name!r}: the script must be a non-empty JSON list of answers")
        with self.lock:
            return self.scripts.setdefault(name, data)

    def answer(self, name: str, messages: list[dict[str, Any]]) -> str:
        script = self._script(name)
        last = next((m.get("content", "") for m in reversed(messages) if m.get("role") == "user"), "")
        for item in script:
            if isinstance(item, dict) and item.get("when") and item["when"] in str(last):
                return str(item["answer"])
        plain = [i for i in script if not (isinstance(i, dict) and i.get("when"))]
        if not plain:
            raise UserError(f"scripted model {name!r}: no answer matches and none is unconditional")
        with self.lock:
            pos = self.positions.get(name, 0)
            self.positions[name] = pos + 1
        item = plain[min(pos, len(plain) - 1)]
        return str(item["answer"] if isinstance(item, dict) else item)

    def completion(self, model: str, messages: list, *args: Any, **kwargs: Any) -> litellm.ModelResponse:
        text = self.answer(model, messages)
        prompt_tokens = litellm.token_counter(model=f"{SCRIPTED}/{model}", messages=messages)
        limit = (kwargs.get("optional_params") or {}).get("max_tokens")
        finish = "stop"
        if limit is not None and len(text) // 4 > limit:  # as a server does: cut the answer at max_tokens
            text, finish = text[: limit * 4], "length"
        return model_response(SCRIPTED, model, text, prompt_tokens, finish)


HANDLER: ScriptedLLM = register(SCRIPTED, ScriptedLLM)  # module import runs once per process, under the import lock
