"""Install requirements as pinned, or as near to the pin as this interpreter allows.

This file runs *inside* an environment image's build, with the environment's
own Python (3.9 or newer, standard library and pip only); it is copied in, never
imported by repoagent.

    python pins_helper.py RECORD [--optional] [-r FILE | REQUIREMENT ...]

All requirements go to pip at once first.  When pip refuses, they go one at a
time; one that will not install as of the environment's date takes a later
release; a pinned one (``name==X``) that will not install takes the nearest
release with a wheel for this interpreter (the first at or above X, else the
last below it); one whose every release was yanked since takes a yanked one,
pinned exactly.  Each such change is appended to RECORD as a JSON line
``{"requirement", "installed", "why"}``.  Exit status 1 (and a line on stderr)
when a requirement installs in no way: the environment is failed, not graded;
with ``--optional`` (a conda environment file's packages, from PyPI) such a
requirement is left out and recorded instead.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*==\s*([^\s;,]+)\s*(;.*)?$")


def pip(*args: str, dated: bool = True) -> subprocess.CompletedProcess[str]:
    """``pip install``; ``dated``: with the environment's PIP_UPLOADED_PRIOR_TO, else from any date."""
    env = dict(os.environ)
    if not dated:
        env.pop("PIP_UPLOADED_PRIOR_TO", None)
    return subprocess.run(
        [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
        env=env,
    )


def last_error(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line.strip() for line in (result.stderr or result.stdout).splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR")] or lines
    return errors[-1][:300] if errors else f"pip exited {result.returncode}"


def requirement_lines(path: str) -> list[str]:
    """A requirements file's requirements, as the official harness reads them: ``-r`` followed (beside the file),
    the project itself (``-e .``, ``.[test]``), other options and comments dropped."""
    found: list[str] = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for raw in f:
            line = raw.split(" #", 1)[0].strip()
            if not line or line.startswith(("#", ".")):
                continue
            if line.startswith(("-r", "--requirement")):
                name = line.split(None, 1)[1] if " " in line else line[2:]
                found += requirement_lines(os.path.join(os.path.dirname(path), name.strip()))
            elif not line.startswith("-"):
                found.append(line)
    return found


def version_key(text: str) -> tuple:
    try:
        from pip._vendor.packaging.version import Version

        return (0, Version(text))
    except Exception:  # an unparsable version sorts after every parsable one
        return (1, text)


def wheel_versions(name: str) -> list[str]:
    """The releases of ``name`` that have a wheel for this interpreter (pip's own list, from its error)."""
    result = pip("--only-binary=:all:", "--no-deps", "--dry-run", f"{name}==0.0.0.dev0+none", dated=False)
    m = re.search(r"\(from versions: ([^)]*)\)", result.stderr + result.stdout)
    if not m or m.group(1).strip() == "none":
        return []
    return [v.strip() for v in m.group(1).split(",") if v.strip()]


def nearest(wanted: str, versions: list[str]) -> list[str]:
    """``versions`` in the order to try: at or above ``wanted`` upwards, then below it downwards."""
    key = version_key(wanted)
    above = sorted((v for v in versions if version_key(v) >= key), key=version_key)
    below = sorted((v for v in versions if version_key(v) < key), key=version_key, reverse=True)
    return above + below


def yanked_versions(name: str) -> list[str]:
    """The yanked releases of ``name`` (pip installs one only when pinned to it exactly)."""
    result = pip("--no-deps", "--dry-run", f"{name}==0.0.0.dev0+none", dated=False)
    m = re.search(r"Ignored the following yanked versions: ([^\n]*)", result.stderr + result.stdout)
    return [v.strip() for v in m.group(1).split(",") if v.strip()] if m else []


def install_one(requirement: str, record: list[dict[str, str]], tries: int = 3) -> bool:
    """Install one requirement: as of the environment's date; else of any date; else a pin's nearest release
    with a wheel; else, when every release was yanked since, a yanked one pinned exactly.
    Each way but the first is recorded."""
    first = pip(requirement)
    if first.returncode == 0:
        return True
    python = sys.version.split()[0]
    why = f"{requirement} does not install on Python {python} as of the environment's date: {last_error(first)}"
    if os.environ.get("PIP_UPLOADED_PRIOR_TO") and pip(requirement, dated=False).returncode == 0:
        later = "published after the environment's date" if PIN.match(requirement) else "a later release"
        record.append({"requirement": requirement, "installed": f"{requirement} ({later})", "why": why})
        return True
    m = PIN.match(requirement)
    if m:
        name, extras, wanted, marker = m.group(1), m.group(2) or "", m.group(3), m.group(4) or ""
        for version in nearest(wanted, wheel_versions(name))[:tries]:
            chosen = f"{name}{extras}=={version}{(' ' + marker) if marker else ''}"
            if pip(chosen).returncode == 0 or pip(chosen, dated=False).returncode == 0:
                record.append({"requirement": requirement, "installed": chosen, "why": why})
                return True
    named = NAME.match(requirement)
    yanked = yanked_versions(named.group(1)) if named else []
    if named and yanked:  # every release yanked since: the one nearest the pin, or the last, pinned exactly
        version = (nearest(m.group(3), yanked) if m else sorted(yanked, key=version_key, reverse=True))[0]
        chosen = f"{named.group(1)}=={version}"
        if pip(chosen, dated=False).returncode == 0:
            why = f"every release of {named.group(1)} is yanked; {version} taken, pinned"
            record.append({"requirement": requirement, "installed": chosen, "why": why})
            return True
    sys.stderr.write(f"cannot install {requirement}, nor a release near it with a wheel: {last_error(first)}\n")
    return False


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        sys.stderr.write(__doc__ or "")
        return 2
    record_path, args = argv[0], argv[1:]
    optional = bool(args) and args[0] == "--optional"  # a requirement that installs in no way is left out, said
    args = args[1:] if optional else args
    requirements = requirement_lines(args[1]) if args and args[0] == "-r" else args
    if not requirements:
        return 0
    if pip(*requirements).returncode == 0:
        return 0
    record: list[dict[str, str]] = []
    results = []
    for requirement in requirements:  # every one is tried, and reported
        ok = install_one(requirement, record)
        if not ok and optional:
            why = f"{requirement} installs in no way here (a package of the conda environment file): left out"
            record.append({"requirement": requirement, "installed": "", "why": why})
        results.append(ok or optional)
    with open(record_path, "a", encoding="utf-8") as f:
        for change in record:
            f.write(json.dumps(change) + "\n")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
