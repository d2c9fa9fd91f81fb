"""What a project's tests need, read from its own files: its Python, its install steps and its test command.

A pure plan (no Docker here), in the manner of SWE-bench's ``make_test_spec``:
``plan_environment(project)`` says which interpreter fits, what to install and
why, which test command to run, and which files it read (their contents key
the cached environment image).

Install order, first that applies: a lockfile with its tool (``uv.lock``,
``poetry.lock``, ``pdm.lock``, ``Pipfile.lock``); PEP 735 dependency groups and
extras named test, tests, testing or dev; requirements files for tests; the
``deps`` of tox's test environment or the installs of nox's sessions; then
pytest alone.  Python projects get a virtual environment at ``/opt/testenv``
and their installs go through uv; a version taken from git (setuptools-scm,
hatch-vcs, pdm, poetry-dynamic-versioning) is pretended, so no history is
needed in the sandbox.
"""

from __future__ import annotations

import base64
import configparser
import json
import re
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from repoagent.testrun import is_pytest
from retrieval.source import RepoSource

PYTEST = "python3 -m pytest -q -p no:cacheprovider"
VENV = "/opt/testenv"
TOOLS = "/opt/tools"
TEST_NAMES = ("test", "tests", "testing")
DEV_NAMES = ("dev",)  # taken only where no group or extra is named for tests
# The interpreters the base images carry, by Debian release; the first is the default image's.
PYTHONS = {"3.11": "bookworm", "3.13": "trixie", "3.9": "bullseye"}
INSTALL_ENV = {
    "SETUPTOOLS_SCM_PRETEND_VERSION": "0.0.0",  # setuptools-scm and hatch-vcs
    "PDM_BUILD_SCM_VERSION": "0.0.0",
    "POETRY_DYNAMIC_VERSIONING_BYPASS": "0.0.0",
    "UV_NATIVE_TLS": "1",  # the system CA bundle (the host's, copied into the base image), for every tool
    "SSL_CERT_FILE": "/etc/ssl/certs/ca-certificates.crt",
    "REQUESTS_CA_BUNDLE": "/etc/ssl/certs/ca-certificates.crt",
    "PIP_CERT": "/etc/ssl/certs/ca-certificates.crt",
    "UV_PYTHON_DOWNLOADS": "never",
    "UV_LINK_MODE": "copy",
    "PIP_DISABLE_PIP_VERSION_CHECK": "1",
}
REQUIREMENT_FILES = re.compile(
    r"^(?:requirements[-_](?:dev|test|tests|testing)\.txt|(?:test|tests|dev)[-_]requirements\.txt"
    r"|requirements/(?:test|tests|testing|dev)[\w.-]*\.txt)$"
)
_IGNORED_DIRS = (".git/", "node_modules/", ".venv/", ".tox/")


class Project:
    """A repository's files as the plan reads them: every path, and a reader of text."""

    def __init__(self, paths: Iterable[str], read: Callable[[str], str]) -> None:
        self.paths = {p for p in paths if not p.startswith(_IGNORED_DIRS)}
        self._read = read
        self.read_files: list[str] = []

    def has(self, path: str) -> bool:
        return path in self.paths

    def text(self, path: str) -> str:
        if path not in self.paths:
            return ""
        if path not in self.read_files:
            self.read_files.append(path)
        return self._read(path)

    @classmethod
    def at(cls, source: RepoSource) -> Project:
        """The files of a repository at a revision (or its working tree, or a plain folder)."""
        listed = {f.path: f for f in source.files() if f.kind == "file"}

        def read(path: str) -> str:
            return next(source.read([listed[path]]))[1].decode("utf-8", errors="replace")

        return cls(listed, read)

    def peek(self, path: str) -> str:
        """A file's text, not recorded among the files that key the environment (a test file read for its style)."""
        return self._read(path) if path in self.paths else ""

    def uses(self, *paths: str) -> None:
        """Record files the install reads (a lockfile, a requirements file): their contents key the image."""
        for path in paths:
            if path in self.paths and path not in self.read_files:
                self.read_files.append(path)

    def toml(self, path: str) -> dict[str, Any]:
        try:
            return tomllib.loads(self.text(path))
        except tomllib.TOMLDecodeError:
            return {}


@dataclass(frozen=True)
class Step:
    command: str
    why: str


@dataclass
class EnvPlan:
    python: str | None  # "3.9", "3.11", "3.13"; None for a project that is not Python
    python_why: str
    steps: list[Step]
    test_command: str
    test_why: str
    files: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    venv: bool = False  # the tests run with /opt/testenv/bin first on PATH
    notes: list[str] = field(default_factory=list)
    managed: bool = False  # the interpreter is uv's download, so any base image serves
    cache_key: str | None = None  # names the environment image instead of the files it reads (repo@version)

    @property
    def suite(self) -> str:
        return PYTHONS.get(self.python or "", "bookworm")

    def install_script(self) -> str | None:
        return " && ".join(f"( {s.command} )" for s in self.steps) or None

    def explain(self) -> list[str]:
        lines = [f"python: {self.python or 'not a Python project'} ({self.python_why})"]
        lines += [f"install: {s.command}   # {s.why}" for s in self.steps] or ["install: nothing"]
        lines.append(f"tests: {self.test_command}   # {self.test_why}")
        lines.append(f"read: {', '.join(self.files) or 'no file'}")
        lines += [f"note: {n}" for n in self.notes]
        return lines


def plan_environment(
    project: Project, test_command: str | None = None, install: str | None = None, managed_python: bool = False
) -> EnvPlan:
    """The environment a project's tests need; ``test_command`` and ``install`` override what is detected.

    ``managed_python``: uv downloads the wanted interpreter into the default base image (a machine with
    internet), instead of a base image of the Debian release that carries it.
    """
    python, python_why = choose_python(project)
    command, command_why = (test_command, "--test-cmd") if test_command else detect_test_command(project)
    notes: list[str] = []
    if install:
        steps, venv = [Step(install, "--install")], False
    elif python is None:
        steps, venv = _other_language_steps(project, notes), False
    else:
        steps, venv = _python_steps(project, command, python if managed_python else None), True
    return EnvPlan(
        python=python,
        python_why=python_why,
        steps=steps,
        test_command=command,
        test_why=command_why,
        files=sorted(project.read_files),
        env=dict(INSTALL_ENV) if venv else {},
        venv=venv,
        notes=notes,
        managed=managed_python and venv,
    )


def is_python_project(project: Project) -> bool:
    marks = ("pyproject.toml", "setup.py", "setup.cfg", "requirements.txt", "tox.ini", "noxfile.py", "pytest.ini")
    return any(project.has(m) for m in marks) or (
        not project.has("package.json") and not project.has("go.mod") and any(p.endswith(".py") for p in project.paths)
    )


def _requires_python(project: Project) -> str:
    pyproject = project.toml("pyproject.toml")
    spec = pyproject.get("project", {}).get("requires-python")
    if spec:
        return str(spec)
    poetry = pyproject.get("tool", {}).get("poetry", {}).get("dependencies", {}).get("python")
    if isinstance(poetry, str) and poetry.strip():  # poetry's "^3.8" and "~3.8" mean at least 3.8
        return ",".join(re.sub(r"^[\^~](?=\d)", ">=", part.strip()) for part in poetry.split(","))
    if project.has("setup.cfg"):
        config = configparser.ConfigParser(interpolation=None, strict=False)
        try:
            config.read_string(project.text("setup.cfg"))
            spec = config.get("options", "python_requires", fallback="")
        except configparser.Error:
            spec = ""
        if spec:
            return spec
    m = re.search(r"python_requires\s*=\s*[\"']([^\"']+)[\"']", project.text("setup.py"))
    return m.group(1) if m else ""


def choose_python(project: Project) -> tuple[str | None, str]:
    """The interpreter (of those the base images carry) that fits the project, and why."""
    if not is_python_project(project):
        return None, "no Python packaging files"
    pinned = project.text(".python-version").strip().splitlines()[:1]
    if pinned:
        version = ".".join(pinned[0].strip().split(".")[:2])
        if version in PYTHONS:
            return version, f".python-version says {pinned[0].strip()}"
    from packaging.specifiers import InvalidSpecifier, SpecifierSet  # here, not in every command's start

    raw = _requires_python(project)
    try:
        spec = SpecifierSet(raw)
    except InvalidSpecifier:
        spec, raw = SpecifierSet(), ""
    fits = [v for v in PYTHONS if spec.contains(f"{v}.0", prereleases=True) or spec.contains(f"{v}.99")]
    envs = re.findall(r"py3(\d+)", _tox_envlist(project))
    if envs:
        listed = [v for v in fits if v.split(".")[1] in envs]
        if listed:
            return listed[0], f"tox's envlist has py3{listed[0].split('.')[1]}" + (
                f", requires-python {raw}" if raw else ""
            )
    if fits:
        return fits[0], f"requires-python {raw}" if raw else "no requirement declared: the default image's"
    return "3.11", f"requires-python {raw} fits no base image; trying 3.11"


def _tox_envlist(project: Project) -> str:
    text = project.text("tox.ini")
    m = re.search(r"^envlist\s*=\s*((?:.*\n?)(?:[ \t]+.*\n?)*)", text, re.M)
    return m.group(1) if m else ""


def detect_test_command(project: Project) -> tuple[str, str]:
    """pytest (with the project's own configuration), django's runner, unittest, npm, go; and why."""
    if project.has("tests/runtests.py"):  # -v 2 names each test, so outcomes can be read
        return "python3 tests/runtests.py --parallel 1 -v 2", "the project's own runner, tests/runtests.py"
    if project.has("tox.ini"):
        found = _from_tox(project.text("tox.ini"))
        if found:
            return found, "the commands of tox's [testenv]"
    if project.has("noxfile.py"):
        nox = project.text("noxfile.py")
        if re.search(r"session\.run\(\s*[\"'](pytest|py\.test)[\"']", nox):
            return PYTEST, "noxfile.py runs pytest"
        if "unittest" in nox:
            return "python3 -m unittest discover -v", "noxfile.py runs unittest"
    top = {p.split("/", 1)[0] for p in project.paths}
    if top & {"pytest.ini", "conftest.py", "pyproject.toml", "setup.cfg", "setup.py"}:
        return PYTEST, "a Python project; pytest reads its own configuration"
    if project.has("package.json"):
        return "npm test", "package.json"
    if project.has("go.mod"):
        return "go test ./...", "go.mod"
    if top & {"tests", "test"}:
        return PYTEST, "a tests folder"
    styled = pytest_style_file(project)
    if styled:
        return PYTEST, f"pytest-style tests ({styled}: test functions, no unittest.TestCase)"
    return "python3 -m unittest discover -v", "nothing else found"


_TEST_FUNCTION = re.compile(r"^(?:async\s+)?def\s+test\w*\s*\(", re.M)
_PLAIN_TEST_CLASS = re.compile(r"^class\s+Test\w*\s*(?::|\(\s*(?:object)?\s*\)\s*:)", re.M)


def pytest_style_file(project: Project, most: int = 50) -> str | None:
    """The first test file (of ``most``) written for pytest: module-level test functions or a plain Test class,
    no ``unittest.TestCase``; unittest would find no test in it."""
    names = sorted(
        p for p in project.paths
        if p.endswith(".py") and (p.rsplit("/", 1)[-1].startswith("test") or p.endswith("_test.py"))
    )  # fmt: skip
    for path in names[:most]:
        text = project.peek(path)
        if "TestCase" not in text and (_TEST_FUNCTION.search(text) or _PLAIN_TEST_CLASS.search(text)):
            return path
    return None


def _from_tox(text: str) -> str | None:
    """The test runner a tox.ini's [testenv] commands call, as a command we can run."""
    config = _tox(text)
    commands = config.get("testenv", "commands", fallback="") if config else ""
    for line in commands.splitlines():
        words = line.replace("{posargs}", "").split()
        if not words or words[0] == "pip" or words[1:3] == ["-m", "pip"]:
            continue
        if "pytest" in words[:3] or words[0] == "py.test":
            return PYTEST
        if words[:3] in (["python", "-m", "unittest"], ["python3", "-m", "unittest"]):
            return "python3 -m unittest " + " ".join(words[3:]) if words[3:] else "python3 -m unittest discover -v"
    return None


def _tox(text: str) -> configparser.ConfigParser | None:
    config = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        config.read_string(text)
    except configparser.Error:
        return None
    return config


def _python_steps(project: Project, command: str, managed: str | None = None) -> list[Step]:
    uv = f"{TOOLS}/bin/uv pip install --python {VENV}/bin/python"
    tools = f"python3 -m venv {TOOLS} && {TOOLS}/bin/pip install -q uv"
    if managed:
        venvs = f"{tools} && UV_PYTHON_DOWNLOADS=automatic {TOOLS}/bin/uv venv --python {managed} {VENV}"
        steps = [Step(venvs, f"uv and a virtual environment on Python {managed}, downloaded by uv")]
    else:
        venvs = f"python3 -m venv {VENV} && {tools}"
        steps = [Step(venvs, "a virtual environment for the tests, and uv to install into it")]
    pyproject = project.toml("pyproject.toml")
    installable = (
        project.has("setup.py")
        or project.has("setup.cfg")
        or bool(pyproject.get("build-system") or pyproject.get("project"))
    )
    groups = _named(pyproject.get("dependency-groups", {}))
    extras = _named(pyproject.get("project", {}).get("optional-dependencies", {}))
    steps += _declared(project, pyproject, uv, installable, groups, extras)
    if is_pytest(command):
        has = f"{VENV}/bin/python -c 'import pytest' 2>/dev/null"
        steps.append(Step(f"{has} || {uv} -q pytest", "pytest, unless the project's install brought it (pinned)"))
    return steps


def _named(table: dict[str, Any]) -> list[str]:
    """The test groups (or extras) of a table: test, tests, testing; else dev."""
    return [n for n in TEST_NAMES if n in table] or [n for n in DEV_NAMES if n in table]


def _declared(
    project: Project, pyproject: dict[str, Any], uv: str, installable: bool, groups: list[str], extras: list[str]
) -> list[Step]:
    """The project's declared test dependencies, by the first way of declaring them that it uses."""
    me = ('"' + "." + (f"[{','.join(extras)}]" if extras else "") + '"') if installable else ""
    and_me = f" && {uv} -q -e {me}" if me else ""
    tool = f"{TOOLS}/bin"
    project.uses(*(p for p in project.paths if p.endswith(".txt") and "requirements" in p))
    if project.has("uv.lock"):
        project.uses("uv.lock")
        flags = "".join(f" --group {g}" for g in groups) + "".join(f" --extra {e}" for e in extras)
        flags = (" --no-default-groups" if groups else "") + flags  # the test groups, not the whole dev tooling
        sync = f"UV_PROJECT_ENVIRONMENT={VENV} {tool}/uv sync --frozen --python {VENV}/bin/python{flags}"
        return [Step(f"cd /work && {sync}", f"uv.lock, with {', '.join(groups + extras) or 'its default groups'}")]
    if project.has("poetry.lock"):
        project.uses("poetry.lock")
        poetry_groups = _named(pyproject.get("tool", {}).get("poetry", {}).get("group", {}))
        flags = (f" --with {','.join(poetry_groups)}" if poetry_groups else "") + "".join(f" -E {e}" for e in extras)
        active = f"VIRTUAL_ENV={VENV} PATH={VENV}/bin:$PATH POETRY_VIRTUALENVS_CREATE=false"
        command = f"{tool}/pip install -q poetry && cd /work && {active} {tool}/poetry install --no-interaction{flags}"
        # Where poetry cannot resolve the lock's files (an index that serves no per-version JSON), the
        # lock's own pins go to uv instead: the same versions, through the simple index.
        pins = base64.b64encode(poetry_pins(project.toml("poetry.lock"), poetry_groups).encode()).decode()
        fallback = f"echo {pins} | base64 -d > /tmp/locked.txt && {uv} -q -r /tmp/locked.txt"
        fallback += f" && {uv} -q --no-deps -e {me}" if me else ""
        why = f"poetry.lock, with poetry{' and ' + ', '.join(poetry_groups) if poetry_groups else ''}"
        return [Step(f"( {command} ) || ( cd /work && {fallback} )", why + "; else its pins through uv")]
    if project.has("pdm.lock"):
        project.uses("pdm.lock")
        export = f"{tool}/pdm export --no-hashes -G :all -o /tmp/locked.txt"
        command = f"{tool}/pip install -q pdm && cd /work && {export} && {uv} -q -r /tmp/locked.txt{and_me}"
        return [Step(command, "pdm.lock, exported with pdm")]
    if project.has("Pipfile.lock"):
        project.uses("Pipfile.lock", "Pipfile")
        export = f"{tool}/pipenv requirements --dev > /tmp/locked.txt"
        command = f"{tool}/pip install -q pipenv && cd /work && {export} && {uv} -q -r /tmp/locked.txt{and_me}"
        return [Step(command, "Pipfile.lock, exported with pipenv")]
    if groups or extras:
        target = (f" -e {me}" if me else "") + "".join(f" --group {g}" for g in groups)
        what = ", ".join([f"group {g}" for g in groups] + [f"extra {e}" for e in extras])
        return [Step(f"cd /work && {uv} -q{target}", f"pyproject.toml declares the {what}")]
    files = sorted(p for p in project.paths if REQUIREMENT_FILES.match(p))
    if files:
        reqs = (" -r requirements.txt" if project.has("requirements.txt") else "") + "".join(f" -r {f}" for f in files)
        command = f"cd /work && {uv} -q{reqs}" + (f" -e {me}" if me else "")
        return [Step(command, f"requirements for tests: {', '.join(files)}")]
    tox = _tox_deps(project)
    deps = tox or _nox_installs(project)
    if deps:
        quoted = " ".join(d if d.startswith(("-r", "-e")) else json.dumps(d) for d in deps)
        command = f"cd /work && {uv} -q {quoted}" + (f" -e {me}" if me else "")
        return [Step(command, "tox's [testenv] deps" if tox else "noxfile.py's installs")]
    if me or project.has("requirements.txt"):
        what = f"-e {me}" if me else "-r requirements.txt"
        return [Step(f"cd /work && {uv} -q {what}", "the project itself" if me else "requirements.txt")]
    return []


def poetry_pins(lock: dict[str, Any], groups: list[str]) -> str:
    """A poetry.lock's packages as pinned requirements with their markers (main and ``groups``; dev for old locks)."""
    wanted = {"main", "dev", *groups}
    lines = []
    for package in lock.get("package", []):
        in_groups = set(package.get("groups") or [package.get("category", "main")])
        source = (package.get("source") or {}).get("type")
        if not in_groups & wanted or source in ("directory", "file", "git", "url"):
            continue
        line = f"{package['name']}=={package['version']}"
        markers = package.get("markers")
        if isinstance(markers, dict):  # markers per group
            markers = " or ".join(f"({m})" for g, m in markers.items() if g in wanted)
        lines.append(f"{line} ; {markers}" if isinstance(markers, str) and markers else line)
    return "\n".join(lines) + "\n"


def _tox_deps(project: Project) -> list[str]:
    config = _tox(project.text("tox.ini")) if project.has("tox.ini") else None
    raw = config.get("testenv", "deps", fallback="") if config else ""
    deps = []
    for line in raw.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or "{" in line:
            continue
        if line.startswith("-r"):
            deps.append(f"-r {line[2:].strip()}")
        elif not line.startswith("-"):
            deps.append(line)
    return deps


def _nox_installs(project: Project) -> list[str]:
    text = project.text("noxfile.py") if project.has("noxfile.py") else ""
    deps: list[str] = []
    for call in re.finditer(r"session\.install\(([^)]*)\)", text):
        for arg in re.findall(r"[\"']([^\"']+)[\"']", call.group(1)):
            if arg in ("-e", "."):
                continue
            if arg.startswith("-r"):
                deps.append(f"-r {arg[2:].strip()}")
            elif not arg.startswith("-") and arg not in deps:
                deps.append(arg)
    return deps


def _other_language_steps(project: Project, notes: list[str]) -> list[Step]:
    if project.has("package.json"):
        try:
            node = json.loads(project.text("package.json")).get("engines", {}).get("node")
        except (ValueError, AttributeError):
            node = None
        if node:
            notes.append(
                f"package.json wants Node {node}; the base images carry no Node: use --sandbox local or an image"
            )
        if project.has("pnpm-lock.yaml"):
            return [Step("corepack enable && pnpm install --frozen-lockfile", "pnpm-lock.yaml")]
        if project.has("yarn.lock"):
            return [Step("corepack enable && yarn install --frozen-lockfile", "yarn.lock")]
        if project.has("package-lock.json"):
            return [Step("npm ci", "package-lock.json")]
        return [Step("npm install", "package.json, no lockfile")]
    if project.has("go.mod"):
        project.text("go.mod")
        return [Step("go mod download", "go.mod")]
    return []
