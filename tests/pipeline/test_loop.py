from __future__ import annotations

from pathlib import Path

import pytest

from repoagent.cancel import CancelToken
from repoagent.pipeline.localize import Localizer
from repoagent.pipeline.outcome import LoopResult
from repoagent.pipeline.stages import Stages
from repoagent.pipeline.test_loop import verify
from repoagent.pipeline.test_selection import select_tests
from repoagent.pipeline.tester import Tester
from repoagent.records.report_page import render
from repoagent.sandbox.local import LocalSandbox
from retrieval.index import RepoIndex
from retrieval.retriever import Retriever
from retrieval.source import RepoSource
from tests.support.gitrepo import git
from tests.support.models import Records, localizer, scripted
from tests.support.models import loop as loop_options
from tests.support.sandbox_fixtures import make_calc, require_docker

ISSUE = "mul returns the sum: mul(2, 3) gives 5 instead of 6"
REPRO = """### NEW TEST tests/test_repoagent_reproduction.py
```python
from calc.ops import mul


def test_mul_multiplies():
    assert mul(2, 3) == 6
```"""
PASSING_REPRO = REPRO.replace("mul(2, 3) == 6", "mul(0, 0) == 0")
GOOD = """### REPLACE calc/ops.py::mul
```python
def mul(a, b):
    return a * b
```"""
WRONG = """### REPLACE calc/ops.py::mul
```python
def mul(a, b):
    return a - b
```"""


def _setup(tmp_path: Path):
    repo = make_calc(tmp_path / "calc")
    index = RepoIndex.build(RepoSource(repo, "HEAD"))
    loc = Localizer(index, Retriever(index), None, localizer()).localize(ISSUE)
    assert any(x.qualname == "mul" for x in loc.locations)
    return repo, index, loc


class _Loop:
    """The loop's stages on one repository, as ``fix`` runs them after localization."""

    def __init__(self, model, repo, index, sandbox, options) -> None:  # noqa: ANN001
        self.model, self.index, self.options = model, index, options
        self.stages = Stages(model.events, CancelToken())
        box = sandbox or LocalSandbox()
        self.tester = Tester(box, repo, "HEAD", options.test_cmd, options.timeout, self.stages)

    def run(self, issue: str, loc) -> LoopResult:  # noqa: ANN001
        assert loc.issue == issue
        return verify(self.model, self.tester, self.index, loc, self.options, self.stages)


def _loop(model, repo, index, sandbox=None, **opts) -> tuple[_Loop, list]:
    command = opts.pop("test_cmd", "python3 -m pytest -q -p no:cacheprovider")
    options = loop_options(command, **{"temperatures": [0.0], "timeout": 120, **opts})
    return _Loop(model, repo, index, sandbox, options), model.events


def test_selection_finds_tests_that_import_the_changed_module(tmp_path: Path) -> None:
    repo, index, _ = _setup(tmp_path)
    assert select_tests(index, {"calc/ops.py": ["mul"]}) == ["tests/test_ops.py"]
    assert select_tests(index, {"calc/other.py": ["nothing"]}) == []


def test_correct_fix_on_the_first_try(tmp_path: Path) -> None:
    repo, index, loc = _setup(tmp_path)
    model = scripted(tmp_path, [{"when": "reproduces the issue", "answer": REPRO}, GOOD], Records())
    loop, events = _loop(model, repo, index)
    result = loop.run(ISSUE, loc)
    assert result.resolved and "return a * b" in result.patch
    assert result.baseline is not None and result.baseline.failed == 1  # test_mul fails before
    assert result.reproduction_run is not None and result.reproduction_run.failed == 1
    best = result.candidates[0]
    assert best.repro_passes and best.new_failures == [] and best.run.passed == 3
    assert "reproduction test passes" in result.reason and "no newly failing tests" in result.reason
    assert [e["stage"] for e in events if e["type"] == "model"].count("generate") == 1


def test_wrong_fix_is_corrected_after_test_feedback(tmp_path: Path) -> None:
    repo, index, loc = _setup(tmp_path)
    model = scripted(tmp_path, [{"when": "reproduces the issue", "answer": REPRO}, WRONG, GOOD], Records())
    loop, events = _loop(model, repo, index, max_retries=2)
    result = loop.run(ISSUE, loc)
    assert result.resolved and "return a * b" in result.patch
    assert [c.round for c in result.candidates] == [0, 1]
    assert not result.candidates[0].repro_passes
    feedback = [e for e in events if e["type"] == "model" and e["stage"] == "feedback"][0]["messages"][-1]["content"]
    assert feedback.startswith("Your change was applied, but it is not right yet") and "test_mul" in feedback


def test_a_reproduction_that_passes_on_base_is_refused(tmp_path: Path) -> None:
    repo, index, loc = _setup(tmp_path)
    model = scripted(
        tmp_path,
        [
            {"when": "reproduces the issue", "answer": PASSING_REPRO},
            {"when": "That test cannot be used", "answer": REPRO},
            GOOD,
        ],
        Records(),
    )
    loop, events = _loop(model, repo, index)
    result = loop.run(ISSUE, loc)
    assert "mul(2, 3) == 6" in result.reproduction
    assert [e["stage"] for e in events if e["type"] == "model"][:2] == ["reproduce", "reproduce"]
    assert [(e["stage"], e["attempt"]) for e in events if e["type"] == "rejected"] == [("reproduce", 0)]
    assert result.resolved


def test_a_model_that_never_succeeds_ends_unresolved_within_its_rounds(tmp_path: Path) -> None:
    repo, index, loc = _setup(tmp_path)
    model = scripted(tmp_path, [{"when": "reproduces the issue", "answer": REPRO}, WRONG], Records())
    loop, events = _loop(model, repo, index, max_retries=1)
    result = loop.run(ISSUE, loc)
    assert not result.resolved and len(result.candidates) == 2
    assert "no passing reproduction test" in result.reason
    # Both rounds wrote the same wrong patch: one of them, the one ranked first, is the chosen one.
    assert result.candidates[0].candidate.patch == result.candidates[1].candidate.patch == result.patch
    assert result.chosen == 0
    assert render({"loop": result.model_dump(mode="json")}, []).count("(chosen)") == 1


BREAKS_ADD = (
    GOOD
    + """
### REPLACE calc/ops.py::add
```python
def add(a, b):
    return a - b
```"""
)


def test_a_candidate_that_passes_the_reproduction_but_breaks_another_test_is_not_resolved(tmp_path: Path) -> None:
    repo, index, loc = _setup(tmp_path)
    model = scripted(tmp_path, [{"when": "reproduces the issue", "answer": REPRO}, BREAKS_ADD], Records())
    result = _loop(model, repo, index, max_retries=0)[0].run(ISSUE, loc)
    (only,) = result.candidates
    assert only.repro_passes and only.new_failures == ["tests.test_ops::test_add"]
    assert not only.clean and not result.resolved and "1 newly failing" in result.reason


def test_of_two_candidates_the_one_that_breaks_nothing_wins(tmp_path: Path) -> None:
    repo, index, loc = _setup(tmp_path)
    # the breaking one comes first and has the same reproduction result: only the regression tells them apart
    answers = [{"when": "reproduces the issue", "answer": REPRO}, BREAKS_ADD, GOOD]
    loop, _ = _loop(scripted(tmp_path, answers, Records()), repo, index, temperatures=[0.0, 0.5], max_retries=0)
    result = loop.run(ISSUE, loc)
    assert len(result.candidates) == 2 and all(c.repro_passes for c in result.candidates)
    chosen = result.candidates[result.chosen]
    assert result.resolved and chosen.new_failures == [] and "return a - b" not in result.patch


def test_a_test_that_failed_before_is_not_blamed_on_the_candidate(tmp_path: Path) -> None:
    repo = make_calc(tmp_path / "calc")
    (repo / "tests/test_known.py").write_text("def test_known_broken():\n    assert False\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "a test that fails at the base revision")
    index = RepoIndex.build(RepoSource(repo, "HEAD"))
    loc = Localizer(index, Retriever(index), None, localizer()).localize(ISSUE)
    model = scripted(tmp_path, [{"when": "reproduces the issue", "answer": REPRO}, GOOD], Records())
    loop, _ = _loop(model, repo, index, max_retries=0, test_cmd="python3 -m pytest -q -p no:cacheprovider tests")
    result = loop.run(ISSUE, loc)
    assert any(t.name.endswith("test_known_broken") and t.outcome == "failed" for t in result.candidates[0].run.tests)
    assert result.candidates[0].new_failures == [] and result.resolved


def test_the_loop_runs_in_docker(tmp_path: Path) -> None:
    client = require_docker()
    from repoagent.sandbox.docker_box import DockerSandbox

    repo, index, loc = _setup(tmp_path)
    model = scripted(tmp_path, [{"when": "reproduces the issue", "answer": REPRO}, GOOD], Records())
    sandbox = DockerSandbox(
        "repoagent-base:bookworm", memory_mb=512, client=client, install="python3 -m pip install -q pytest"
    )
    loop, _ = _loop(model, repo, index, sandbox=sandbox)
    result = loop.run(ISSUE, loc)
    assert result.resolved and "return a * b" in result.patch
    assert result.baseline is not None and result.baseline.sandbox == "docker" and result.baseline.failed == 1
    assert result.candidates[0].repro_passes and result.candidates[0].run.passed == 3


pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
