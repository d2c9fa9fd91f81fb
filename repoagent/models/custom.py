"""What the test and benchmark providers (``scripted``, ``oracle``) share: litellm registration and answers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import litellm
from litellm import CustomLLM


def model_response(provider: str, model: str, text: str, prompt_tokens: int, finish: str = "stop") -> Any:
    """A chat completion as a hosted model returns it, usage included (about four characters a token)."""
    return litellm.ModelResponse(
        model=f"{provider}/{model}",
        choices=[{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}],
        usage={
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(text) // 4,
            "total_tokens": prompt_tokens + len(text) // 4,
        },
    )


def register(provider: str, make: Callable[[], CustomLLM]) -> Any:
    """The handler litellm has for ``provider``, registered once (module import runs once per process)."""
    for entry in litellm.custom_provider_map:
        if entry.get("provider") == provider:
            return entry["custom_handler"]
    handler = make()
    litellm.custom_provider_map = [*litellm.custom_provider_map, {"provider": provider, "custom_handler": handler}]
    return handler
