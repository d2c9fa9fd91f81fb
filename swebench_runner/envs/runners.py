"""Each repository's own test runner, as the official images run it.

Two things the official image has that an environment built here has not:

* **The spec's edits of the tree.** ``pre_install`` steps such as ``sed -i
  's/pytest/pytest -rA/' tox.ini`` run in the official image at the instance's
  commit, so the tree the tests run in carries them (sphinx's ``-rA`` is what
  makes its passing tests visible to the log parser).  An environment image here
  holds no code, so ``tree_edits`` reads those steps and ``apply_tree_edits``
  makes them on the instance's tree, before the patches, as there.  Only plain
  ``sed -i 's/A/B/[g]' FILE`` substitutions are read; nothing is run by a shell.
* **tox with ``--current-env``.** The spec's ``tox --current-env -epy39 --``
  wants the tox-current-env plugin at a version that works with the tox
  installed; where it does not, tox makes a ``.tox`` environment of its own,
  without the packages.  ``tox_as_run`` instead reads ``tox.ini`` and gives the
  commands tox would run in that environment (``setenv``, ``changedir``, the
  ``{posargs}`` after ``--``), run here in the current environment directly.
"""

from __future__ import annotations

import configparser
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TESTBED = "/testbed"
_SED = re.compile(r"^sed\s+-i\s+(?P<q>['\"])s(?P<d>[/|#,])(?P<body>.*)(?P=q)\s+(?P<file>[\w./-]+)\s*$")


@dataclass(frozen=True)
class TreeEdit:
    """One ``sed -i 's/pattern/replacement/flags' file`` of a spec."""

    file: str
    pattern: str
    replacement: str
    every: bool  # the g flag: every match on a line, else the first

    def apply(self, text: str) -> str:
        regex = re.compile(_bre_to_python(self.pattern))
        repl = _sed_replacement(self.replacement)
        return "".join(regex.sub(repl, line, count=0 if self.every else 1) for line in text.splitlines(True))


def tree_edits(spec: dict[str, Any]) -> list[TreeEdit]:
    """The plain ``sed -i`` substitutions among the spec's ``pre_install`` steps, in order."""
    edits = []
    for step in spec.get("pre_install") or []:
        m = _SED.match(str(step).strip())
        if not m:
            continue
        parts = _split_unescaped(m.group("body"), m.group("d"))
        if len(parts) != 3 or set(parts[2]) - {"g"}:
            continue
        pattern, replacement = (p.replace("\\" + m.group("d"), m.group("d")) for p in parts[:2])
        edits.append(TreeEdit(m.group("file"), pattern, replacement, "g" in parts[2]))
    return edits


def apply_tree_edits(tree: Path, edits: list[TreeEdit]) -> list[str]:
    """Make ``edits`` in ``tree``; the files changed."""
    changed = []
    for edit in edits:
        path = tree / edit.file
        if not path.is_file() or tree.resolve() not in path.resolve().parents:
            continue
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
        new = edit.apply(text)
        if new != text:
            path.write_text(new, encoding="utf-8", errors="surrogateescape")
            changed.append(edit.file)
    return list(dict.fromkeys(changed))


def _split_unescaped(body: str, delimiter: str) -> list[str]:
    parts, current, escaped = [], "", False
    for ch in body:
        if escaped:
            current += "\\" + ch
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == delimiter:
            parts.append(current)
            current = ""
        else:
            current += ch
    return [*parts, current + ("\\" if escaped else "")]


def _bre_to_python(pattern: str) -> str:
    """A sed basic regular expression as Python's: ``\\(``, ``\\)``, ``\\{``, ``\\}``, ``\\+``, ``\\?`` are the
    operators and the bare characters are literal."""
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            nxt = pattern[i + 1]
            out.append(nxt if nxt in "(){}+?|" else "\\" + nxt)
            i += 2
            continue
        out.append("\\" + ch if ch in "(){}+?|" else ch)
        i += 1
    return "".join(out)


def _sed_replacement(replacement: str) -> Any:
    """sed's replacement: ``&`` the match, ``\\1``.. groups, ``\\&`` a literal ampersand."""

    def expand(match: re.Match[str]) -> str:
        out, i = [], 0
        while i < len(replacement):
            ch = replacement[i]
            if ch == "\\" and i + 1 < len(replacement):
                nxt = replacement[i + 1]
                out.append(match.group(int(nxt)) or "" if nxt.isdigit() else {"n": "\n", "t": "\t"}.get(nxt, nxt))
                i += 2
                continue
            out.append(match.group(0) if ch == "&" else ch)
            i += 1
        return "".join(out)

    return expand


# -- tox --current-env ---------------------------------------------------------------------------------------------

_TOX = re.compile(r"^\s*tox(\s|$)")
_SUBST = re.compile(r"\{([^{}]*)\}")


def is_tox_current_env(command: str) -> bool:
    return bool(_TOX.match(command)) and "--current-env" in command


def tox_as_run(command: str, tox_ini: str) -> str | None:
    """The shell command that runs what ``command`` (``tox --current-env -e ENV ... -- ARGS``) would run, in the
    current environment, from ``tox_ini``; None when it cannot be read (no such section, no commands)."""
    try:
        argv = shlex.split(command)
    except ValueError:
        return None
    posargs = argv[argv.index("--") + 1 :] if "--" in argv else []
    options = argv[: argv.index("--")] if "--" in argv else argv
    env = ""
    for i, arg in enumerate(options):
        if arg == "-e" and i + 1 < len(options):
            env = options[i + 1]
        elif arg.startswith("-e") and not arg.startswith("--"):
            env = arg[2:].lstrip("=")
        elif arg.startswith("--env="):
            env = arg.split("=", 1)[1]
    if not env or "," in env:
        return None
    ini = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        ini.read_string(tox_ini)
    except configparser.Error:
        return None
    section = f"testenv:{env}" if ini.has_section(f"testenv:{env}") else "testenv"
    if not ini.has_section(section):
        return None

    def value(key: str) -> str:
        if ini.has_option(section, key):
            return ini.get(section, key)
        return ini.get("testenv", key) if ini.has_option("testenv", key) else ""

    factors = set(env.split("-"))
    subst = _substitutions(env, posargs)
    commands = [_expand(line, subst) for line in _lines(value("commands"), factors)]
    if not commands:
        return None
    shell = []
    for line in _lines(value("setenv"), factors):
        if "=" in line and not line.startswith("file|"):
            key, _, val = line.partition("=")
            shell.append(f"export {key.strip()}={shlex.quote(_expand(val.strip(), subst))}")
    changedir = _expand(value("changedir"), subst).strip()
    shell.append(f"cd {shlex.quote(changedir or TESTBED)}")
    for line in commands:
        ignore = line.startswith("-")  # tox's prefix: this command's exit status is ignored
        line = line[1:].strip() if ignore else line
        shell.append(f"{{ {line} || true ; }}" if ignore else line)
    return "( " + " && ".join(shell) + " )"  # a subshell: the exports stay in it; the first failure is its status


def _lines(text: str, factors: set[str]) -> list[str]:
    """A multi-line tox value as its lines: continuations joined, comments dropped, ``factor:`` conditions kept
    where the environment has the factor."""
    joined = re.sub(r"\\\s*\n", " ", text)
    out = []
    for raw in joined.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^(!?)([\w.,{}-]+):\s+(.*)$", line)
        if m and not re.match(r"^[A-Za-z]:\\", line):
            wanted = {f for f in re.split(r"[,]", m.group(2)) if f}
            has = bool(wanted & factors)
            if has == (m.group(1) == "!"):
                continue
            line = m.group(3)
        out.append(line)
    return out


def _substitutions(env: str, posargs: list[str]) -> dict[str, str]:
    return {
        "toxinidir": TESTBED,
        "toxworkdir": f"{TESTBED}/.tox",
        "envname": env,
        "envpython": "python",
        "envbindir": '$(dirname "$(command -v python)")',
        "envdir": "$(python -c 'import sys; print(sys.prefix)')",
        "envsitepackagesdir": "$(python -c 'import sysconfig; print(sysconfig.get_paths()[\"purelib\"])')",
        "envtmpdir": f"{TESTBED}/.tox/{env}/tmp",
        "/": "/",
        ":": ":",
        "posargs": " ".join(shlex.quote(a) for a in posargs),
        "__has_posargs__": "1" if posargs else "",
    }


def _expand(text: str, subst: dict[str, str]) -> str:
    """tox's ``{name}``, ``{posargs:default}`` and ``{env:NAME:default}`` (the default: nothing sets it here)."""

    def one(m: re.Match[str]) -> str:
        inner = m.group(1)
        if inner.startswith("posargs"):
            default = inner.partition(":")[2]
            return subst["posargs"] if subst["__has_posargs__"] else default
        if inner.startswith("env:"):
            return inner[4:].partition(":")[2]
        return subst.get(inner, m.group(0))

    return _SUBST.sub(one, text)
