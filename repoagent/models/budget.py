"""A run's spending limits, checked before every model call so a run never spends past them.

Before a call the model reserves its worst case: the prompt's tokens plus the
answer's ``max_tokens``, priced with litellm's cost data (or prices set in the
configuration).  A call whose worst case does not fit is not made: it is given
a smaller ``max_tokens`` when a useful answer still fits, else ``BudgetExceeded``
stops the run.  After the call the real usage replaces the reservation.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from repoagent.chat import ModelStopped

MIN_ANSWER_TOKENS = 256
PROMPT_MARGIN = 1.15  # tokenizers differ between our count and the provider's


class BudgetExceeded(ModelStopped):
    """The next call could spend past ``--max-cost`` or ``--max-tokens``."""


@dataclass
class Prices:
    input_per_token: float = 0.0
    output_per_token: float = 0.0
    known: bool = False

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return prompt_tokens * self.input_per_token + completion_tokens * self.output_per_token


@dataclass(frozen=True)
class Reservation:
    tokens: int
    cost: float
    answer_tokens: int


@dataclass
class Budget:
    max_cost: float | None = None
    max_tokens: int | None = None
    spent_cost: float = 0.0
    spent_tokens: int = 0
    calls: int = 0
    _reserved_cost: float = 0.0
    _reserved_tokens: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def reserve(self, prompt_tokens: int, max_answer: int, prices: Prices) -> Reservation:
        """Reserve a call's worst case; its ``answer_tokens`` is the ``max_tokens`` the call may use."""
        prompt = int(prompt_tokens * PROMPT_MARGIN) + 16
        with self._lock:
            answer = max_answer
            if self.max_tokens is not None:
                answer = min(answer, self.max_tokens - self.spent_tokens - self._reserved_tokens - prompt)
            if self.max_cost is not None:
                left = self.max_cost - self.spent_cost - self._reserved_cost - prices.cost(prompt, 0)
                if prices.output_per_token > 0:
                    answer = min(answer, int(left / prices.output_per_token))
                elif left < 0:
                    answer = -1
            if answer < min(MIN_ANSWER_TOKENS, max_answer):
                raise BudgetExceeded(self._why(prompt))
            held = Reservation(prompt + answer, prices.cost(prompt, answer), answer)
            self._reserved_tokens += held.tokens
            self._reserved_cost += held.cost
            return held

    def settle(self, held: Reservation, tokens: int, cost: float) -> None:
        """Replace a reservation by what the call really used (``tokens`` 0 when it failed)."""
        with self._lock:
            self._reserved_tokens -= held.tokens
            self._reserved_cost -= held.cost
            self.spent_tokens += tokens
            self.spent_cost += cost
            self.calls += 1 if tokens else 0

    def _why(self, prompt: int) -> str:
        parts = []
        if self.max_tokens is not None:
            parts.append(f"{self.spent_tokens} of {self.max_tokens} tokens spent")
        if self.max_cost is not None:
            parts.append(f"${self.spent_cost:.4f} of ${self.max_cost:.4f} spent")
        return (
            f"budget reached: {', '.join(parts)}; the next call needs about {prompt} prompt tokens "
            f"plus at least {MIN_ANSWER_TOKENS} for the answer"
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "max_cost": self.max_cost,
            "max_tokens": self.max_tokens,
            "spent_cost": round(self.spent_cost, 6),
            "spent_tokens": self.spent_tokens,
            "calls": self.calls,
        }
