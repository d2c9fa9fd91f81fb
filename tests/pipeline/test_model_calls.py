"""Model calls through litellm against a real OpenAI-compatible server on loopback: retries, cuts, budgets."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from repoagent.chat import Message, ModelStopped
from repoagent.errors import UserError
from repoagent.events import EventList, ModelCalled
from repoagent.models.budget import PROMPT_MARGIN, Budget, BudgetExceeded, Prices
from repoagent.models.context import fit_messages
from repoagent.models.litellm_model import LiteLLMModel, check_model
from tests.support.loopback import chat_completion, serve
from tests.support.models import model as scripted_or_hosted
from tests.support.models import model_settings, settings

ERROR = {"error": {"message": "slow down", "type": "rate_limit_error", "code": "rate_limit_exceeded"}}


def _model(url: str, **kw) -> tuple[LiteLLMModel, list[dict]]:  # noqa: ANN003
    """A model on the loopback server; its calls as trajectory records (one per HTTP request)."""
    events = EventList()
    fields = {"api_base": f"{url}/v1", "request_timeout": 30, "retries": 2, "max_output_tokens": 200}
    fields.update(api_key="sk-test", backoff_seconds=0.01, **kw)
    model = scripted_or_hosted("openai/local-test", events, **fields)
    return model, _Records(events)


class _Records(list):
    """The ``ModelCalled`` records of ``events``, read when the test looks."""

    def __init__(self, events: EventList) -> None:
        super().__init__()
        self.events = events

    def __getitem__(self, i):  # noqa: ANN001, ANN204
        return [e.to_record() for e in self.events.of(ModelCalled)][i]

    def __len__(self) -> int:
        return len(self.events.of(ModelCalled))


def test_rate_limit_is_retried_with_backoff(tmp_path: Path) -> None:
    answers = iter([(429, ERROR), (200, chat_completion("fixed"))])
    with serve(lambda *req: next(answers)) as (url, seen):
        model, events = _model(url)
        done = model.complete([Message("user", "hello")])
    assert done.text == "fixed" and done.prompt_tokens == 50 and done.completion_tokens == 10
    assert len(seen) == 2 and seen[0]["path"] == "/v1/chat/completions"
    assert seen[1]["headers"]["authorization"] == "Bearer sk-test"
    assert len(events) == 2 and "RateLimitError" in events[0]["failed"]  # one record per request
    assert "RateLimitError" in events[1]["errors"][0] and events[1]["response"] == "fixed"
    assert model.budget.spent_tokens == 60 and model.budget.calls == 1


def test_server_errors_past_the_retries_stop_the_model() -> None:
    with serve(lambda *req: (500, {"error": {"message": "boom", "type": "server_error"}})) as (url, seen):
        model, events = _model(url, retries=1)
        with pytest.raises(ModelStopped, match="kept failing after 2 tries"):
            model.complete([Message("user", "hello")])
    assert len(seen) == 2 and len(events) == 2 and len(events[1]["errors"]) == 2
    assert model.budget.spent_tokens == 0  # failed calls cost nothing and free their reservation


def test_a_refused_key_is_a_user_error() -> None:
    refused = {"error": {"message": "bad key", "type": "invalid_request_error", "code": "invalid_api_key"}}
    with serve(lambda *req: (401, refused)) as (url, seen):
        model, _ = _model(url)
        with pytest.raises(UserError, match="AuthenticationError"):
            model.complete([Message("user", "hello")])
    assert len(seen) == 1  # not retried


def test_prompts_are_cut_to_the_context_window_not_by_the_server() -> None:
    long_code = "\n".join(f"line {i} = compute({i})" for i in range(3000))
    with serve(lambda *req: (200, chat_completion("ok"))) as (url, seen):
        model, events = _model(url, context_tokens=1200)
        model.complete([Message("system", "be brief"), Message("user", f"# Code\n{long_code}\n# End")])
    sent = json.loads(seen[0]["body"])
    user = sent["messages"][1]["content"]
    assert "lines cut here to fit the model's context window" in user
    assert user.startswith("# Code\nline 0") and user.endswith("# End")  # head and tail kept
    assert sent["messages"][0]["content"] == "be brief"
    assert sent["max_tokens"] == 200 and events[0]["lines_cut"] > 2000


def test_fit_messages_leaves_short_chats_alone() -> None:
    msgs = [Message("user", "short")]
    assert fit_messages(msgs, 100, lambda ms: sum(len(m.content) for m in ms) // 4) == (msgs, 0, 1)


def test_budget_caps_the_answer_then_refuses_and_never_overspends() -> None:
    budget = Budget(max_tokens=10_000)
    free = Prices()
    held = budget.reserve(1000, 4096, free)
    assert held.answer_tokens == 4096
    budget.settle(held, 5000, 0.0)
    capped = budget.reserve(1000, 4096, free)  # what is left after the spent and the prompt's reservation
    prompt = int(1000 * PROMPT_MARGIN) + 16
    assert capped.answer_tokens == 10_000 - 5000 - prompt and capped.tokens == 10_000 - 5000
    budget.settle(capped, 9000 - 5000, 0.0)
    with pytest.raises(BudgetExceeded, match="budget reached: 9000 of 10000 tokens"):
        budget.reserve(1000, 4096, free)
    assert budget.to_dict()["spent_tokens"] == 9000


def _reserve_in_threads(budget: Budget, prices: Prices, n: int = 20) -> list:
    """``n`` threads, released at once, each reserving a 2,000-token prompt and a 2,000-token answer."""
    held: list = []
    lock = threading.Lock()
    gate = threading.Barrier(n)

    def worker() -> None:
        gate.wait()
        try:
            r = budget.reserve(2000, 2000, prices)
        except BudgetExceeded:
            return
        with lock:
            held.append(r)

    threads = [threading.Thread(target=worker) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return held


def test_cost_budget_is_safe_under_parallel_reservations() -> None:
    budget = Budget(max_cost=0.05)
    held = _reserve_in_threads(budget, Prices(input_per_token=1e-6, output_per_token=4e-6, known=True))
    assert 0 < len(held) < 20
    assert sum(r.cost for r in held) <= 0.05
    for r in held:  # every call spends its whole reservation: still within the limit
        budget.settle(r, r.tokens, r.cost)
    assert budget.spent_cost <= 0.05


def test_token_budget_is_safe_under_parallel_reservations() -> None:
    """Tokens other threads hold count: twenty threads never reserve more than the limit between them."""
    budget = Budget(max_tokens=20_000)
    held = _reserve_in_threads(budget, Prices())
    assert 0 < len(held) < 20
    assert sum(r.tokens for r in held) <= 20_000
    for r in held:
        budget.settle(r, r.tokens, 0.0)
    assert budget.spent_tokens <= 20_000


def test_an_empty_key_counts_as_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "")
    with pytest.raises(UserError, match="needs OPENAI_API_KEY"):
        check_model(model_settings("openai/gpt-4o-mini"), settings().budget)
    assert os.environ["OPENAI_API_KEY"] == ""  # never written, not even for the check
    monkeypatch.setenv("OPENAI_API_KEY", "sk-set")
    check_model(model_settings("openai/gpt-4o-mini"), settings().budget)  # no call: only the environment is read


def test_spent_cost_counts_and_settling_returns_the_reservation() -> None:
    prices = Prices(input_per_token=1e-6, output_per_token=1e-6, known=True)
    budget = Budget(max_cost=0.01)
    first = budget.reserve(1000, 1000, prices)
    budget.settle(first, 1500, 0.004)
    second = budget.reserve(1000, 1000, prices)
    budget.settle(second, 1500, 0.004)
    assert budget.calls == 2 and budget.spent_tokens == 3000 and budget.spent_cost == pytest.approx(0.008)
    # 0.002 left: the prompt's reservation (about $0.00117) leaves room for fewer than 1,000 answer tokens
    third = budget.reserve(1000, 1000, prices)
    prompt = int(1000 * PROMPT_MARGIN) + 16
    assert third.answer_tokens == int((0.01 - 0.008 - prompt * 1e-6) / 1e-6)
    budget.settle(third, 0, 0.0)  # a failed call: nothing spent, the reservation freed, not counted
    assert budget.calls == 2 and budget.spent_cost == pytest.approx(0.008)
    assert budget.reserve(1000, 1000, prices).answer_tokens == third.answer_tokens
    with pytest.raises(BudgetExceeded, match=rf"needs about {int(3000 * PROMPT_MARGIN) + 16} prompt tokens"):
        budget.reserve(3000, 1000, prices)


def test_a_cost_budget_with_free_answers_refuses_only_an_unaffordable_prompt() -> None:
    prompt_only = Prices(input_per_token=1e-6, output_per_token=0.0, known=True)
    budget = Budget(max_cost=0.002)
    held = budget.reserve(1000, 4096, prompt_only)  # no division by a zero price: the answer is free
    assert held.answer_tokens == 4096
    with pytest.raises(BudgetExceeded):
        budget.reserve(1000, 4096, prompt_only)  # the first prompt's reservation leaves too little for another
    assert budget.to_dict() == {"max_cost": 0.002, "max_tokens": None, "spent_cost": 0.0, "spent_tokens": 0, "calls": 0}


def test_a_zero_cost_budget_still_lets_a_free_model_answer() -> None:
    """A local model costs nothing: ``--max-cost 0`` leaves it free to answer, and a priced one refused."""
    free = Prices(input_per_token=0.0, output_per_token=0.0, known=True)
    budget = Budget(max_cost=0.0)
    assert budget.reserve(1000, 4096, free).answer_tokens == 4096
    with pytest.raises(BudgetExceeded):
        budget.reserve(1000, 4096, Prices(input_per_token=1e-6, output_per_token=0.0, known=True))


def test_the_report_keeps_the_cost_to_a_millionth_of_a_dollar() -> None:
    budget = Budget(max_cost=1.0)
    budget.settle(
        budget.reserve(100, 100, Prices(input_per_token=1e-6, output_per_token=1e-6, known=True)), 150, 0.00123456
    )
    assert budget.to_dict()["spent_cost"] == 0.001235
