"""``report.html``: one self-contained page per run, drawn from ``result.json`` and ``trajectory.jsonl``.

No scripts, no external files: styles are inline, diffs and code are escaped
text, long parts fold into ``<details>``.  Links to code go to the location's
source on the page, and to GitHub when the repository's origin is there.
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path
from typing import Any

from repoagent.runs import read_trajectory

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:0 auto;max-width:1100px;padding:1.5em;
color:#1f2328}
h1{font-size:1.5em;margin:.2em 0}h2{border-bottom:1px solid #d0d7de;padding-bottom:.2em;margin-top:1.6em}
pre{background:#f6f8fa;border:1px solid #d0d7de;border-radius:6px;padding:.7em;overflow-x:auto;font-size:12.5px}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #d0d7de;padding:.25em .6em;text-align:left;
vertical-align:top}
.badge{display:inline-block;padding:.15em .6em;border-radius:1em;color:#fff;font-weight:600}
.resolved,.untested{background:#1a7f37}.unresolved,.no_patch,.stopped{background:#bf8700}
.error,.interrupted{background:#cf222e}
.ctx{display:block;white-space:pre}.add{background:#dafbe1;display:block}.del{background:#ffebe9;display:block}.hunk{color:#8250df;display:block}
.meta{color:#57606a}.fail{color:#cf222e}.ok{color:#1a7f37}summary{cursor:pointer}
"""


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def diff_html(patch: str) -> str:
    """A diff as one block line per diff line, added and removed lines coloured."""
    lines = []
    for line in patch.splitlines():
        cls = "ctx"
        if line.startswith("+") and not line.startswith("+++"):
            cls = "add"
        elif line.startswith("-") and not line.startswith("---"):
            cls = "del"
        elif line.startswith("@@"):
            cls = "hunk"
        lines.append(f'<span class="{cls}">{_e(line) or " "}</span>')
    return '<pre class="diff">' + "".join(lines) + "</pre>"


def _test_run(run: dict[str, Any] | None, title: str) -> str:
    if not run:
        return ""
    tests = run.get("tests") or []
    bad = [t for t in tests if t.get("outcome") in ("failed", "error")]
    passed = sum(1 for t in tests if t.get("outcome") == "passed")
    head = (
        f"{_e(title)}: {passed} passed, {len(bad)} failed or errors, exit {_e(run.get('exit_code'))}, "
        f"{float(run.get('seconds') or 0):.1f} s{' (timed out)' if run.get('timed_out') else ''}"
    )
    rows = "".join(
        f'<tr><td class="fail">{_e(t["outcome"])}</td><td><code>{_e(t["name"])}</code></td>'
        f"<td>{_e(str(t.get('message', ''))[:300])}</td></tr>"
        for t in bad
    )
    out = (run.get("stdout") or "") + ("\n" + run["stderr"] if run.get("stderr") else "")
    return (
        f"<details><summary>{head}</summary><p><code>{_e(run.get('command', ''))}</code></p>"
        + (f"<table><tr><th>outcome</th><th>test</th><th>message</th></tr>{rows}</table>" if rows else "")
        + f"<pre>{_e(out[-6000:])}</pre></details>"
    )


def _localization(loc: dict[str, Any] | None, link_base: str | None) -> str:
    if not loc:
        return "<p>No localization (the run stopped before it).</p>"
    anchors = {(x["path"], x["qualname"]): f"loc-{i}" for i, x in enumerate(loc.get("locations", []))}
    by_path: dict[str, str] = {}
    for (path, _), anchor in anchors.items():
        by_path.setdefault(path, anchor)

    def link(path: str, line: int | None = None) -> str:
        inner = f'<a href="#{by_path[path]}">{_e(path)}</a>' if path in by_path else _e(path)
        if link_base:
            target = f"{link_base}{path}" + (f"#L{line}" if line else "")
            inner += f' <a class="meta" href="{_e(target)}">[source]</a>'
        return inner

    files = "".join(
        f"<tr><td>{i}</td><td>{link(f['path'])}</td><td>{_e('; '.join(f.get('reasons', [])[:4]))}</td></tr>"
        for i, f in enumerate(loc.get("files", [])[:10], 1)
    )
    symbols = "".join(
        f"<tr><td>{i}</td><td>{link(s['path'], s.get('start_line'))}::<code>{_e(s['qualname'])}</code></td>"
        f"<td>{_e(s.get('start_line'))}-{_e(s.get('end_line'))}</td>"
        f"<td>{_e('; '.join(s.get('reasons', [])[:3]))}</td></tr>"
        for i, s in enumerate(loc.get("symbols", [])[:10], 1)
    )
    stages = "".join(
        f"<li>{_e(s['stage'])}: {_e(s.get('reasons') or '')}"
        f"{' <b>(fell back to retrieval)</b>' if s.get('fallback') else ''}"
        f" <span class='meta'>{s.get('prompt_tokens', 0)}+{s.get('completion_tokens', 0)} tokens</span></li>"
        for s in loc.get("stages", [])
    )
    locations = "".join(
        f'<h4 id="{anchors[(x["path"], x["qualname"])]}">{_e(x["role"])}: {link(x["path"], x["start_line"])}'
        f"::<code>{_e(x['qualname'])}</code> <span class='meta'>lines {x['start_line']}-{x['end_line']}</span></h4>"
        f"<pre>{_e(x.get('source', ''))}</pre>"
        for x in loc.get("locations", [])
    )
    return (
        "<h3>Files</h3><table><tr><th>#</th><th>file</th><th>why</th></tr>" + files + "</table>"
        "<h3>Symbols</h3><table><tr><th>#</th><th>symbol</th><th>lines</th><th>why</th></tr>"
        + symbols
        + "</table>"
        + (f"<h3>Model stages</h3><ul>{stages}</ul>" if stages else "")
        + "<h3>Relevant locations</h3>"
        + (locations or "<p>none</p>")
    )


def _candidates(loop: dict[str, Any] | None) -> str:
    if not loop or not loop.get("candidates"):
        return "<p>No candidate was made.</p>"
    chosen = loop.get("chosen")
    parts = []
    for i, s in enumerate(loop["candidates"], 1):
        cand = s["candidate"]
        temps = ", ".join(str(t) for t in cand.get("temperatures", []))
        state = (
            f'<span class="fail">refused: {_e(cand["error"])}</span>'
            if cand.get("error")
            else (
                f"reproduction {'passes' if s.get('repro_passes') else 'does not pass'}; "
                f"{len(s.get('new_failures') or [])} newly failing"
            )
        )
        mark = " <b>(chosen)</b>" if chosen == i - 1 else ""
        body = diff_html(cand["patch"]) if cand.get("patch") else f"<pre>{_e(cand.get('response', ''))[:4000]}</pre>"
        parts.append(
            f"<details{' open' if mark else ''}><summary>Candidate {i}{mark}: round {s.get('round', 0)}, "
            f"temperature {temps}, {cand.get('votes', 1)} vote(s); {state}</summary>{body}"
            f"{_test_run(s.get('run'), 'tests with this candidate')}</details>"
        )
    return "".join(parts)


def _model_calls(events: list[dict[str, Any]]) -> str:
    calls = [e for e in events if e.get("type") == "model"]
    if not calls:
        return "<p>No model call was made.</p>"
    rows = []
    for i, c in enumerate(calls, 1):
        prompt = "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in c.get("messages", []))
        notes = []
        if c.get("lines_cut"):
            notes.append(f"{c['lines_cut']} prompt lines cut to fit the context window")
        if c.get("truncated"):
            notes.append("answer cut at max_tokens")
        if c.get("errors"):
            notes.append(f"{len(c['errors'])} retried error(s): {c['errors'][-1]}")
        rows.append(
            f"<details><summary>#{i} {_e(c.get('stage', ''))}: {c.get('prompt_tokens', 0)} prompt + "
            f"{c.get('completion_tokens', 0)} completion tokens, ${float(c.get('cost') or 0):.4f}, "
            f"{float(c.get('seconds') or 0):.1f} s{(' — ' + _e('; '.join(notes))) if notes else ''}</summary>"
            f"<h4>Prompt</h4><pre>{_e(prompt)}</pre><h4>Answer</h4><pre>{_e(c.get('response', ''))}</pre></details>"
        )
    return "".join(rows)


def render(result: dict[str, Any], events: list[dict[str, Any]]) -> str:
    status = str(result.get("status", "error"))
    loop = result.get("loop") or {}
    budget = result.get("budget") or {}
    spent = f"{budget.get('spent_tokens', 0)} tokens"
    if budget.get("max_tokens") is not None:
        spent += f" (limit {budget['max_tokens']})"
    spent += f" in {budget.get('calls', 0)} calls, ${float(budget.get('spent_cost') or 0):.4f}"
    if budget.get("max_cost") is not None:
        spent += f" (limit ${budget['max_cost']})"
    title = result.get("issue_title") or "repoagent run"
    facts = [
        ("Status", f'<span class="badge {_e(status)}">{_e(status)}</span>'),
        ("Why", _e(result.get("error") or result.get("stopped") or result.get("reason") or "")),
        ("Repository", _e(f"{result.get('repo')}" + (f" @ {result['revision']}" if result.get("revision") else ""))),
        ("Issue from", _e(result.get("issue_source", ""))),
        ("Model", _e(result.get("model", ""))),
        ("Sandbox / tests", _e(f"{result.get('sandbox', '')} / {result.get('test_command', '')}")),
        ("Spent", _e(spent)),
        ("Time", _e(f"{result.get('seconds', 0)} s")),
        ("Run", _e(f"{result.get('run_id', '')} in {result.get('run_dir', '')}")),
    ]
    if result.get("applied"):
        facts.append(("Delivered", "applied to the working tree"))
    if result.get("branch"):
        facts.append(("Delivered", _e(f"commit {result.get('commit')} on branch {result['branch']}")))
    table = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in facts)
    tests = _test_run(loop.get("baseline"), "baseline (base revision, no change)") + _test_run(
        loop.get("reproduction_run"), "reproduction test on the base revision"
    )
    repro = f"<h3>Reproduction test</h3><pre>{_e(loop['reproduction'])}</pre>" if loop.get("reproduction") else ""
    patch = result.get("patch") or ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>repoagent: {_e(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{CSS}</style></head>
<body>
<p class="meta">repoagent run report</p>
<h1>{_e(title)}</h1>
<table>{table}</table>
<h2 id="patch">Patch</h2>
{diff_html(patch) if patch else "<p>No patch was chosen.</p>"}
<h2 id="issue">Issue</h2>
<pre>{_e(result.get("issue", ""))}</pre>
<h2 id="localization">Localization</h2>
{_localization(result.get("localization"), result.get("link_base"))}
<h2 id="tests">Tests</h2>
<p>Selected test files: {_e(", ".join(loop.get("tests") or []) or "all")}</p>
{tests or "<p>No test ran.</p>"}{repro}
<h2 id="candidates">Candidates</h2>
{_candidates(loop)}
<h2 id="calls">Model calls</h2>
{_model_calls(events)}
</body></html>
"""


def write_report(run_dir: Path) -> Path:
    """(Re)draw ``report.html`` from the run folder's files."""
    run_dir = Path(run_dir)
    result = json.loads((run_dir / "result.json").read_text(encoding="utf-8"))
    out = run_dir / "report.html"
    out.write_text(render(result, read_trajectory(run_dir)), encoding="utf-8")
    return out
