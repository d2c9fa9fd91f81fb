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
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # never fetch the price list at import

import litellm  # noqa: E402
from litellm import CustomLLM  # noqa: E402

from repoagent.budget import Budget, Prices  # noqa: E402
from repoagent.config import ModelSettings  # noqa: E402
from repoagent.context import fit_messages  # noqa: E402
from repoagent.errors import UserError  # noqa: E402
from retrieval.llm import Completion, Message, ModelStopped  # noqa: E402

litellm.suppress_debug_info = True
NO_MODEL = (
    "no model is configured: pass --model PROVIDER/MODEL or set -o model.name=... (for example "
    "--model openai/gpt-4o-mini with OPENAI_API_KEY set, or --model ollama/qwen2.5-coder "
    "--api-base http://localhost:11434 for a local Ollama server)"
)

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
        prompt_tokens = litellm.token_counter(model=f"{SCRIPTED}/{model}", messages=messages)
        limit = (kwargs.get("optional_params") or {}).get("max_tokens")
        finish = "stop"
        if limit is not None and len(text) // 4 > limit:  # as a server does: cut the answer at max_tokens
            text, finish = text[: limit * 4], "length"
        return litellm.ModelResponse(
            model=f"{SCRIPTED}/{model}",
            choices=[{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}],
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


RETRYABLE = (
    litellm.RateLimitError,
    litellm.Timeout,
    litellm.APIConnectionError,
    litellm.InternalServerError,
    litellm.ServiceUnavailableError,
    litellm.BadGatewayError,
)
FATAL = (litellm.AuthenticationError, litellm.PermissionDeniedError, litellm.NotFoundError)
DEFAULT_CONTEXT = 32_000
Recorder = Callable[[dict[str, Any]], None]
Busy = Callable[[str], AbstractContextManager[Any]]


def _model_info(name: str) -> dict[str, Any]:
    try:
        return dict(litellm.get_model_info(name))
    except Exception:  # litellm raises plain Exception subclasses for models it has no data on
        return {}


def count_tokens(name: str, messages: list[Message]) -> int:
    try:
        return int(litellm.token_counter(model=name, messages=[m.to_dict() for m in messages]))
    except Exception:  # no tokenizer for this model: about four characters a token
        return sum(len(m.content) for m in messages) // 4 + 4 * len(messages)


class LiteLLMModel:
    """Any litellm model string; ``api_base`` for local servers (Ollama, vLLM, llama.cpp).

    Every call is fitted to the context window (prompts cut explicitly), checked
    against the run's ``Budget`` first, retried with backoff on rate limits,
    timeouts and server errors, and recorded with its prompt, answer, tokens,
    cost and seconds.
    """

    def __init__(
        self,
        name: str,
        api_base: str | None = None,
        timeout: float = 120,
        retries: int = 3,
        max_tokens: int = 4096,
        *,
        api_key: str | None = None,
        context_tokens: int | None = None,
        prices: Prices | None = None,
        budget: Budget | None = None,
        record: Recorder | None = None,
        busy: Busy | None = None,
        backoff: float = 1.0,
    ) -> None:
        if not name:
            raise UserError(NO_MODEL)
        self.name = name
        self.api_base = api_base
        self.api_key = api_key
        self.timeout = timeout
        self.retries = retries
        self.max_tokens = max_tokens
        self.budget = budget or Budget()
        self.record = record or (lambda event: None)
        self.busy = busy or (lambda label: nullcontext())
        self.backoff = backoff
        self.stage = ""
        if name.startswith(f"{SCRIPTED}/"):
            register_scripted()
        info = _model_info(name)
        self.context_tokens = context_tokens or int(info.get("max_input_tokens") or DEFAULT_CONTEXT)
        if prices is None:
            known = info.get("input_cost_per_token") is not None
            prices = Prices(
                float(info.get("input_cost_per_token") or 0.0), float(info.get("output_cost_per_token") or 0.0), known
            )
        self.prices = prices

    @classmethod
    def from_settings(cls, m: ModelSettings, **extra: Any) -> LiteLLMModel:
        prices = None
        if m.input_cost_per_token is not None or m.output_cost_per_token is not None:
            prices = Prices(m.input_cost_per_token or 0.0, m.output_cost_per_token or 0.0, True)
        return cls(
            m.name or "",
            m.api_base,
            m.request_timeout,
            m.retries,
            m.max_output_tokens,
            api_key=m.api_key,
            context_tokens=m.context_tokens,
            prices=prices,
            backoff=m.backoff_seconds,
            **extra,
        )

    def check_credentials(self) -> None:
        """Stop before any work when the provider's key (or server address) is not set."""
        if self.api_key or self.name.startswith(f"{SCRIPTED}/"):
            return
        # litellm counts a variable set to "" as set: hide empty ones while it looks.
        empty = {k: v for k, v in os.environ.items() if not v.strip()}
        try:
            for key in empty:
                del os.environ[key]
            found = litellm.validate_environment(model=self.name)
        except Exception:  # a provider litellm cannot check: let the first call tell
            return
        finally:
            os.environ.update(empty)
        missing = [k for k in found.get("missing_keys", []) if not (self.api_base and k.endswith("API_BASE"))]
        if missing:
            raise UserError(
                f"model {self.name} needs {', '.join(missing)} in the environment (or -o model.api_key=...); "
                "for a local server use for example --model ollama/qwen2.5-coder --api-base http://localhost:11434"
            )

    def complete(self, messages: list[Message], temperature: float = 0.0, n: int = 1) -> list[Completion]:
        return [self._one(messages, temperature) for _ in range(n)]

    def _one(self, messages: list[Message], temperature: float) -> Completion:
        limit = self.context_tokens - self.max_tokens
        event: dict[str, Any] = {"type": "model", "stage": self.stage, "model": self.name, "temperature": temperature}
        errors: list[str] = []
        for attempt in range(self.retries + 1):
            try:
                fitted, cut, prompt_tokens = fit_messages(messages, limit, lambda ms: count_tokens(self.name, ms))
            except ValueError as exc:
                raise ModelStopped(f"{exc}: the model's context window ({self.context_tokens}) is too small") from None
            held = self.budget.reserve(prompt_tokens, self.max_tokens, self.prices)
            started = time.perf_counter()
            try:
                with self.busy(f"{self.stage or 'model'}: waiting for {self.name}"):
                    resp = litellm.completion(
                        model=self.name,
                        messages=[m.to_dict() for m in fitted],
                        temperature=temperature,
                        api_base=self.api_base,
                        api_key=self.api_key,
                        timeout=self.timeout,
                        num_retries=0,
                        max_tokens=held.answer_tokens,
                    )
            except litellm.ContextWindowExceededError as exc:
                self.budget.settle(held, 0, 0.0)
                errors.append(f"context window exceeded: {exc}")
                limit = int(limit * 0.75)
                continue
            except RETRYABLE as exc:
                self.budget.settle(held, 0, 0.0)
                errors.append(f"{exc.__class__.__name__}: {str(exc)[:300]}")
                if attempt == self.retries:
                    event.update(messages=[m.to_dict() for m in fitted], errors=errors)
                    self.record(event)
                    raise ModelStopped(f"{self.name} kept failing after {attempt + 1} tries: {errors[-1]}") from None
                time.sleep(min(30.0, self.backoff * 2**attempt))
                continue
            except FATAL as exc:
                self.budget.settle(held, 0, 0.0)
                raise UserError(f"model {self.name}: {exc.__class__.__name__}: {str(exc)[:300]}") from None
            except BaseException:
                self.budget.settle(held, 0, 0.0)
                raise
            usage = getattr(resp, "usage", None)
            p_tok = getattr(usage, "prompt_tokens", 0) or 0
            c_tok = getattr(usage, "completion_tokens", 0) or 0
            cost = self.prices.cost(p_tok, c_tok) if self.prices.known else 0.0
            self.budget.settle(held, p_tok + c_tok, cost)
            choice = resp.choices[0]
            done = Completion(
                text=choice.message.content or "",
                prompt_tokens=p_tok,
                completion_tokens=c_tok,
                cost=cost,
                seconds=time.perf_counter() - started,
                truncated=choice.finish_reason == "length",
            )
            event.update(messages=[m.to_dict() for m in fitted], response=done.text, prompt_tokens=p_tok)
            event.update(completion_tokens=c_tok, cost=cost, seconds=round(done.seconds, 3))
            event.update(max_tokens=held.answer_tokens)
            event.update(truncated=done.truncated, lines_cut=cut, errors=errors)
            self.record(event)
            return done
        raise ModelStopped(f"{self.name}: no answer after {self.retries + 1} tries: {errors[-1] if errors else ''}")
