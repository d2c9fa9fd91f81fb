"""Answers as real models write them, through ``fix()`` end to end: imports beside the code, elisions,
other fences and headers, unified diffs and SEARCH/REPLACE blocks, a whole class for one method, loose JSON."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from editing.answer_format import FormatError, parse_edit_answer, read_answer
from editing.apply import apply_ops
from editing.errors import ElisionError
from editing.ops import EditOp
from repoagent.pipeline.fix import Caches, FixOutcome, FixRequest, fix
from repoagent.pipeline.inputs import read_issue
from tests.support.fix_fixtures import script
from tests.support.gitrepo import make_repo
from tests.support.models import settings

SHAPES = '''"""Shapes."""

from pk.util import clamp


class Circle:
    """A circle."""

    def __init__(self, r):
        self.r = r

    def area(self):
        return 3 * self.r**2

    def scaled(self, k):
        k = clamp(k, 0, 10)
        if k == 0:
            raise ValueError("k must be positive")
        # keep the radius in bounds
        return Circle(self.r * k)
'''
FILES = {
    "pk/__init__.py": SHAPES,
    "pk/util.py": "def clamp(x, lo, hi):\n    return max(lo, min(hi, x))\n",
    "tests/test_shapes.py": "import math\n\nfrom pk import Circle\n\n\ndef test_area():\n"
    "    assert Circle(1).area() == math.pi\n\n\ndef test_scaled():\n    assert Circle(1).scaled(2).r == 2\n",
    "ISSUE.md": "Circle.area is wrong\n\nCircle(1).area() gives 3; the area of a circle is pi r squared.\n",
}
STAGE2 = {"when": "# Candidate files", "answer": '{"files": ["pk/__init__.py"]}'}
STAGE3 = {"when": "# Schematic maps", "answer": '{"symbols": [{"path": "pk/__init__.py", "name": "Circle.area"}]}'}
AREA = "def area(self):\n    return math.pi * self.r**2\n"


def _run(tmp_path: Path, answers: list, *overrides: str) -> FixOutcome:
    repo = tmp_path / "shapes"
    make_repo(repo, FILES)
    s = settings(
        f"model.name={script(tmp_path, answers)}", "sandbox.kind=local", "generation.temperatures=[0.0]",
        "loop.reproduction_attempts=0", "loop.max_retries=0", *overrides,
    )  # fmt: skip
    request = FixRequest(issue=read_issue(f"@{repo}/ISSUE.md"), repo=repo, settings=s, rev="HEAD")
    return fix(request, caches=Caches(tmp_path / "c.sqlite3"))


def _rejected(outcome: FixOutcome) -> list[str]:
    lines = (outcome.run_path / "trajectory.jsonl").read_text().splitlines()
    return [r["error"] for r in map(json.loads, lines) if r["type"] == "rejected"]


def _patched(outcome: FixOutcome) -> str:
    """pk/__init__.py as the chosen patch leaves it (the patch applied to the original)."""
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "pk").mkdir()
        (Path(tmp) / "pk/__init__.py").write_text(SHAPES)
        subprocess.run(["git", "apply", "-"], cwd=tmp, input=outcome.patch.encode(), check=True)
        return (Path(tmp) / "pk/__init__.py").read_text()


def test_an_import_beside_a_method_goes_to_the_module_imports(tmp_path: Path) -> None:
    answer = f"### REPLACE pk/__init__.py::Circle.area\n```python\nimport math\n\n{AREA}```"
    outcome = _run(tmp_path, [STAGE2, STAGE3, answer])
    assert outcome.status == "resolved", outcome.reason
    after = _patched(outcome)
    assert after.startswith('"""Shapes."""\n\nimport math\n\nfrom pk.util import clamp\n')  # stdlib group, own place
    assert after.count("import math") == 1 and "    import math" not in after
    assert "return math.pi * self.r**2" in after and "k = clamp(k, 0, 10)" in after


def test_an_import_beside_a_top_level_function_is_not_left_above_it() -> None:
    src = b'"""Util."""\n\nimport os\nimport sys\n\n\ndef f():\n    return 1\n'
    op = EditOp(
        kind="replace", path="m.py", target="f", code="import json\nimport os\n\ndef f():\n    return json.dumps(1)\n"
    )
    after = apply_ops([op], lambda p: src)[0].after.decode()
    assert after == '"""Util."""\n\nimport json\nimport os\nimport sys\n\n\ndef f():\n    return json.dumps(1)\n'


def test_an_elided_answer_is_sent_back_for_the_whole_definition(tmp_path: Path) -> None:
    elided = (
        '### REPLACE pk/__init__.py::Circle\n```python\nclass Circle:\n    """A circle."""\n\n'
        "    # ... __init__ unchanged ...\n\n    def area(self):\n        return math.pi * self.r**2\n\n"
        "    # ... rest of the class unchanged ...\n```"
    )
    whole = (
        f"### REPLACE pk/__init__.py::Circle.area\n```python\n{AREA}```\n"
        "### INSERT pk/__init__.py TOP\n```python\nimport math\n```"
    )
    outcome = _run(tmp_path, [STAGE2, STAGE3, elided, whole])
    assert outcome.status == "resolved"
    assert any("write the whole definition" in e for e in _rejected(outcome))
    assert "k = clamp(k, 0, 10)" in _patched(outcome) and "unchanged" not in outcome.patch


@pytest.mark.parametrize("body", ["        ...", "        pass"])
def test_a_bare_ellipsis_or_pass_where_statements_stood_is_an_elision(body: str) -> None:
    code = f"def scaled(self, k):\n{body[4:]}\n"
    op = EditOp(kind="replace", path="pk/__init__.py", target="Circle.scaled", code=code)
    with pytest.raises(ElisionError):
        apply_ops([op], lambda p: SHAPES.encode())


@pytest.mark.parametrize("clause", ["except TypeError:", "else:", "if k is None:"])
def test_pass_as_the_body_of_a_clause_is_code_not_an_elision(clause: str) -> None:
    src = b"def scale(v, k):\n    if k:\n        v[0] *= k\n    return v\n"
    head = "def scale(v, k):\n    try:\n        v[0] *= k\n    except KeyError:\n        raise\n"
    if clause != "except TypeError:":
        head += "    try:\n        v.sort()\n    except TypeError:\n        raise\n"
    code = f"{head}    {clause}\n        pass\n    return v\n"
    op = EditOp(kind="replace", path="s.py", target="scale", code=code)
    assert f"{clause}\n        pass\n" in apply_ops([op], lambda p: src)[0].after.decode()
    elided = "def scale(v, k):\n    v = list(v)\n    pass\n"  # a pass among statements still is one
    with pytest.raises(ElisionError):
        apply_ops([EditOp(kind="replace", path="s.py", target="scale", code=elided)], lambda p: src)


def test_a_stub_stays_editable() -> None:
    src = b"from typing import Protocol\n\n\nclass Shape(Protocol):\n    def area(self) -> float: ...\n"
    op = EditOp(kind="replace", path="s.py", target="Shape.area", code="def area(self) -> int: ...\n")
    assert b"-> int: ..." in apply_ops([op], lambda p: src)[0].after


@pytest.mark.parametrize(
    "answer",
    [
        f"~~~python\n{AREA}~~~",  # a lone ~~~ block defining the asked-for method
        f"**REPLACE pk/__init__.py::Circle.area**\n~~~python\n{AREA}~~~",
        f"REPLACE `pk/__init__.py::Circle.area`\n```python\n{AREA}```",
        f"### REPLACE `pk/__init__.py`::Circle.area\n```python\n{AREA}```",
    ],
)
def test_other_fences_and_headers_are_read(tmp_path: Path, answer: str) -> None:
    outcome = _run(tmp_path, [STAGE2, STAGE3, answer.replace("math.pi", "3.141592653589793")])
    assert outcome.status == "resolved", (outcome.reason, _rejected(outcome))


def test_ambiguous_headers_stay_refused() -> None:
    with pytest.raises(FormatError):
        parse_edit_answer(f"Replace the area method like this:\n```python\n{AREA}```")  # no target asked about
    with pytest.raises(FormatError):
        parse_edit_answer(f"### Replace area in pk/__init__.py please\n```python\n{AREA}```")


DIFF = """Here is the fix:
```diff
--- a/pk/__init__.py
+++ b/pk/__init__.py
@@ -12,2 +12,2 @@ class Circle:
     def area(self):
-        return 3 * self.r**2
+        return 3.141592653589793 * self.r**2
```"""
SEARCH_REPLACE = """pk/__init__.py
```python
<<<<<<< SEARCH
    def area(self):
        return 3 * self.r**2
=======
    def area(self):
        return 3.141592653589793 * self.r**2
>>>>>>> REPLACE
```"""


@pytest.mark.parametrize(("answer", "fmt"), [(DIFF, "unified_diff"), (SEARCH_REPLACE, "search_replace")])
def test_a_diff_or_search_replace_answer_is_applied_and_its_format_recorded(
    tmp_path: Path, answer: str, fmt: str
) -> None:
    outcome = _run(tmp_path, [STAGE2, STAGE3, answer])
    assert outcome.status == "resolved", (outcome.reason, _rejected(outcome))
    assert outcome.loop.candidates[outcome.loop.chosen].candidate.format == fmt


def test_a_diff_that_does_not_apply_is_sent_back_with_the_format(tmp_path: Path) -> None:
    stale = DIFF.replace("return 3 * self.r**2", "return 4 * self.r**2")
    fixed = f"### REPLACE pk/__init__.py::Circle.area\n```python\n{AREA.replace('math.pi', '3.141592653589793')}```"
    outcome = _run(tmp_path, [STAGE2, STAGE3, stale, fixed])
    assert outcome.status == "resolved"
    assert any("does not apply" in e and "### REPLACE" in e for e in _rejected(outcome))
    assert outcome.loop.candidates[outcome.loop.chosen].candidate.format == "definitions"


def test_a_whole_class_for_one_method_replaces_the_method_or_the_class() -> None:
    cls = SHAPES.split("class Circle:", 1)[1]
    only_area = "class Circle:" + cls.replace("return 3 * self.r**2", "return 3.14159 * self.r**2")
    op = EditOp(kind="replace", path="pk/__init__.py", target="Circle.area", code=only_area)
    after = apply_ops([op], lambda p: SHAPES.encode())[0].after.decode()
    assert after == SHAPES.replace("return 3 * self.r**2", "return 3.14159 * self.r**2")
    both = only_area.replace("self.r = r", "self.r = float(r)")
    op = EditOp(kind="replace", path="pk/__init__.py", target="Circle.area", code=both)
    after = apply_ops([op], lambda p: SHAPES.encode())[0].after.decode()
    assert "self.r = float(r)" in after and "3.14159" in after and ast.parse(after)


def test_a_whole_class_answer_through_fix_changes_only_the_method(tmp_path: Path) -> None:
    whole = "class Circle:" + SHAPES.split("class Circle:", 1)[1].replace(
        "3 * self.r**2", "3.141592653589793 * self.r**2"
    )
    outcome = _run(tmp_path, [STAGE2, STAGE3, f"### REPLACE pk/__init__.py::Circle.area\n```python\n{whole}```"])
    assert outcome.status == "resolved"
    changed = [ln for ln in outcome.patch.splitlines() if ln[:1] in "+-" and ln[:3] not in ("+++", "---")]
    assert changed == ["-        return 3 * self.r**2", "+        return 3.141592653589793 * self.r**2"]


def test_loose_json_at_the_localizer_stages_is_mended(tmp_path: Path) -> None:
    stage2 = {"when": "# Candidate files", "answer": "Sure!\n{'files': ['pk/__init__.py',], 'reason': 'the class',}"}
    stage3 = {
        "when": "# Schematic maps",
        "answer": 'I would pick:\n```json\n{"symbols": [{"path": "pk/__init__.py", "name": "Circle.area",},]}'
        "\n```\nDone.",
    }
    fixed = f"### REPLACE pk/__init__.py::Circle.area\n```python\n{AREA.replace('math.pi', '3.141592653589793')}```"
    outcome = _run(tmp_path, [stage2, stage3, fixed])
    assert outcome.status == "resolved"
    stages = {s.stage: s for s in outcome.localization.stages}
    assert not stages["select_files"].fallback and not stages["select_symbols"].fallback
    assert "model: stage 2" in outcome.localization.files[0].reasons


def test_read_answer_says_which_format_came() -> None:
    assert read_answer(DIFF).format == "unified_diff"
    assert read_answer(SEARCH_REPLACE).format == "search_replace"
    assert read_answer(f"### REPLACE a.py::f\n```python\n{AREA}```").format == "definitions"
