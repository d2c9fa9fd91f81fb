from __future__ import annotations

import json
from pathlib import Path

import pytest

from repoagent.models.litellm_model import LiteLLMModel
from repoagent.pipeline.localize import Localizer
from retrieval.index import RepoIndex
from retrieval.neighbours import Neighbours
from retrieval.retriever import Retriever
from retrieval.source import RepoSource
from tests.conftest import SHOP_ISSUE
from tests.support.gitrepo import make_repo
from tests.support.models import Records, model, scripted
from tests.support.models import localizer as options

FILES_OK = json.dumps({"files": ["shop/pricing.py"], "reason": "the KeyError is raised there"})
SYMBOLS_OK = json.dumps(
    {"symbols": [{"path": "shop/pricing.py", "name": "apply_discount", "action": "edit"}], "reason": "lookup"}
)


def localizer(repo: Path, model: LiteLLMModel | None, events: Records | None = None) -> Localizer:
    index = RepoIndex.build(RepoSource(repo, "HEAD"))
    return Localizer(index, Retriever(index), model, options(attempts=2), events)


def test_model_picks_files_then_symbols(shop_repo: Path, tmp_path: Path) -> None:
    events = Records()
    answers = [
        {"when": "# Candidate files", "answer": f"Sure! ```json\n{FILES_OK}\n```"},
        {"when": "# Schematic maps", "answer": SYMBOLS_OK},
    ]
    loc = localizer(shop_repo, scripted(tmp_path, answers, events), events).localize(SHOP_ISSUE)
    assert loc.files[0].path == "shop/pricing.py" and "model: stage 2" in loc.files[0].reasons
    assert loc.symbols[0].id == "shop/pricing.py::apply_discount"
    edit = [x for x in loc.locations if x.role == "edit"]
    assert edit[0].qualname == "apply_discount" and "DISCOUNTS[code]" in edit[0].source
    assert (edit[0].start_line, edit[0].end_line) == (6, 11)
    # Callers of the chosen function, here in a file the model did not choose, come along.
    assert ("shop/cart.py", "Cart.total", "caller") in {(x.path, x.qualname, x.role) for x in loc.locations}
    assert [s.stage for s in loc.stages] == ["retrieve", "select_files", "select_symbols"]
    assert loc.prompt_tokens > 0 and loc.completion_tokens > 0
    assert [e["type"] for e in events] == ["model", "model"]  # each call recorded once, by the model
    assert events[0]["messages"][1]["content"].startswith("# Issue")
    assert "shop/cart.py" in events[0]["messages"][1]["content"]  # the file map of candidates


def test_malformed_answers_are_retried_with_the_error(shop_repo: Path, tmp_path: Path) -> None:
    events = Records()
    answers = [
        "I think it is the pricing module.",
        FILES_OK,
        json.dumps({"symbols": [{"path": "shop/pricing.py", "name": "no_such_function"}]}),
        SYMBOLS_OK,
    ]
    loc = localizer(shop_repo, scripted(tmp_path, answers, events), events).localize(SHOP_ISSUE)
    assert loc.files[0].path == "shop/pricing.py"
    assert loc.symbols[0].qualname == "apply_discount"
    errors = [e["error"] for e in events if e["type"] == "rejected"]
    assert errors == [
        "no JSON object was found in your answer",
        "these are not definitions in the maps shown: shop/pricing.py::no_such_function",
    ]
    retry = [e for e in events if e["type"] == "model"][1]["messages"][-1]["content"]
    assert retry.startswith("Your answer could not be used: no JSON object")


def test_out_of_repository_answers_fall_back_to_retrieval(shop_repo: Path, tmp_path: Path) -> None:
    answers = [json.dumps({"files": ["../etc/passwd"]}), json.dumps({"files": ["nope.py"]}), "{}", "{}"]
    loc = localizer(shop_repo, scripted(tmp_path, answers)).localize(SHOP_ISSUE)
    stage2 = loc.stages[1]
    assert stage2.fallback and "not files of the repository" in stage2.detail["errors"][0]
    assert loc.files[0].reasons[0] == "fallback: retrieval rank"
    assert [f.path for f in loc.files[:2]] == ["shop/cart.py", "shop/pricing.py"]  # the retrieval order, kept
    assert loc.stages[2].fallback and loc.symbols


def test_without_model_locations_come_from_retrieval(shop_repo: Path) -> None:
    loc = localizer(shop_repo, None).localize(SHOP_ISSUE)
    assert [s.stage for s in loc.stages] == ["retrieve"]
    assert any(x.qualname == "apply_discount" for x in loc.locations)


def test_no_model_configured_says_how_to_set_one() -> None:
    from repoagent.errors import UserError

    with pytest.raises(UserError, match="model.name"):
        model("")


def test_neighbours_are_found_across_the_repository(tmp_path: Path) -> None:
    files = {
        "pkg/orders.py": "from pkg.tax import apply_tax\n\n\ndef compute_total(items):\n"
        "    return apply_tax(sum(get(i) for i in items))\n\n\ndef get(i):\n    return i\n",
        "pkg/tax.py": "def apply_tax(amount):\n    return amount * 1.2\n",
        "pkg/report.py": "from pkg.orders import compute_total\n\n\ndef report(items):\n"
        "    return f'{compute_total(items)}'\n\n\ndef header():\n    return 'compute_total is elsewhere'\n",
        "pkg/a.py": "def get(x):\n    return x\n",
        "pkg/b.py": "def get(x):\n    return x\n",
        "tests/test_orders.py": "from pkg.orders import compute_total\n\n\ndef test_total():\n"
        "    assert compute_total([1])\n",
    }
    make_repo(tmp_path / "r", files)
    index = RepoIndex.build(RepoSource(tmp_path / "r", "HEAD"))
    sym = index.symbol("pkg/orders.py", "compute_total")
    assert sym is not None
    found = {(p, s.qualname, role) for p, s, role in Neighbours(index).of("pkg/orders.py", sym, [], [])}
    assert found == {
        ("pkg/tax.py", "apply_tax", "callee"),  # a unique name, in a file nobody chose
        ("pkg/orders.py", "get", "callee"),  # in its own file: homonyms elsewhere do not matter
        ("pkg/report.py", "report", "caller"),  # header() only names it in a string
    }
