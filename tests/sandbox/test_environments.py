"""A project's tests run the way the project runs them: its declared test dependencies, lockfile, Python.

Every project here is built in the test and run for real in Docker, with its
packages from PyPI (as in CI); each declares its test dependency (``six``, which
the base image lacks) one way, and its test imports it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from repoagent.pipeline.fix import Caches, FixRequest, fix
from repoagent.pipeline.inputs import read_issue
from repoagent.sandbox.environment import Project, plan_environment
from retrieval.source import RepoSource
from tests.support.cli_helpers import child_env, run_cli
from tests.support.fix_fixtures import script
from tests.support.gitrepo import make_repo
from tests.support.models import settings
from tests.support.sandbox_fixtures import require_docker

TEST = "import six\n\nfrom pkg import double\n\n\ndef test_double():\n    assert six.PY3 and double(2) == 4\n"
CODE = "def double(x):\n    return 2 * x\n"
BUILD = '[build-system]\nrequires = ["setuptools>=68"]\nbuild-backend = "setuptools.build_meta"\n\n'
PROJECT = '[project]\nname = "pkg"\nversion = "1.0"\nrequires-python = ">=3.9"\n'
TOOL_ENV = child_env() | {
    "UV_NATIVE_TLS": "1",
    "POETRY_VIRTUALENVS_CREATE": "false",
}


def _project(tmp_path: Path, name: str, files: dict[str, str], lock: list[str] | None = None) -> Path:
    repo = tmp_path / name
    base = {"pkg/__init__.py": CODE, "tests/test_pkg.py": TEST}
    repo.mkdir(parents=True)
    for rel, text in files.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    if lock:  # the lockfile made by its own tool, as a project commits it
        done = subprocess.run(lock, cwd=repo, capture_output=True, text=True, env=TOOL_ENV, timeout=600)
        assert done.returncode == 0, done.stderr
    make_repo(repo, {**base, **{p.relative_to(repo).as_posix(): p.read_text() for p in repo.rglob("*.lock")}})
    return repo


def _tests_in_docker(repo: Path, tmp_path: Path) -> dict:
    proc = run_cli("test", "--repo", str(repo), "--rev", "HEAD", "--sandbox", "docker", "--json",
                   home=tmp_path / "home", timeout=900)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _explain(repo: Path) -> list[str]:
    return plan_environment(Project.at(RepoSource(repo, "HEAD"))).explain()


TOOL = str(Path(sys.executable).parent)
KINDS = {
    "uv_lock_group": (
        {"pyproject.toml": BUILD + PROJECT + '\n[dependency-groups]\ntest = ["six", "pytest"]\n'},
        [f"{TOOL}/uv", "lock", "--quiet"],
        "uv.lock, with test",
    ),
    "poetry_lock": (
        {
            "pyproject.toml": '[tool.poetry]\nname = "pkg"\nversion = "1.0"\ndescription = ""\nauthors = []\n'
            'packages = [{include = "pkg"}]\n\n[tool.poetry.dependencies]\npython = ">=3.9"\n\n'
            '[tool.poetry.group.test.dependencies]\nsix = "*"\n\n'
            # this workplace's registry answers the simple index but not PyPI's per-version JSON
            '[[tool.poetry.source]]\nname = "pypi-simple"\nurl = "https://pypi.org/simple/"\npriority = "primary"\n\n'
            '[build-system]\nrequires = ["poetry-core"]\nbuild-backend = "poetry.core.masonry.api"\n'
        },
        [f"{TOOL}/poetry", "lock", "--no-interaction"],
        "poetry.lock, with poetry and test",
    ),
    "extra": (
        {"pyproject.toml": BUILD + PROJECT + '\n[project.optional-dependencies]\ntests = ["six"]\n'},
        None,
        "pyproject.toml declares the extra tests",
    ),
    "requirements": (
        {"pyproject.toml": BUILD + PROJECT, "requirements-dev.txt": "six\n"},
        None,
        "requirements-dev.txt",
    ),
    "tox_deps": (
        {
            "pyproject.toml": BUILD + PROJECT,
            "tox.ini": "[tox]\nenvlist = py311\n\n[testenv]\ndeps =\n    pytest\n"
            "    six\ncommands = pytest {posargs}\n",
        },  # fmt: skip
        None,
        "tox's [testenv] deps",
    ),
    "version_from_git": (
        {
            "pyproject.toml": '[build-system]\nrequires = ["setuptools>=68", "setuptools-scm>=8"]\n'
            'build-backend = "setuptools.build_meta"\n\n[project]\nname = "pkg"\ndynamic = ["version"]\n'
            'dependencies = ["six"]\n\n[tool.setuptools_scm]\n'
        },
        None,
        "the project itself",
    ),
}


@pytest.mark.parametrize("kind", list(KINDS))
def test_each_way_of_declaring_test_dependencies_runs_the_tests(kind: str, tmp_path: Path) -> None:
    require_docker()
    files, lock, why = KINDS[kind]
    repo = _project(tmp_path, kind, files, lock)
    explained = "\n".join(_explain(repo))
    assert why in explained, explained
    summary = _tests_in_docker(repo, tmp_path)
    assert summary["passed"] == 1 and summary["failed"] == summary["errors"] == 0, (kind, summary)
    again = _tests_in_docker(repo, tmp_path)  # the environment image is cached: the same key, no install
    assert again["passed"] == 1


def test_a_project_that_needs_python_3_9_runs_on_it(tmp_path: Path) -> None:
    client = require_docker()
    if not any("repoagent-base:bullseye" in img.tags for img in client.images.list()):
        pytest.fail("the Python 3.9 base image is missing: run 'repoagent sandbox build-base --python 3.9'")
    files = {
        "pyproject.toml": BUILD + PROJECT.replace(">=3.9", ">=3.8,<3.10") + "\n[project.optional-dependencies]\n"
        'test = ["six", "pytest"]\n',
        "tests/test_version.py": "import sys\n\n\ndef test_python():\n    assert sys.version_info[:2] == (3, 9)\n",
    }
    repo = _project(tmp_path, "old", files)
    assert _explain(repo)[0].startswith("python: 3.9 (requires-python >=3.8,<3.10)")
    summary = _tests_in_docker(repo, tmp_path)
    assert summary["passed"] == 2, summary


DOUBLE_ANSWERS = [
    '{"files": ["pkg/__init__.py"]}',
    '{"symbols": [{"path": "pkg/__init__.py", "name": "double"}]}',
    "### REPLACE pkg/__init__.py::double\n```python\ndef double(x):\n    return 2 * x\n```",
]


def _fix_double(tmp_path: Path, name: str, test_head: str, *overrides: str):  # noqa: ANN202
    """``fix()`` in Docker on a project whose ``double`` adds, with the scripted answers that correct it."""
    repo = tmp_path / name
    if not repo.exists():
        make_repo(repo, {
            "pyproject.toml": BUILD + PROJECT,
            "pkg/__init__.py": CODE.replace("2 * x", "2 + x"),
            "tests/test_pkg.py": f"{test_head}from pkg import double\n\n\ndef test_double():\n"
            "    assert double(3) == 6\n",
            "ISSUE.md": "double(3) gives 5\n",
        })  # fmt: skip
    s = settings(f"model.name={script(tmp_path, DOUBLE_ANSWERS)}", "sandbox.kind=docker", *overrides)
    request = FixRequest(issue=read_issue(f"@{repo}/ISSUE.md"), repo=repo, settings=s, rev="HEAD")
    return fix(request, caches=Caches(tmp_path / "c.sqlite3"))


def test_a_broken_baseline_is_reported_and_nothing_is_scored(tmp_path: Path) -> None:
    require_docker()
    outcome = _fix_double(tmp_path, "broken", "import simplejson\n\n")
    assert outcome.status == "broken_environment"
    assert "'simplejson'" in outcome.reason and "--install" in outcome.reason
    assert outcome.loop.candidates == [] and outcome.budget["calls"] == 2  # the model was not asked for code
    assert any(line.startswith("tests: python3 -m pytest") for line in outcome.environment)
    # batch runs go on without tests: the same status, and an untested patch
    outcome = _fix_double(tmp_path, "broken", "import simplejson\n\n", "loop.untested_when_broken=true")
    assert outcome.status == "broken_environment" and "'simplejson'" in outcome.reason
    assert "return 2 * x" in outcome.patch and outcome.loop.tested is False


def test_an_install_step_that_fails_is_a_broken_environment_not_an_error(tmp_path: Path) -> None:
    require_docker()
    for untested in ("false", "true"):
        outcome = _fix_double(
            tmp_path, "uninstallable", "", f"loop.untested_when_broken={untested}",
            "sandbox.install=echo no such index; false", "loop.reproduction_attempts=0",
        )  # fmt: skip
        assert outcome.status == "broken_environment", (outcome.status, outcome.error)
        assert "the install step failed" in outcome.reason and "no such index" in outcome.reason
        assert bool(outcome.patch) == (untested == "true"), outcome.patch


def _plan(files: dict[str, str]):  # noqa: ANN202
    return plan_environment(Project(files, files.__getitem__))


def test_the_plan_reads_each_declaration_in_its_order() -> None:
    py = BUILD + PROJECT
    groups = py + '\n[dependency-groups]\ntests = ["six"]\n'
    assert "uv.lock" in _plan({"pyproject.toml": groups, "uv.lock": ""}).steps[1].why  # a lockfile first
    assert "pdm.lock" in _plan({"pyproject.toml": groups, "pdm.lock": ""}).steps[1].why
    assert "Pipfile.lock" in _plan({"Pipfile": "", "Pipfile.lock": "", "setup.py": ""}).steps[1].why
    assert "--group tests" in _plan({"pyproject.toml": groups, "requirements-dev.txt": ""}).steps[1].command
    req = _plan({"pyproject.toml": py, "requirements/test.txt": "", "tox.ini": "[testenv]\ndeps = six\n"})
    assert "-r requirements/test.txt" in req.steps[1].command and "requirements/test.txt" in req.files
    nox = _plan({"setup.py": "", "noxfile.py": "def tests(session):\n    session.install('six', '-e', '.')\n"})
    assert '"six"' in nox.steps[1].command and "noxfile" in nox.steps[1].why
    bare = _plan({"setup.py": ""})
    assert bare.steps[1].why == "the project itself" and "import pytest" in bare.steps[-1].command


def test_the_plan_picks_the_python_and_the_runner() -> None:
    assert _plan({"pyproject.toml": PROJECT, ".python-version": "3.13.1\n"}).python == "3.13"
    assert _plan({"pyproject.toml": PROJECT.replace(">=3.9", ">=3.12")}).python == "3.13"
    assert _plan({"setup.py": "", "tox.ini": "[tox]\nenvlist = py37,py38,py39\n"}).python == "3.9"
    assert _plan({"setup.cfg": "[options]\npython_requires = >=3.11\n"}).python == "3.11"
    poetry = '[tool.poetry.dependencies]\npython = "^3.12"\n'
    assert _plan({"pyproject.toml": poetry}).python_why == "requires-python >=3.12"
    django = _plan({"setup.py": "", "tests/runtests.py": ""})
    assert django.test_command == "python3 tests/runtests.py --parallel 1 -v 2"
    js = _plan({"package.json": '{"engines": {"node": ">=22"}}', "pnpm-lock.yaml": ""})
    assert js.python is None and js.steps[0].command.endswith("pnpm install --frozen-lockfile")
    assert any("Node >=22" in n for n in js.notes)
    go = _plan({"go.mod": "module x\n"})
    assert go.test_command == "go test ./..." and go.steps[0].command == "go mod download"


def test_a_broken_environment_is_told_from_a_broken_module_of_the_project() -> None:
    from repoagent.pipeline.baseline import environment_problem
    from repoagent.testrun import TestOutcome, TestRun

    def run(out: str, code: int) -> TestRun:
        return TestRun(command="pytest", exit_code=code, seconds=1, stdout=out)

    missing = run("E   ModuleNotFoundError: No module named 'simplejson'", 2)
    assert "'simplejson'" in environment_problem(missing, "pytest", {"pkg"})
    own = run("E   ModuleNotFoundError: No module named 'pkg.helpers'", 2)
    assert environment_problem(own, "pytest", {"pkg"}) is None  # the bug may be right there
    usage = run("ERROR: usage: pytest [options]\npytest: error: unrecognized arguments: --cov", 4)
    assert "could not start" in environment_problem(usage, "pytest", {"pkg"})
    one_failed = run("1 failed", 1)
    one_failed.tests = [TestOutcome(name="tests/test_x.py::test_x", outcome="failed")]
    assert environment_problem(one_failed, "pytest", {"pkg"}) is None
    named_nothing = run("Ran 0 tests in 0.000s\n\nOK", 0)  # issue #28: nothing ran, so nothing can be judged
    named_nothing.no_tests = "unittest ran 0 tests"
    problem = environment_problem(named_nothing, "python3 -m unittest discover -v", {"pkg"})
    assert problem is not None and "`python3 -m unittest discover -v` found no test (unittest ran 0 tests)" in problem
    assert "--test-cmd" in problem


def test_a_managed_python_is_the_configured_alternative() -> None:
    files = {"pyproject.toml": PROJECT.replace(">=3.9", ">=3.8,<3.10")}
    plan = plan_environment(Project(files, files.__getitem__), managed_python=True)
    assert plan.python == "3.9" and plan.managed
    assert "uv venv --python 3.9 /opt/testenv" in plan.steps[0].command
    assert "UV_PYTHON_DOWNLOADS=automatic" in plan.steps[0].command
    assert not _plan(files).managed and "python3 -m venv /opt/testenv" in _plan(files).steps[0].command


def test_a_poetry_lock_falls_back_to_its_own_pins() -> None:
    from repoagent.sandbox.environment import poetry_pins

    lock = {
        "package": [
            {"name": "six", "version": "1.17.0", "groups": ["main"]},
            {"name": "pytest", "version": "8.3.5", "groups": ["test"], "markers": 'python_version >= "3.9"'},
            {"name": "sphinx", "version": "7.0.0", "groups": ["docs"]},
            {"name": "appnope", "version": "0.1.4", "groups": ["main"], "markers": 'extra == "jupyter"'},
            {"name": "local", "version": "0.1", "groups": ["main"], "source": {"type": "directory"}},
        ]
    }
    assert poetry_pins(lock, ["test"]).splitlines() == [
        "six==1.17.0",
        'pytest==8.3.5 ; python_version >= "3.9"',
        'appnope==0.1.4 ; extra == "jupyter"',
    ]
    files = {"pyproject.toml": BUILD + PROJECT, "poetry.lock": "[[package]]\nname = 'six'\nversion = '1.17.0'\n"}
    step = _plan(files).steps[1]
    assert step.command.count(") || (") == 1 and "base64 -d > /tmp/locked.txt" in step.command  # poetry, else pins
