"""What to run: the test command and the install step of a repository, read from its files."""

from __future__ import annotations

import configparser
import re
from collections.abc import Callable
from pathlib import Path

from repoagent.sandbox.testrun import is_pytest

PYTEST = "python3 -m pytest -q -p no:cacheprovider"


def _from_tox(text: str) -> str | None:
    """The test runner a tox.ini's [testenv] commands call, as a command we can run."""
    config = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        config.read_string(text)
    except configparser.Error:
        return None
    commands = config.get("testenv", "commands", fallback="")
    for line in commands.splitlines():
        words = line.replace("{posargs}", "").split()
        if not words or words[0] == "pip" or words[1:3] == ["-m", "pip"]:
            continue
        if "pytest" in words[:3] or words[0] == "py.test":
            return PYTEST
        if words[:3] in (["python", "-m", "unittest"], ["python3", "-m", "unittest"]):
            return "python3 -m unittest " + " ".join(words[3:]) if words[3:] else "python3 -m unittest discover -v"
    return None


def detect_test_command(repo: Path) -> str:
    """pytest, unittest or npm, read from tox.ini or noxfile.py where they say, else from the layout."""
    names = {p.name for p in repo.iterdir()} if repo.is_dir() else set()
    return test_command_from(names, lambda name: (repo / name).read_text(errors="replace"))


def test_command_from(names: set[str], read: Callable[[str], str]) -> str:
    """As ``detect_test_command``, from the top-level file names and a reader of those files."""
    if "tox.ini" in names:
        found = _from_tox(read("tox.ini"))
        if found:
            return found
    if "noxfile.py" in names:
        nox = read("noxfile.py")
        if re.search(r"session\.run\(\s*[\"'](pytest|py\.test)[\"']", nox):
            return PYTEST
        if "unittest" in nox:
            return "python3 -m unittest discover -v"
    if names & {"pytest.ini", "conftest.py", "pyproject.toml", "setup.cfg", "setup.py"}:
        return PYTEST
    if "package.json" in names:  # a JavaScript project, its test folder included
        return "npm test"
    if names & {"tests", "test"}:
        return PYTEST
    return "python3 -m unittest discover -v"


def install_from(names: set[str], test_cmd: str) -> str | None:
    """The install step a Docker sandbox bakes into its image: pytest, and the project when it is installable."""
    if not is_pytest(test_cmd):
        return None
    step = "python3 -m pip install -q pytest"
    if names & {"pyproject.toml", "setup.py"}:
        step += " && python3 -m pip install -q -e ."
    elif "requirements.txt" in names:
        step += " && python3 -m pip install -q -r requirements.txt"
    return step
