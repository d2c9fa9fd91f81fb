"""Model access through litellm, and the ``scripted`` provider the tests use.

``scripted/<file>`` names a JSON script: a list of answers, each a string or
``{"when": "text in the last user message", "answer": "..."}``.  Answers with
``when`` are matched first; the rest are served in order (the last repeats).
The provider is registered with litellm's custom-provider hook, so a scripted
call takes the same path as a hosted one.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # never fetch the price list at import

import litellm  # noqa: E402
from litellm import CustomLLM  # noqa: E402

from repoagent.errors import UserError  # noqa: E402
from retrieval.llm import Completion, Message  # noqa: E402

SCRIPTED = "scripted"


class ScriptedLLM(CustomLLM):
    """Answers from script files; keeps a read position per script."""

    def __init__(self) -> None:
        super().__init__()
        self.positions: dict[str, int] = {}
        self.scripts: dict[str, list[Any]] = {}
        self.lock = threading.Lock()  # samples may be drawn from several threads

    def _script(self, name: str) -> list[Any]:
        if name not in self.scripts:
            try:
                data = json.loads(Path(name).read_text())
            except (OSError, ValueError) as exc:
                raise UserError(f"scripted model {name!r}: cannot read the script ({exc})") from None
            if not isinstance(data, list) or not data:
                raise UserError(f"scripted model {name!r}: the script must be a non-empty JSON list of answers")
            self.scripts[name] = data
        return self.scripts[name]

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
        prompt_tokens = sum(len(str(m.get("content", ""))) for m in messages) // 4
        return litellm.ModelResponse(
            model=f"{SCRIPTED}/{model}",
            choices=[{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            usage={
                "prompt_tokens": prompt_tokens,
                "completion_tokens": len(text) // 4,
                "total_tokens": prompt_tokens + len(text) // 4,
            },
        )


def register_scripted() -> ScriptedLLM:
    """Register (once per process) and return the scripted handler."""
    for entry in litellm.custom_provider_map:
        if entry.get("provider") == SCRIPTED:
            return entry["custom_handler"]
    handler = ScriptedLLM()
    litellm.custom_provider_map = [*litellm.custom_provider_map, {"provider": SCRIPTED, "custom_handler": handler}]
    return handler


class LiteLLMModel:
    """Any litellm model string; ``api_base`` for local servers (Ollama, vLLM, llama.cpp)."""

    def __init__(
        self,
        name: str,
        api_base: str | None = None,
        timeout: float = 120,
        retries: int = 3,
        max_tokens: int = 4096,
    ) -> None:
        if not name:
            raise UserError(
                "no model is configured: set -o model.name=PROVIDER/MODEL (for example openai/gpt-4o with "
                "OPENAI_API_KEY set, or ollama/qwen2.5-coder with -o model.api_base=http://localhost:11434)"
            )
        self.name = name
        self.api_base = api_base
        self.timeout = timeout
        self.retries = retries
        self.max_tokens = max_tokens
        if name.startswith(f"{SCRIPTED}/"):
            register_scripted()

    def complete(self, messages: list[Message], temperature: float = 0.0, n: int = 1) -> list[Completion]:
        out = []
        for _ in range(n):
            started = time.perf_counter()
            resp = litellm.completion(
                model=self.name,
                messages=[m.to_dict() for m in messages],
                temperature=temperature,
                api_base=self.api_base,
                timeout=self.timeout,
                num_retries=self.retries,
                max_tokens=self.max_tokens,
            )
            usage = getattr(resp, "usage", None)
            try:
                cost = float(litellm.completion_cost(completion_response=resp))
            except Exception:  # litellm raises plain Exception for unknown prices
                cost = 0.0
            out.append(
                Completion(
                    text=resp.choices[0].message.content or "",
                    prompt_tokens=getattr(usage, "prompt_tokens", 0) or 0,
                    completion_tokens=getattr(usage, "completion_tokens", 0) or 0,
                    cost=cost,
                    seconds=time.perf_counter() - started,
                )
            )
        return out
