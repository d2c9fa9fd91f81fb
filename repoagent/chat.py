"""What a chat model speaks: messages, completions, and ``ModelStopped``.  The ``ChatModel`` seam itself is in
``repoagent.protocols``; implementations live in ``repoagent.models``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass
class Message:
    role: str  # system, user, assistant
    content: str

    def to_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


@dataclass
class Completion:
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    seconds: float = 0.0
    truncated: bool = False  # the answer hit max_tokens


class ModelStopped(Exception):
    """The model may not be called again in this run (its budget is spent, or it keeps failing).

    Running out of budget travels as this one exception.  Callers keep what they
    have: the localizer falls back to retrieval, the sampler hands on the samples
    that finished (``partial``), the loop chooses among what it tested.
    """

    def __init__(self, message: str, partial: Sequence[object] = ()) -> None:
        super().__init__(message)
        self.partial = list(partial)  # what the caller finished before the model stopped (the sampler's candidates)
