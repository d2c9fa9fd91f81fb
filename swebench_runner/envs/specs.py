"""The environment an instance is graded in, made from its official install spec: pure builders of scripts and
commands (nothing here downloads, runs or builds; ``spec_source`` fetches the specs, ``images`` builds).

The SWE-bench harness keeps, for each repository and version, the Python to use,
the packages to install (a conda list, or ``requirements.txt`` of the version's
environment commit), extra pip packages with their pins, the install command,
steps before the install and the test command (``MAP_REPO_VERSION_TO_SPECS``).
Version 5 of ``swebench`` moved them out of the package; the last release that
ships them is 4.1.0, so ``spec_source.load_specs`` takes them from that wheel on
PyPI (once, cached as JSON), or from a JSON file given with ``--specs``.

``SpecEnvironment`` turns one spec into what the Docker sandbox builds: the
Debian release whose Python is nearest the spec's and not older (3.9 bullseye,
3.11 bookworm, 3.13 trixie), the spec's apt steps, a virtual environment with
its packages, pins loosened only where they cannot install (each change
recorded), the install command, and then the project itself removed again: the
image holds the dependencies, never a version of the code.  Each test run puts
the instance's own code at ``/testbed`` and installs it in place, offline.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shlex
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from repoagent.sandbox.environment import INSTALL_ENV, PYTHONS, VENV, EnvPlan, Step

SPECS_RELEASE = "4.1.0"
TESTBED = "/testbed"
RECORD = "/opt/repoagent/env-changes.jsonl"
HELPER = "/opt/repoagent/pins_helper.py"
# Files that are never tests (the official harness's list): the test patch's other files are the directives.
NON_TEST_EXTS = (".json", ".png", "csv", ".txt", ".md", ".jpg", ".jpeg", ".pkl", ".yml", ".yaml", ".toml")
# In place and offline: the image has the dependencies and the build tools, the run has no network.  The editable
# install puts the tree itself on sys.path (setuptools' compat mode, as the official images' older setuptools do):
# a finder hook instead leaves tools that map files to modules by sys.path (pylint's checkers, through astroid)
# without the project's own modules.  A setuptools without that mode installs as it can.
_PIP_E = "python -m pip install -q --no-deps --no-build-isolation --disable-pip-version-check -e ."
DEV_INSTALL = (
    f"[ ! -f {TESTBED}/setup.py ] && [ ! -f {TESTBED}/pyproject.toml ] || "
    f"( cd {TESTBED} && {{ {_PIP_E} --config-settings editable_mode=compat || {_PIP_E}; }} "
    "> /tmp/repoagent-dev-install.log 2>&1 ) || { echo 'the project did not install in place:'; "
    "tail -n 20 /tmp/repoagent-dev-install.log; } >&2"
)


def spec_for(specs: dict[str, dict[str, dict[str, Any]]], repo: str, version: str) -> dict[str, Any] | None:
    return specs.get(repo, {}).get(str(version))


def debian_python(wanted: str, requires_python: str = "") -> tuple[str, str]:
    """The base image's Python for a spec's ``wanted`` one: the nearest not older, within ``requires_python``."""
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    def key(version: str) -> tuple[int, ...]:
        return tuple(int(p) for p in version.split(".")[:2])

    try:
        allowed = SpecifierSet(requires_python)
    except InvalidSpecifier:
        allowed = SpecifierSet()
    have = sorted(PYTHONS, key=key)
    fits = [v for v in have if allowed.contains(f"{v}.0", prereleases=True) or allowed.contains(f"{v}.99")] or have
    newer = [v for v in fits if key(v) >= key(wanted)]
    chosen = newer[0] if newer else fits[-1]
    why = f"the spec wants Python {wanted}" + ("" if chosen == wanted else f"; {chosen} ({PYTHONS[chosen]}) is nearest")
    if not newer:
        why += f", older than asked: requires-python {requires_python}"
    return chosen, why


# The tree goes after an install: a few tries (a process of the install may still be writing in it), and a tree
# that will not go leaves a line in the log, never a failed install.
CLEAN_TESTBED = (
    f"cd / && for try in 1 2 3; do rm -rf {TESTBED} 2>/dev/null && break; sleep 2; done; "
    f"[ ! -e {TESTBED} ] || echo 'note: {TESTBED} was not removed whole after the install' >&2; mkdir -p {TESTBED}"
)
# The compilers and headers, from Debian, that a repository's C and C++ extensions build with at each commit (the
# base image has gcc, libc6-dev and python3-dev).
SYSTEM_PACKAGES: dict[str, tuple[str, ...]] = {
    "scikit-learn/scikit-learn": ("g++", "make"),
    "astropy/astropy": ("g++", "make"),
    "matplotlib/matplotlib": ("g++", "make", "pkg-config", "libfreetype-dev", "libpng-dev", "libqhull-dev"),
    # the libraries conda's packages bring along, for their PyPI releases: cfgrib's ecCodes
    "pydata/xarray": ("libeccodes0",),
}
NO_ENV_INSTALL = "the install did not complete at the environment commit: each instance installs its own"
# The files an install reads: when an instance's are the environment commit's, the environment image serves as is.
INSTALL_FILES = re.compile(r"^(setup\.py|setup\.cfg|pyproject\.toml|[\w.-]*requirements[\w.-]*\.txt)$")
# When wheels for each Python were common on PyPI: packages from before then would be built from source.
WHEELS_FROM = {"3.9": "2021-06-01", "3.11": "2023-06-01", "3.13": "2025-03-01"}  # numba: 3.9 from March 2021


def uploaded_before(committed: str, python: str) -> str:
    """The date packages are taken as of: the environment commit's (as the version was released), but no earlier
    than wheels for ``python`` were common; empty when the commit's date is unknown (then: today's packages)."""
    day = committed[:10]
    if not re.match(r"^\d{4}-\d{2}-\d{2}$", day):
        return ""
    return f"{max(day, WHEELS_FROM.get(python, day))}T00:00:00Z"


def directives_of(test_patch: str, repo: str) -> list[str]:
    """The files the test patch touches that are tests, as the official harness passes them to the runner."""
    files = re.findall(r"^diff --git a/.* b/(.*)$", test_patch, re.M)
    files = [f for f in files if not f.endswith(NON_TEST_EXTS)]
    if repo == "django/django":
        files = [f.removesuffix(".py").removeprefix("tests/").replace("/", ".") for f in files]
    return list(dict.fromkeys(files))


def eval_script(spec: dict[str, Any], command: str) -> str:
    """The test part of the official eval script: the spec's ``pre_test`` steps, then ``command`` between the
    harness's markers, and its exit code (what the official parsers read from ``test_output.txt``)."""
    from swebench.harness.constants import END_TEST_OUTPUT as END
    from swebench.harness.constants import START_TEST_OUTPUT as START
    from swebench.harness.constants import TEST_EXIT_CODE as EXIT_CODE

    lines = [str(step) for step in spec.get("pre_test") or []]
    lines += [f"echo '{START}'", f"{{ {command} ; }} 2>&1", "rc=$?", f"echo '{END}'", f"echo '{EXIT_CODE}: '$rc"]
    return "\n".join(lines)


def instance_test_command(spec: dict[str, Any], row: dict[str, Any]) -> str:
    """The instance's test command: the dataset's own (its eval script) when it has one, else spec + directives."""
    script = row.get("eval_script") or ""
    m = re.search(r"^: '>>>>> Start Test Output'\n(.*?)\n: '>>>>> End Test Output'", script, re.M | re.S)
    if m and m.group(1).strip():
        return m.group(1).strip()
    command = spec.get("test_cmd") or "pytest -rA"
    command = " && ".join(command) if isinstance(command, list) else str(command)
    return " ".join([command, *(shlex.quote(d) for d in directives_of(row.get("test_patch", ""), row["repo"]))])


# conda packages by another name on PyPI, and those PyPI has not (libraries, tools, compilers: conda-only)
CONDA_TO_PYPI = {
    "matplotlib-base": "matplotlib", "pytorch": "torch", "iris": "scitools-iris", "pyqt": "PyQt5",
    "wxpython": "wxPython", "pytables": "tables", "python-graphviz": "graphviz", "msgpack-python": "msgpack",
    "numpy-base": "numpy",
    **dict.fromkeys(
        ["cdms2", "pynio", "hdf5", "libnetcdf", "nodejs", "pkg-config", "c-compiler", "cxx-compiler", "compilers",
         "graphviz", "ffmpeg", "imagemagick", "ghostscript", "inkscape", "tk", "cairo", "pygobject", "gtk3",
         "libgdal", "proj", "geos", "openblas", "mkl", "blas", "libblas", "liblapack", "make", "cmake",
         "texlive-core", "pandoc", "python", "pip"],
        "",
    ),
}  # fmt: skip


def conda_as_pip(text: str) -> tuple[list[str], list[dict[str, str]]]:
    """A conda environment file's packages as pip requirements (``name=1.2`` as ``name==1.2.*``, conda's names as
    PyPI's, its ``pip:`` list as it is); and the packages left out, each with why (records of ``RECORD``'s shape)."""
    import yaml

    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError:
        return [], [{"requirement": "(the conda environment file)", "installed": "", "why": "not YAML"}]
    wanted: list[str] = []
    dropped: list[dict[str, str]] = []
    for dep in data.get("dependencies") or [] if isinstance(data, dict) else []:
        if isinstance(dep, dict):
            wanted += [str(r) for r in dep.get("pip") or [] if not str(r).startswith(("-", "."))]
            continue
        m = re.match(r"^\s*([A-Za-z0-9_.-]+)(?:::)?\s*(.*)$", str(dep).split("::")[-1])
        if not m:
            continue
        name, version = m.group(1), m.group(2).strip()
        pypi = CONDA_TO_PYPI.get(name.lower(), name)
        if not pypi:
            if name.lower() not in ("python", "pip"):
                why = "a conda package PyPI has not (a library or tool, not a Python package): left out"
                dropped.append({"requirement": str(dep), "installed": "", "why": why})
            continue
        version = version.split("=", 2)[1] if version.startswith("=") and not version.startswith("==") else version
        if version and version[0].isdigit():  # conda's name=1.2 (and name 1.2): the 1.2 series
            version = f"=={version.split('=')[0]}{'' if version.count('.') > 1 else '.*'}"
        wanted.append(f"{pypi}{version.replace(' ', '')}")
    return list(dict.fromkeys(wanted)), dropped


@dataclass
class SpecEnvironment:
    """The environment image of one repository and version, built here from its official spec."""

    repo: str
    version: str
    spec: dict[str, Any]
    python: str
    python_why: str
    build_requires: list[str] = field(default_factory=list)
    uploaded_before: str = ""  # packages as PyPI had them then (ISO date): the spec's unpinned ones included
    conda_file: str = ""  # the conda environment file a spec of "environment.yml" names, as the commit has it
    conda_requirements: list[str] = field(default_factory=list)  # its packages, as pip requirements
    conda_dropped: list[dict[str, str]] = field(default_factory=list)  # those pip cannot have, and why

    def unsupported(self) -> str | None:
        """Why this spec cannot be built here (a conda environment file), or None."""
        packages = str(self.spec.get("packages") or "")
        if packages == "environment.yml" and not self.conda_file:
            paths = ", ".join(self.spec.get("environment_paths") or ["environment.yml"])
            return f"the spec installs a conda environment file ({paths}) that the environment commit has not"
        return None

    def script(self) -> str:
        """The build, as one shell script run in the base image with the environment commit at /testbed."""
        helper = base64.b64encode((Path(__file__).parent / "pins_helper.py").read_bytes()).decode()
        pins = f"python {HELPER} {RECORD}"
        lines = ["set -ex", *[str(s) for s in self.spec.get("pre_install") or []]]
        added = SYSTEM_PACKAGES.get(self.repo, ())
        if added:  # the compilers and headers its C extensions build with, from Debian
            lines.append(f"apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q {' '.join(added)}")
        lines += [
            f"python3 -m venv {VENV}",
            f"export PATH={VENV}/bin:$PATH",
            # a pip that knows --uploaded-prior-to (from PIP_UPLOADED_PRIOR_TO), itself from today
            "env -u PIP_UPLOADED_PRIOR_TO python -m pip install -q --disable-pip-version-check --upgrade pip "
            "'setuptools<70' wheel",
            f"mkdir -p /opt/repoagent && echo {helper} | base64 -d > {HELPER} && touch {RECORD}",
            f"cd {TESTBED}",
            self.git_version(),
        ]
        packages = str(self.spec.get("packages") or "").strip()
        if packages == "requirements.txt":  # the first of the repository's requirement files that exists
            paths = [str(p) for p in self.spec.get("requirements_paths") or ["requirements.txt"]]
            tests = " elif ".join(f"[ -f {shlex.quote(p)} ]; then {pins} -r {shlex.quote(p)};" for p in paths)
            lines.append(f"if {tests} fi")
        elif packages == "environment.yml":  # conda's packages from PyPI, each as near as it installs; none fatal
            for dropped in self.conda_dropped:
                lines.append(f"echo {shlex.quote(json.dumps(dropped))} >> {RECORD}")
            if self.conda_requirements:
                lines.append(f"{pins} --optional {' '.join(shlex.quote(r) for r in self.conda_requirements)}")
        elif packages:
            lines.append(f"{pins} {' '.join(shlex.quote(p) for p in shlex.split(packages))}")
        wanted = [*self.build_requires, *(str(p) for p in self.spec.get("pip_packages") or [])]
        if wanted:
            lines.append(f"{pins} {' '.join(shlex.quote(p) for p in wanted)}")
        install = self.install_line()
        if install:  # the project's dependencies as of the environment commit: each instance adds its own on top
            note = json.dumps({"requirement": self.spec.get("install"), "installed": "", "why": NO_ENV_INSTALL})
            lines.append(f"{install} || echo {shlex.quote(note)} >> {RECORD}")
        lines.append("python -c 'import pytest' 2>/dev/null || python -m pip install -q pytest")
        lines.append(CLEAN_TESTBED)  # the code goes again: each run brings its own (no later commit's files)
        return "\n".join(lines)

    def git_version(self) -> str:
        """A repository whose tag is the spec's version: versioneer and setuptools-scm read it as at release.  No
        automatic gc: one left running in the background would still write in .git while the tree is removed."""
        commit = "git -c user.name=env -c user.email=env@localhost commit -qm env --no-verify"
        init = "git init -q && git config gc.auto 0 && git config maintenance.auto false"
        return f"{init} && git add -A && {commit} && git tag v{self.release} && git tag {self.release}"

    @property
    def system_packages(self) -> list[str]:
        """The Debian packages the build adds: those the spec's steps install, and the compilers and headers a
        repository's C extensions want (``SYSTEM_PACKAGES``)."""
        named: list[str] = []
        for step in self.spec.get("pre_install") or []:
            for m in re.finditer(r"apt-get\s+(?:-\S+\s+)*install\s+([^&|;]+)", str(step)):
                named += [w for w in m.group(1).split() if not w.startswith("-")]
        return list(dict.fromkeys([*named, *SYSTEM_PACKAGES.get(self.repo, ())]))

    def install_line(self) -> str:
        """The spec's install command; a pip install again without build isolation (an old pin of the build
        backend has no editable hook: the image's own setuptools instead)."""
        install = str(self.spec.get("install") or "")
        if install and "pip install" in install:
            return f"( {install} ) || ( {install} --no-build-isolation )"
        return f"( {install} )" if install else ""

    def layer_script(self) -> str:
        """The install at an instance's own commit, as the official harness does it in the instance's image, over
        the environment image (only what differs gets installed); then the code goes again."""
        if not self.install_line():
            return ""
        return "\n".join(
            ["set -ex", f"cd {TESTBED}", self.git_version(), self.install_line(),
             CLEAN_TESTBED]
        )  # fmt: skip

    def layer_plan(self, command: str, files: list[str]) -> EnvPlan:
        """The instance's layer: keyed by the environment image and the contents of ``files`` (what the install
        reads), so instances whose install files are the same share it."""
        plan = self.plan(command)
        script = self.layer_script()
        why = f"the install of {self.repo} at the instance's commit"
        plan.steps, plan.files, plan.cache_key = ([Step(script, why)] if script else []), files, None
        return plan

    @property
    def release(self) -> str:
        """The version as a release number (``0.8`` as ``0.8.0``), for tools that read it from git."""
        parts = re.findall(r"\d+", self.version)[:3] or ["0"]
        return ".".join(parts + ["0"] * (3 - len(parts)))

    def prelude(self) -> str:
        """Before each run: the instance's code installed in place, offline, with the version it had."""
        return f"export SETUPTOOLS_SCM_PRETEND_VERSION={self.release}\n{DEV_INSTALL}"

    @property
    def key(self) -> str:
        """Names the image: repository, version, and the hash of everything that goes in."""
        parts = [self.spec, self.python, self.build_requires, self.uploaded_before, self.script()]
        digest = hashlib.sha256(json.dumps(parts).encode())
        slug = re.sub(r"[^a-z0-9_.-]+", "_", f"{self.repo.replace('/', '__')}-{self.version}".lower())
        return f"{slug}-{digest.hexdigest()[:12]}"

    def plan(self, command: str) -> EnvPlan:
        """What the Docker sandbox builds (once, cached by ``key``) and runs ``command`` in."""
        steps = [Step(self.script(), f"the official spec of {self.repo} {self.version} (swebench {SPECS_RELEASE})")]
        return EnvPlan(
            python=self.python,
            python_why=self.python_why,
            steps=steps,
            test_command=command,
            test_why=f"the official spec's test command for {self.repo} {self.version}",
            env={
                **INSTALL_ENV,
                "SETUPTOOLS_SCM_PRETEND_VERSION": self.release,
                **({"PIP_UPLOADED_PRIOR_TO": self.uploaded_before} if self.uploaded_before else {}),
            },
            venv=True,
            cache_key=self.key,
        )


def make_env_spec(
    repo: str,
    version: str,
    spec: dict[str, Any],
    pyproject: str = "",
    setup_text: str = "",
    committed: str = "",
    conda_file: tuple[str, str] = ("", ""),
) -> SpecEnvironment:
    """The environment image of ``repo`` at ``version`` from its official ``spec`` and the environment commit's files
    (pure, as the official harness's ``make_env_spec``): ``pyproject``, ``setup_text`` (setup.cfg, setup.py) give
    the Python bounds and build tools; ``committed`` (ISO date) the packages' date; ``conda_file`` (path, text) the
    conda environment file a spec of ``environment.yml`` installs."""
    try:
        project = tomllib.loads(pyproject) if pyproject else {}
    except tomllib.TOMLDecodeError:
        project = {}
    requires = str(project.get("project", {}).get("requires-python") or "")
    if not requires:
        m = re.search(r"python_requires\s*=\s*[\"']?([^\"'\n]+)", setup_text)
        requires = m.group(1).strip() if m else ""
    python, why = debian_python(str(spec.get("python", "3.9")), requires)
    # the build backend, for the offline install in place; setuptools and wheel are the image's own
    # (an old pin of setuptools has no PEP 660 hook, so no editable install)
    build = [str(r) for r in project.get("build-system", {}).get("requires", [])]
    build = [r for r in build if not re.match(r"^\s*(setuptools|wheel)\s*([<>=!~;\[]|$)", r)]
    env = SpecEnvironment(repo, str(version), spec, python, why, build, uploaded_before(committed, python))
    if conda_file[0]:
        env.conda_file = conda_file[0]
        env.conda_requirements, env.conda_dropped = conda_as_pip(conda_file[1])
    return env


@dataclass(frozen=True)
class EvalSpec:
    """How one instance is graded (pure, as the official harness's ``make_eval_spec``): the official test command,
    the test files its test patch touches, the log parser, and the spec's steps before the tests."""

    instance_id: str
    test_command: str
    test_files: list[str]
    parser: str
    pre_test: list[str]

    def script(self, command: str | None = None) -> str:
        """The eval script's test part, with ``command`` (what runs here: tox as run) or the official one."""
        return eval_script({"pre_test": self.pre_test}, command or self.test_command)


def make_eval_spec(spec: dict[str, Any], row: dict[str, Any]) -> EvalSpec:
    """The grading of the dataset ``row`` under its repository's ``spec``."""
    return EvalSpec(
        instance_id=str(row["instance_id"]),
        test_command=instance_test_command(spec, row),
        test_files=directives_of(row.get("test_patch", ""), ""),
        parser=parser_name(row),
        pre_test=[str(step) for step in spec.get("pre_test") or []],
    )


def parser_name(row: dict[str, Any]) -> str:
    """The dataset's log parser, else the official one for the repository."""
    if row.get("log_parser"):
        return str(row["log_parser"])
    from swebench.harness.log_parsers import PARSER_REGISTRY
    from swebench.harness.log_parsers.python import MAP_REPO_TO_PARSER_PY

    parser = MAP_REPO_TO_PARSER_PY.get(row["repo"])
    for name, fn in PARSER_REGISTRY.items():
        if fn is parser:
            return name
    return "parse_log_pytest"
