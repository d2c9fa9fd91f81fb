"""Local grading as the official images grade: test names in either Python's form, each repository's own runner
(tox --current-env, the spec's edits of the tree), patches applied as the harness applies them, an instance that
cannot be graded never stopping the others, and predictions made by another system."""

from __future__ import annotations

import json
from pathlib import Path

from swebench_runner.envs.runners import apply_tree_edits, is_tox_current_env, tox_as_run, tree_edits
from swebench_runner.envs.specs import SYSTEM_PACKAGES, make_env_spec
from swebench_runner.grading.apply import GIT_APPLY, PATCH_FUZZ, apply_patch
from swebench_runner.grading.local import expected_ids, normalise_names
from tests.support.cli_helpers import run_cli
from tests.support.gitrepo import git, make_repo
from tests.support.sandbox_fixtures import require_docker
from tests.support.swebench_fixtures import fix_row, make_dataset, read_jsonl, validate_rows

PYPROJECT = (
    '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n\n'
    '[project]\nname = "calc"\nversion = "1.0"\n\n[tool.setuptools]\npackages = ["calc"]\n'
)
TOX_INI = "[tox]\nenvlist = py311\n\n[testenv]\nsetenv =\n    CALC_MODE = strict\n"
TOX_INI += "commands =\n    python -m pytest {posargs}\n"
# the spec of demo/calc: tox with the current-env plugin (not installed: the grader runs what tox would run), and
# a pre_install sed that the official image makes in the tree (without -rA no passing test would be seen)
SPEC = {
    "python": "3.11",
    "pip_packages": ["pytest"],
    "pre_install": ["sed -i 's/pytest/pytest -rA/' tox.ini"],
    "test_cmd": "tox --current-env -epy311 -v --",
}
OPS = {
    "add": "def add(a, b):\n    # the sum of two numbers\n    return a - b\n",
    "mul": "def mul(a, b):\n    # the product of two numbers\n    return a + b\n",
    "neg": "def neg(a):\n    # the opposite number\n    return a\n",
}


def _ops(**fixed: str) -> str:
    return "\n\n".join(fixed.get(name, body) for name, body in OPS.items())


def test_names_are_compared_in_the_form_both_pythons_print() -> None:
    """3.11's unittest prints ``test_x (mod.Class.test_x)``, earlier ones ``test_x (mod.Class)``: the seen names and
    the expected ones both take the short form, whichever the dataset has."""
    long, short = "test_x (app.tests.ThingTests.test_x)", "test_x (app.tests.ThingTests)"
    assert normalise_names(f"{long} ... ok\n{short} ... FAIL\n") == f"{short} ... ok\n{short} ... FAIL\n"
    assert expected_ids([long, short], "parse_log_django") == [short, short]
    other = "test_x (app.tests.ThingTests.test_y) ... ok"  # not the test's own name at the end: left alone
    assert normalise_names(other) == other


def test_tox_current_env_is_run_as_the_commands_tox_would_run() -> None:
    ini = (
        "[testenv]\nsetenv =\n    PYTEST_ADDOPTS = {env:PYTEST_ADDOPTS:} --color yes\n    A = 1\n"
        "commands=\n    python -X dev -m pytest -rA --durations 25 {posargs:tests}\n    -python -c 'print(1)'\n"
        "    du12: echo only-du12\n\n[testenv:docs]\ncommands = sphinx-build -b html doc build\n"
    )
    command = tox_as_run("tox --current-env -epy39 -v -- tests/test_a.py 'tests/test b.py'", ini)
    assert command == (
        "( export PYTEST_ADDOPTS=' --color yes' && export A=1 && cd /testbed && python -X dev -m pytest -rA "
        "--durations 25 tests/test_a.py 'tests/test b.py' && { python -c 'print(1)' || true ; } )"
    )
    assert "pytest -rA --durations 25 tests &&" in (tox_as_run("tox --current-env -e py39", ini) or "")
    assert (tox_as_run("tox --current-env -e du12 --", ini) or "").endswith("&& echo only-du12 )")
    docs = tox_as_run("tox --current-env -e docs", ini) or ""  # its own commands, [testenv]'s setenv
    assert docs.startswith("( export PYTEST_ADDOPTS=") and docs.endswith("&& sphinx-build -b html doc build )")
    assert tox_as_run("tox --current-env -e py39", "[tox]\nenvlist = py39\n") is None  # nothing to run: tox's own
    assert is_tox_current_env("tox --current-env -epy39 -v --") and not is_tox_current_env("pytest -rA")


def test_the_specs_sed_steps_are_made_in_the_tree(tmp_path: Path) -> None:
    spec = {
        "pre_install": [
            "apt-get update && apt-get install -y locales",
            "sed -i 's/pytest/pytest -rA/' tox.ini",
            "sed -i \"s/'packaging',/'packaging', 'markupsafe<=2.0.1',/\" setup.py",
            "sed -i 's/a\\(b\\)/X\\1&/g' notes.txt",
            "sed -i 's/x/y/' ../outside.txt",
        ]
    }
    (tmp_path / "tree").mkdir()
    (tmp_path / "outside.txt").write_text("x\n")
    files = {"tox.ini": "commands = pytest {posargs} pytest\n", "setup.py": "deps = ['packaging',]\n",
             "notes.txt": "ab ab\n"}  # fmt: skip
    for name, text in files.items():
        (tmp_path / "tree" / name).write_text(text)
    assert apply_tree_edits(tmp_path / "tree", tree_edits(spec)) == ["tox.ini", "setup.py", "notes.txt"]
    assert (tmp_path / "tree/tox.ini").read_text() == "commands = pytest -rA {posargs} pytest\n"
    assert (tmp_path / "tree/setup.py").read_text() == "deps = ['packaging', 'markupsafe<=2.0.1',]\n"
    assert (tmp_path / "tree/notes.txt").read_text() == "Xbab Xbab\n"
    assert (tmp_path / "outside.txt").read_text() == "x\n"  # never a file outside the tree


def test_the_system_packages_a_build_adds_are_named() -> None:
    spec = {"pre_install": ["apt-get -y update && apt-get install -y imagemagick ffmpeg libfreetype6-dev"]}
    env = make_env_spec("matplotlib/matplotlib", "3.5", {**spec, "python": "3.9"})
    assert env.system_packages[:3] == ["imagemagick", "ffmpeg", "libfreetype6-dev"]
    assert "g++" in env.system_packages and "g++" in env.script()
    assert set(SYSTEM_PACKAGES) >= {"scikit-learn/scikit-learn", "astropy/astropy", "matplotlib/matplotlib"}
    assert make_env_spec("demo/calc", "1.0", {"python": "3.11"}).system_packages == []


def test_the_build_backends_plugins_are_kept_and_only_setuptools_and_wheel_left_to_the_image() -> None:
    """setuptools-scm (pytest's, xarray's) writes the version file the package imports: the image must have it."""
    requires = '["setuptools>=40.0", "setuptools-scm", "wheel", "setuptools_scm_git_archive"]'
    pyproject = f"[build-system]\nrequires = {requires}\n"
    env = make_env_spec("pytest-dev/pytest", "4.4", {"python": "3.9"}, pyproject)
    assert env.build_requires == ["setuptools-scm", "setuptools_scm_git_archive"]


def test_a_conda_environment_file_is_installed_from_pypi_as_near_as_it_goes() -> None:
    """xarray's and matplotlib's specs install a conda environment file: its packages from PyPI (conda's names as
    PyPI's, ``name=1.2`` as the 1.2 series), what PyPI has not left out and recorded, none of them fatal."""
    text = (
        "name: t\nchannels: [conda-forge]\ndependencies:\n  - numpy=1.17\n  - conda-forge::scipy 1.5.2\n"
        "  - matplotlib-base>=3.1\n  - hdf5\n  - python=3.8\n  - pip\n  - pip:\n    - -e .\n    - numbagg\n"
    )
    spec = {"python": "3.10", "packages": "environment.yml", "environment_paths": ["ci/environment.yml"]}
    env = make_env_spec("pydata/xarray", "0.12", spec, conda_file=("ci/environment.yml", text))
    assert env.conda_requirements == ["numpy==1.17.*", "scipy==1.5.2", "matplotlib>=3.1", "numbagg"]
    assert [d["requirement"] for d in env.conda_dropped] == ["hdf5"] and env.unsupported() is None
    script = env.script()
    assert "pins_helper.py /opt/repoagent/env-changes.jsonl --optional 'numpy==1.17.*' scipy==1.5.2" in script
    assert '"requirement": "hdf5"' in script  # recorded in the image's list of changes
    missing = make_env_spec("pydata/xarray", "0.12", spec).unsupported() or ""
    assert "ci/environment.yml" in missing and "has not" in missing


def test_an_optional_requirement_that_installs_in_no_way_is_left_out_and_recorded(tmp_path: Path) -> None:
    import subprocess
    import sys

    helper = Path(__file__).parents[2] / "swebench_runner/envs/pins_helper.py"
    record = tmp_path / "record.jsonl"
    argv = [sys.executable, str(helper), str(record), "--optional", "repoagent-no-such-package-zz==1.0"]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    (line,) = [json.loads(x) for x in record.read_text().splitlines()]
    assert line["requirement"] == "repoagent-no-such-package-zz==1.0" and "left out" in line["why"]
    required = subprocess.run(argv[:3] + argv[4:], capture_output=True, text=True, timeout=300)
    assert required.returncode == 1 and "cannot install repoagent-no-such-package-zz" in required.stderr


def test_patches_apply_as_the_official_harness_applies_them(tmp_path: Path) -> None:
    """git apply first; a patch whose context has moved on only ``patch --fuzz=5`` applies; one that applies in no
    way says what each command said."""
    repo = tmp_path / "r"
    make_repo(repo, {"calc/ops.py": _ops()})
    make_repo(repo, {"calc/ops.py": _ops(neg=OPS["neg"].replace("return a", "return -a"))}, "fix")
    exact = git(repo, "diff", "HEAD~1", "HEAD") + "\n"
    git(repo, "checkout", "-q", "HEAD~1")
    assert apply_patch(repo, exact).by == GIT_APPLY
    git(repo, "checkout", "-q", "--", ".")
    fuzzy = exact.replace(" # the opposite number", " # the opposite of a number")
    applied = apply_patch(repo, fuzzy)
    assert applied.by == PATCH_FUZZ, applied.output
    assert "return -a" in (repo / "calc/ops.py").read_text() and "git apply --verbose --reject" in applied.output
    git(repo, "checkout", "-q", "--", ".")
    broken = exact.replace("-    return a\n", "-    return b\n").replace(" # the opposite number", " # something else")
    failed = apply_patch(repo, broken)
    assert failed.by is None and failed.output.count("$ ") == 3
    assert apply_patch(repo, "").by == "" and apply_patch(repo, "").ok


def test_validate_grades_unittest_names_tox_current_env_and_a_fuzzy_patch_as_the_official_images_do(
    tmp_path: Path,
) -> None:
    """Three gold patches, each resolved only as the official images grade: a unittest project on Python 3.11
    whose dataset has the other form of its test names; tox --current-env with neither tox nor its plugin
    installed, with the spec's sed -rA made in the tree and tox's setenv in effect; a gold patch only
    ``patch --fuzz`` applies.  The empty patch of each stays unresolved."""
    require_docker()
    repo = tmp_path / "repos" / "demo__calc"
    base = make_repo(repo, {"pyproject.toml": PYPROJECT, "tox.ini": TOX_INI, "calc/__init__.py": "",
                            "calc/ops.py": _ops()})  # fmt: skip
    units = (
        "import unittest\n\nfrom calc.ops import add\n\n\nclass UnitTests(unittest.TestCase):\n"
        "    def test_add(self):\n        self.assertEqual(add(2, 3), 5)\n"
    )
    fixed_add = make_repo(repo, {"calc/ops.py": _ops(add=OPS["add"].replace("a - b", "a + b")),
                                 "tests/__init__.py": "", "tests/test_units.py": units}, "fix add")  # fmt: skip
    by_tox = (
        "import os\n\nfrom calc.ops import mul\n\n\ndef test_mul():\n"
        "    assert os.environ['CALC_MODE'] == 'strict'  # tox's setenv\n    assert mul(2, 3) == 6\n"
    )
    fixed_mul = make_repo(repo, {"calc/ops.py": _ops(add=OPS["add"].replace("a - b", "a + b"),
                                                     mul=OPS["mul"].replace("a + b", "a * b")),
                                 "tests/test_tox.py": by_tox}, "fix mul")  # fmt: skip
    all_fixed = {"add": OPS["add"].replace("a - b", "a + b"), "mul": OPS["mul"].replace("a + b", "a * b")}
    neg_test = "from calc.ops import neg\n\n\ndef test_neg():\n    assert neg(2) == -2\n"
    fixed_neg = make_repo(repo, {"calc/ops.py": _ops(**all_fixed, neg=OPS["neg"].replace("return a", "return -a")),
                                 "tests/test_neg.py": neg_test}, "fix neg")  # fmt: skip
    unittest_script = ": '>>>>> Start Test Output'\npython -m unittest -v tests.test_units\n: '>>>>> End Test Output'\n"
    rows = [
        # the dataset's names in 3.11's long form (as django 5's): printed by 3.11, compared in the short form
        fix_row(repo, "demo__calc-1", base, fixed_add, ["test_add (tests.test_units.UnitTests.test_add)"],
                  log_parser="parse_log_django", eval_script=unittest_script),
        fix_row(repo, "demo__calc-2", fixed_add, fixed_mul, ["tests/test_tox.py::test_mul"]),
        fix_row(repo, "demo__calc-3", fixed_mul, fixed_neg, ["tests/test_neg.py::test_neg"]),
    ]  # fmt: skip
    rows[2]["patch"] = rows[2]["patch"].replace(" # the opposite number", " # the opposite of a number")
    out = validate_rows(tmp_path, rows, SPEC)
    results = {r["instance_id"]: (r.get("gold"), r.get("empty")) for r in read_jsonl(out / "validation.jsonl")}
    assert results == dict.fromkeys(["demo__calc-1", "demo__calc-2", "demo__calc-3"], ("resolved", "unresolved"))

    def report(kind: str, iid: str) -> dict:
        return json.loads((out / f"logs/run_evaluation/validate/{kind}/{iid}/report.json").read_text())[iid]

    first = report("gold", "demo__calc-1")
    assert first["tests_renamed"] == 1 and first["patch_successfully_applied"] is True
    log = (out / "logs/run_evaluation/validate/gold/demo__calc-1/test_output.txt").read_text()
    assert "test_add (tests.test_units.UnitTests.test_add) ... ok" in log  # the output as the tests printed it
    second = report("gold", "demo__calc-2")
    assert second["official_test_command"] == "tox --current-env -epy311 -v -- tests/test_tox.py"
    assert "python -m pytest -rA tests/test_tox.py" in second["test_command"] and second["tree_edits"] == ["tox.ini"]
    assert second["patch_applied_by"] == GIT_APPLY
    third = report("gold", "demo__calc-3")
    assert third["patch_applied_by"] == PATCH_FUZZ and third["patch_successfully_applied"] is True


def test_evaluate_grades_another_systems_predictions_and_an_instance_it_cannot_grade_stops_nothing(
    tmp_path: Path,
) -> None:
    """A predictions file that no run wrote: its instances alone are graded and summarised, under its model's
    name.  One whose environment_setup_commit no mirror has, and one the dataset lacks, are ``not graded`` with
    the reason, and the rest go on; a file where nothing can be graded exits non-zero, saying why."""
    require_docker()
    repos, dataset, rows = make_dataset(tmp_path / "data")
    broken = {**rows[1], "instance_id": "demo__calc-99", "environment_setup_commit": "0" * 40}
    dataset.write_text(dataset.read_text() + json.dumps(broken) + "\n")
    specs = tmp_path / "specs.json"
    spec = {"python": "3.11", "pip_packages": ["pytest"], "test_cmd": "python -m pytest -rA"}
    specs.write_text(json.dumps({"demo/calc": {"1.0": spec}, "demo/words": {"1.0": spec}}))
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    predictions = folder / "preds.jsonl"

    def write(ids: list[str]) -> None:
        by_id = {r["instance_id"]: r for r in [*rows, broken]}
        lines = [{"instance_id": i, "model_name_or_path": "other-system",
                  "model_patch": by_id[i]["patch"] if i in by_id else "diff"} for i in ids]  # fmt: skip
        predictions.write_text("".join(json.dumps(line) + "\n" for line in lines))

    write(["demo__calc-1", "demo__calc-99", "demo__gone-1"])
    grade = ["swebench", "evaluate", "--predictions", str(predictions), "--dataset", str(dataset), "--grader"]
    grade += ["local", "--specs", str(specs), "--repos", str(repos), "--run-id", "r1", "--workers", "2"]
    no_network = ["-o", f"swebench.remote_url={tmp_path}/no-remote/{{repo}}"]
    proc = run_cli(*grade, *no_network, home=tmp_path / "home", timeout=900)
    assert proc.returncode == 0, proc.stderr
    evaluation = json.loads((folder / "evaluation.json").read_text())["instances"]
    assert evaluation["demo__calc-1"]["resolved"] and evaluation["demo__calc-1"]["graded"]
    assert not evaluation["demo__calc-99"]["graded"] and "0" * 40 in evaluation["demo__calc-99"]["not_graded_reason"]
    assert "not in --dataset" in evaluation["demo__gone-1"]["not_graded_reason"]
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["model"] == "other-system" and summary["total"]["instances"] == 2
    assert summary["total"]["resolved"] == 1 and summary["total"]["not_graded"] == 1
    assert summary["total"]["statuses"] == {"external": 2}
    # nothing gradable: a non-zero exit that says why
    write(["demo__calc-99"])
    proc = run_cli(*grade, *no_network, home=tmp_path / "home", timeout=900)
    assert proc.returncode != 0 and "nothing could be graded" in proc.stderr and "0" * 40 in proc.stderr
