"""``LiteLLMModel``: any litellm model string, fitted, budgeted, retried, cancellable and recorded.

One instance serves one run: it holds that run's ``Budget``, event sink and
cancel token, given when it is made.  Every call is fitted to the context
window (prompts cut explicitly), checked against the budget first, retried
with backoff on rate limits, timeouts and server errors, and emitted once as
a ``ModelCalled`` event with its prompt, answer, tokens, cost and seconds.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import litellm

from repoagent.cancel import CancelToken
from repoagent.chat import Completion, Message, ModelStopped
from repoagent.config import BudgetSettings, ModelSettings
from repoagent.errors import UserError
from repoagent.events import ModelCalled, ModelCallStarted, NoEvents
from repoagent.models.budget import Budget, Prices
from repoagent.models.context import fit_messages
from repoagent.models.oracle import ORACLE
from repoagent.models.scripted import SCRIPTED
from repoagent.protocols import EventSink

litellm.suppress_debug_info = True
NO_MODEL = (
    "no model is configured: pass --model PROVIDER/MODEL or set -o model.name=... (for example "
    "--model openai/gpt-4o-mini with OPENAI_API_KEY set, or --model ollama/qwen2.5-coder "
    "--api-base http://localhost:11434 for a local Ollama server)"
)
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


def prices_for(m: ModelSettings, info: dict[str, Any] | None = None) -> Prices:
    """Configured prices, else litellm's (``info``, looked up when not given); ``known``: either had one."""
    if m.input_cost_per_token is not None or m.output_cost_per_token is not None:
        return Prices(m.input_cost_per_token or 0.0, m.output_cost_per_token or 0.0, True)
    info = _model_info(m.name or "") if info is None else info
    known = info.get("input_cost_per_token") is not None
    return Prices(
        float(info.get("input_cost_per_token") or 0.0), float(info.get("output_cost_per_token") or 0.0), known
    )


def check_model(m: ModelSettings, budget: BudgetSettings) -> None:
    """Stop before any work when no model is set, its key is missing, or ``max_cost`` cannot be priced."""
    if not m.name:
        raise UserError(NO_MODEL)
    missing = missing_keys(m)
    if missing:
        raise UserError(
            f"model {m.name} needs {', '.join(missing)} in the environment (or -o model.api_key=...); "
            "for a local server use for example --model ollama/qwen2.5-coder --api-base http://localhost:11434"
        )
    if budget.max_cost is not None and not prices_for(m).known:
        raise UserError(
            f"--max-cost: litellm has no price for {m.name}; set -o model.input_cost_per_token=... and "
            "-o model.output_cost_per_token=..., or limit with --max-tokens"
        )


def missing_keys(m: ModelSettings) -> list[str]:
    """The provider's variables that are unset or empty (litellm alone counts ``KEY=`` as set)."""
    if m.api_key or not m.name or m.name.startswith((f"{SCRIPTED}/", f"{ORACLE}/")):
        return []
    try:
        found = litellm.validate_environment(model=m.name)
        provider = litellm.get_llm_provider(model=m.name)[1] or ""
    except Exception:  # a provider litellm cannot check: let the first call tell
        return []
    missing = [k for k in found.get("missing_keys", []) if not (m.api_base and k.endswith("API_BASE"))]
    prefix = provider.upper().replace("-", "_") + "_"
    credential = ("_API_KEY", "_AUTH_TOKEN", "_API_TOKEN")
    mine = [k for k in os.environ if k.startswith(prefix) and k.endswith(credential)]
    if mine and not any(os.environ[k].strip() for k in mine):  # every credential it has is empty
        missing += [k for k in mine if k not in missing]
    return missing


class LiteLLMModel:
    """Any litellm model string; ``api_base`` for local servers (Ollama, vLLM, llama.cpp)."""

    def __init__(
        self,
        settings: ModelSettings,
        budget: Budget | None = None,
        events: EventSink | None = None,
        cancel: CancelToken | None = None,
    ) -> None:
        if not settings.name:
            raise UserError(NO_MODEL)
        self.settings = settings
        self.name = settings.name
        self.max_tokens = settings.max_output_tokens
        self.budget = budget or Budget()
        self.events = events if events is not None else NoEvents()
        self.cancel = cancel or CancelToken()
        info = _model_info(self.name)  # litellm's data on the model, looked up once
        self.context_tokens = settings.context_tokens or int(info.get("max_input_tokens") or DEFAULT_CONTEXT)
        self.prices = prices_for(settings, info)

    @classmethod
    def for_run(
        cls, settings: ModelSettings, budget: BudgetSettings, events: EventSink, cancel: CancelToken
    ) -> LiteLLMModel:
        return cls(settings, Budget(budget.max_cost, budget.max_tokens), events, cancel)

    def complete(self, messages: list[Message], temperature: float = 0.0, *, stage: str = "") -> Completion:
        limit = self.context_tokens - self.max_tokens
        errors: list[str] = []
        s = self.settings
        for attempt in range(s.retries + 1):
            self.cancel.check()
            try:
                fitted, cut, prompt_tokens = fit_messages(messages, limit, lambda ms: count_tokens(self.name, ms))
            except ValueError as exc:
                raise ModelStopped(f"{exc}: the model's context window ({self.context_tokens}) is too small") from None
            held = self.budget.reserve(prompt_tokens, self.max_tokens, self.prices)
            started = time.perf_counter()
            sent = [m.to_dict() for m in fitted]
            call = {"stage": stage, "model": self.name, "temperature": temperature, "messages": sent}
            self.events.emit(ModelCallStarted(stage=stage, model=self.name))
            try:
                resp = self._call(sent, temperature, held.answer_tokens)
            except BaseException as exc:
                self.budget.settle(held, 0, 0.0)
                why = f"{exc.__class__.__name__}: {str(exc)[:300]}"
                self.events.emit(ModelCalled(**call, errors=[*errors, why], failed=why, max_tokens=held.answer_tokens))
                if isinstance(exc, litellm.ContextWindowExceededError):
                    errors.append(f"context window exceeded: {exc}")
                    limit = int(limit * 0.75)
                    continue
                if isinstance(exc, RETRYABLE):
                    errors.append(why)
                    if attempt == s.retries:
                        raise ModelStopped(f"{self.name} kept failing after {attempt + 1} tries: {why}") from None
                    self.cancel.sleep(min(30.0, s.backoff_seconds * 2**attempt))
                    continue
                if isinstance(exc, FATAL):
                    raise UserError(f"model {self.name}: {why}") from None
                raise
            return self._settle(resp, held, started, call, cut, errors)
        raise ModelStopped(f"{self.name}: no answer after {s.retries + 1} tries: {errors[-1] if errors else ''}")

    def _settle(
        self, resp: Any, held: Any, started: float, call: dict[str, Any], cut: int, errors: list[str]
    ) -> Completion:
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
        self.events.emit(
            ModelCalled(
                **call,
                response=done.text,
                prompt_tokens=p_tok,
                completion_tokens=c_tok,
                cost=cost,
                seconds=round(done.seconds, 3),
                max_tokens=held.answer_tokens,
                truncated=done.truncated,
                lines_cut=cut,
                errors=errors,
            )
        )
        return done

    def _call(self, messages: list[dict[str, str]], temperature: float, max_tokens: int) -> Any:
        """``litellm.completion`` in a helper thread, so a cancelled run need not wait for the answer."""
        s = self.settings
        box: dict[str, Any] = {}

        def work() -> None:
            try:
                box["resp"] = litellm.completion(
                    model=self.name,
                    messages=messages,
                    temperature=temperature,
                    api_base=s.api_base,
                    api_key=s.api_key,
                    timeout=s.request_timeout,
                    num_retries=0,
                    max_tokens=max_tokens,
                )
            except BaseException as exc:  # handed to the caller's thread below
                box["error"] = exc

        worker = threading.Thread(target=work, name=f"model-call-{self.name}", daemon=True)
        worker.start()
        while worker.is_alive():
            worker.join(self.cancel.POLL)
            self.cancel.check()  # an abandoned call ends on its own; its answer is not used
        if "error" in box:
            raise box["error"]
        return box["resp"]
