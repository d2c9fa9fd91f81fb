"""Fit a chat into a model's context window by cutting the middle of the longest messages.

The cut is explicit: the removed lines are replaced by a marker saying how many
were cut, and the caller records it; a server never truncates a prompt silently.
"""

from __future__ import annotations

from collections.abc import Callable

from repoagent.chat import Message

Counter = Callable[[list[Message]], int]
MARKER = "[... {n} lines cut here to fit the model's context window ...]"


def _cut_middle(text: str, drop_chars: int) -> tuple[str, int]:
    lines = text.splitlines()
    if len(lines) < 3:  # one long line: cut characters instead
        keep = max(0, len(text) - drop_chars - len(MARKER))
        return text[: keep // 2] + MARKER.format(n=0) + text[len(text) - keep // 2 :], 0
    dropped, chars = 0, 0
    mid = len(lines) // 2
    lo, hi = mid, mid
    while chars < drop_chars and (lo > 1 or hi < len(lines) - 1):
        if lo > 1:
            lo -= 1
            chars += len(lines[lo]) + 1
        if chars < drop_chars and hi < len(lines) - 1:
            chars += len(lines[hi]) + 1
            hi += 1
        dropped = hi - lo
    return "\n".join([*lines[:lo], MARKER.format(n=dropped), *lines[hi:]]), dropped


def fit_messages(messages: list[Message], limit: int, count: Counter) -> tuple[list[Message], int, int]:
    """``messages`` cut to at most ``limit`` tokens, how many lines were cut (0: unchanged), and their tokens."""
    out = list(messages)
    total_cut = 0
    for _ in range(32):
        used = count(out)
        if used <= limit:
            return out, total_cut, used
        # the longest message that is not the system prompt, else the system prompt
        order = sorted(range(len(out)), key=lambda i: (out[i].role != "system", len(out[i].content)), reverse=True)
        i = order[0]
        excess_chars = int((used - limit) * 4 * 1.1) + 64
        text, cut = _cut_middle(out[i].content, min(excess_chars, max(0, len(out[i].content) - 200)))
        if text == out[i].content:
            break
        out[i] = Message(out[i].role, text)
        total_cut += max(cut, 1)
    used = count(out)
    if used > limit:
        raise ValueError(f"the prompt cannot be cut to {limit} tokens")
    return out, total_cut, used
