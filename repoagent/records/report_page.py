"""``report.html``: one self-contained page per run, drawn from ``result.json`` and ``trajectory.jsonl``.

The page is the Jinja2 template ``templates/report.html.j2`` with autoescape on:
no scripts, no external files, styles inline, long parts folded into
``<details>``.  Links to code go to the location's source on the page, and to
GitHub when the repository's origin is there.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from repoagent.records.run_folder import read_trajectory

TEMPLATES = Path(__file__).parent / "templates"


def diff_lines(patch: str) -> Iterator[tuple[str, str]]:
    """Each line of a diff with its CSS class: added, removed, hunk header or context."""
    for line in patch.splitlines():
        if line.startswith("+") and not line.startswith("+++"):
            yield "add", line
        elif line.startswith("-") and not line.startswith("---"):
            yield "del", line
        elif line.startswith("@@"):
            yield "hunk", line
        else:
            yield "ctx", line


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.ChainableUndefined,
        keep_trailing_newline=True,
    )
    env.filters["diff_lines"] = diff_lines
    return env


def _test_run(run: dict[str, Any] | None) -> dict[str, Any] | None:
    if not run:
        return None
    out = (run.get("stdout") or "") + ("\n" + run["stderr"] if run.get("stderr") else "")
    return {**run, "tests": run.get("tests") or [], "output": out}


def _call(c: dict[str, Any]) -> dict[str, Any]:
    notes = []
    if c.get("lines_cut"):
        notes.append(f"{c['lines_cut']} prompt lines cut to fit the context window")
    if c.get("truncated"):
        notes.append("answer cut at max_tokens")
    if c.get("errors"):
        notes.append(f"{len(c['errors'])} retried error(s): {c['errors'][-1]}")
    if c.get("failed"):
        notes.append(f"no answer: {c['failed']}")
    prompt = "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in c.get("messages", []))
    return {**c, "notes": notes, "prompt": prompt}


def _sandbox(info: Any) -> str:
    """The sandbox in a line: its kind, image and limits (a run folder of an older version has a bare kind)."""
    if not isinstance(info, dict):
        return str(info or "")
    kind = str(info.get("kind", ""))
    limits = info.get("limits") or {}
    bounds = ", ".join(
        f"{k.removesuffix('_mb')} {v} MB" if k.endswith("_mb") else f"{k} {v}"
        for k, v in limits.items()
        if k in ("memory_mb", "cpus", "pids", "disk_mb", "output_mb", "tmp_mb")
    )
    where = f"{kind} ({info['image']}, as {info.get('user')})" if info.get("image") else kind
    if kind == "local":
        where += " - NOT isolated: the tests ran as you, on this machine"
        if limits.get("memory_scope"):
            where += f"; memory limited per {limits['memory_scope']}"
    return f"{where}; limits: {bounds}" if bounds else where


def _spent(budget: dict[str, Any]) -> str:
    spent = f"{budget.get('spent_tokens', 0)} tokens"
    if budget.get("max_tokens") is not None:
        spent += f" (limit {budget['max_tokens']})"
    spent += f" in {budget.get('calls', 0)} calls, ${float(budget.get('spent_cost') or 0):.4f}"
    if budget.get("max_cost") is not None:
        spent += f" (limit ${budget['max_cost']})"
    return spent


def render(result: dict[str, Any], events: list[dict[str, Any]], unfinished: bool = False) -> str:
    loop = dict(result.get("loop") or {})
    loop["baseline"] = _test_run(loop.get("baseline"))
    loop["reproduction_run"] = _test_run(loop.get("reproduction_run"))
    loop["candidates"] = [{**s, "run": _test_run(s.get("run"))} for s in loop.get("candidates") or []]
    loc = result.get("localization")
    by_path: dict[str, str] = {}
    for i, x in enumerate((loc or {}).get("locations", [])):
        by_path.setdefault(x["path"], f"loc-{i}")
    status = str(result.get("status", "error"))
    facts: list[tuple[str, Any]] = [
        ("Status", Markup('<span class="badge {0}">{0}</span>').format(status)),
        ("Why", result.get("error") or result.get("stopped") or result.get("reason") or ""),
        ("Repository", f"{result.get('repo')}" + (f" @ {result['revision']}" if result.get("revision") else "")),
        ("Issue from", result.get("issue_source", "")),
        ("Model", result.get("model", "")),
        ("Sandbox / tests", f"{_sandbox(result.get('sandbox'))} / {result.get('test_command', '')}"),
        ("Spent", _spent(result.get("budget") or {})),
        ("Time", f"{result.get('seconds', 0)} s"),
        ("Run", f"{result.get('run_id', '')} in {result.get('run_dir', '')}"),
    ]
    if result.get("applied"):
        facts.append(("Delivered", "applied to the working tree"))
    if result.get("branch"):
        facts.append(("Delivered", f"commit {result.get('commit')} on branch {result['branch']}"))
    return (
        _environment()
        .get_template("report.html.j2")
        .render(
            result=result,
            title=result.get("issue_title") or "repoagent run",
            css=(TEMPLATES / "report.css").read_text(),
            facts=facts,
            patch=result.get("patch") or "",
            loc=loc,
            by_path=by_path,
            link_base=result.get("link_base"),
            loop_result=loop,
            calls=[_call(e) for e in events if e.get("type") == "model"],
            unfinished=unfinished,
        )
    )


def write_report(run_dir: Path) -> Path:
    """(Re)draw ``report.html`` from the run folder's files; a run with no ``result.json`` is drawn as unfinished."""
    run_dir = Path(run_dir)
    events = read_trajectory(run_dir)
    result_file = run_dir / "result.json"
    if result_file.is_file():
        result, unfinished = json.loads(result_file.read_text(encoding="utf-8", errors="replace")), False
    else:
        start = next((e for e in events if e.get("type") == "run"), {})
        result = {"status": "interrupted", "error": "the run did not finish (killed?)", "run_dir": str(run_dir)}
        result.update({k: start[k] for k in ("repo", "issue", "issue_title", "issue_source", "model") if k in start})
        result["run_id"], unfinished = run_dir.name, True
    out = run_dir / "report.html"
    out.write_text(render(result, events, unfinished), encoding="utf-8", errors="replace")
    return out
