from __future__ import annotations

from pathlib import Path

import pytest

from editing.answer_format import FormatError, parse_edit_answer
from repoagent.pipeline.generate import Sampler, first_messages
from repoagent.pipeline.localize import Localizer
from retrieval.index import RepoIndex
from retrieval.maps import schematic_map
from retrieval.retriever import Retriever
from retrieval.source import RepoSource
from tests.conftest import SHOP_ISSUE
from tests.support.models import Records, localizer, scripted

FIX = """The lookup fails for unknown codes.

### REPLACE shop/pricing.py::apply_discount
```python
def apply_discount(amount, code):
    \"\"\"Reduce amount by the discount of code.\"\"\"
    if code is None:
        return amount
    rate = DISCOUNTS.get(code, 0)
    return round(amount * (1 - rate), 2)
```
"""
# The same fix with other formatting and a comment: one candidate, two votes.
FIX_AGAIN = """### shop/pricing.py::apply_discount
```
def apply_discount(amount, code):
    \"\"\"Reduce amount by the discount of code.\"\"\"
    if code is None:
        return amount
    rate = DISCOUNTS.get(code, 0)  # unknown codes give no discount
    return round(amount * (1 - rate),
                 2)
```"""
OTHER_FIX = FIX.replace("DISCOUNTS.get(code, 0)", "DISCOUNTS[code] if code in DISCOUNTS else 0")
BROKEN = FIX.replace("rate = DISCOUNTS.get(code, 0)", "rate = DISCOUNTS.get(code, 0) + undefined_bonus")


def test_answer_format_reads_every_header_and_tolerates_slips() -> None:
    text = """Here you go:
### REPLACE a.py::A.f
```python
def f(self): pass
```
### INSERT AFTER a.py::g
```
def h(): pass
```
### INSERT INTO a.py::A
```python
def k(self): pass
```
### INSERT a.py BOTTOM
```python
Z = 1
```
### DELETE a.py::old
### BLOCK a.py:3
```python
import os
```
"""
    ops = parse_edit_answer(text)
    assert [(o.kind, o.target, o.after, o.position, o.line) for o in ops] == [
        ("replace", "A.f", None, None, None),
        ("insert", None, "g", None, None),
        ("insert", "A", None, "class_end", None),
        ("insert", None, None, "module_bottom", None),
        ("delete", "old", None, None, None),
        ("replace_block", None, None, None, 3),
    ]
    lone = parse_edit_answer("```\ndef f(): pass\n```", default_target=("a.py", "f"))
    assert lone[0].target == "f"
    with pytest.raises(FormatError, match="no header line"):
        parse_edit_answer("just prose, no code")
    with pytest.raises(FormatError, match="not followed by a fenced code block"):
        parse_edit_answer("### REPLACE a.py::f\nno code here")


@pytest.fixture()
def setting(shop_repo: Path):
    index = RepoIndex.build(RepoSource(shop_repo, "HEAD"))
    loc = Localizer(index, Retriever(index), None, localizer()).localize(SHOP_ISSUE)
    maps = {p: schematic_map(index, p) for p in ("shop/pricing.py",)}
    return index, loc, first_messages(SHOP_ISSUE, loc, maps)


def test_samples_collapse_into_votes_and_record_calls(setting, tmp_path: Path) -> None:
    index, loc, messages = setting
    assert "apply_discount" in messages[1].content and " | " in messages[1].content  # numbered source lines
    events = Records()
    sampler = Sampler(scripted(tmp_path, [FIX, FIX_AGAIN, OTHER_FIX], events), index.read, events, parallel=1)
    cands = sampler.candidates(messages, [0.0, 0.4, 0.8], 1, loc)
    assert [c.votes for c in cands] == [2, 1]
    assert cands[0].temperatures == [0.0, 0.4]
    assert "+    rate = DISCOUNTS.get(code, 0)" in cands[0].patch
    assert cands[0].patch.startswith("diff --git a/shop/pricing.py b/shop/pricing.py\n")
    assert len(events) == 3 and {e["temperature"] for e in events} == {0.0, 0.4, 0.8}
    assert {e["type"] for e in events} == {"model"} and {e["stage"] for e in events} == {"generate"}
    assert all(e["prompt_tokens"] > 0 and "seconds" in e for e in events)


def test_malformed_answer_is_sent_back_once(setting, tmp_path: Path) -> None:
    index, loc, messages = setting
    events = Records()
    sampler = Sampler(scripted(tmp_path, ["I would change the lookup.", FIX], events), index.read, events)
    cand = sampler.sample(messages, 0.0, loc)
    assert [e["type"] for e in events] == ["model", "rejected", "model"]  # each call recorded once
    assert cand.ok and events[1]["error"].startswith("no header line")
    assert events[2]["messages"][-1]["content"].startswith("Your answer could not be used: no header line")
    never = Sampler(scripted(tmp_path, ["prose only"]), index.read).sample(messages, 0.0, loc)
    assert not never.ok and never.error.startswith("format:")


def test_gate_failures_become_failed_candidates_with_the_reason(setting, tmp_path: Path) -> None:
    index, loc, messages = setting
    cand = Sampler(scripted(tmp_path, [BROKEN]), index.read).sample(messages, 0.0, loc)
    assert not cand.ok and cand.gate == "lint" and "undefined name 'undefined_bonus'" in cand.error
