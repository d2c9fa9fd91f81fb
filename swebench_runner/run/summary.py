"""``summary.json`` and ``summary.html`` of a batch run: per instance and per repository.

Per instance: status, whether a patch came, the rank of the gold files in the
localization (computed from the gold patch here, after the run, for the
summary only), tokens, cost, seconds, the test environment and any error.
After ``evaluate`` the graded verdicts (``evaluation.json``) are merged in,
with the grader's name beside every figure.  The page is plain HTML with
small SVG charts: no script.
"""

from __future__ import annotations

import html
import json
import os
import statistics
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from swebench_runner.data.dataset import Instance
from swebench_runner.run.journal import InstanceRow, ended_in_error

EVALUATION = "evaluation.json"
STATUS_COLOURS = {
    "resolved": "#2e7d32",
    "untested": "#7cb342",
    "unresolved": "#f9a825",
    "no_patch": "#9e9e9e",
    "stopped": "#8d6e63",
    "broken_environment": "#6d4c41",
    "error": "#c62828",
    "interrupted": "#ad1457",
    "not run": "#e0e0e0",
    "external": "#5c6bc0",  # a prediction another system made, graded here
}
RANK_BINS = [("1", 1, 1), ("2-3", 2, 3), ("4-5", 4, 5), ("6-10", 6, 10), (">10 or absent", 11, None)]


def _worst_rank(ranks: dict[str, int | None]) -> int | None:
    """The rank at which all gold files are in (None when one is absent, or there is none)."""
    if not ranks or any(r is None for r in ranks.values()):
        return None
    return max(r for r in ranks.values() if r is not None)


def load_evaluation(out: Path) -> dict[str, Any] | None:
    path = Path(out) / EVALUATION
    return json.loads(path.read_text()) if path.exists() else None


def _instance_row(inst: Instance, row: InstanceRow | None, verdicts: dict[str, Any] | None) -> dict[str, Any]:
    """One instance's line; with ``verdicts`` (a graded run) an instance the grader did not report is unresolved."""
    if row is None:
        out = {"instance_id": inst.instance_id, "repo": inst.repo, "status": "not run", "has_patch": False}
        return out if verdicts is None else {**out, "resolved": False}
    out = {
        "instance_id": inst.instance_id,
        "repo": inst.repo,
        "status": row.status,
        "has_patch": bool(row.patch),
        "gold_ranks": row.gold_ranks,
        "gold_rank": _worst_rank(row.gold_ranks),
        "tokens": row.tokens,
        "cost": row.cost,
        "seconds": row.seconds,
        "retrieval_seconds": row.retrieval_seconds,
        "environment": row.environment,
        "error": row.error,
        "error_kind": row.error_kind,
    }
    if row.oracle_check is not None:
        out["oracle_check"] = row.oracle_check
    if row.missing_files is not None:
        out["missing_files"] = row.missing_files
    if verdicts is not None:
        verdict = verdicts.get(inst.instance_id, {})
        out["resolved"] = bool(verdict.get("resolved"))
        if verdict and not verdict.get("graded", True):
            out["not_graded"] = True  # its tests could not run here: counted unresolved, and said why
            out["not_graded_reason"] = verdict.get("not_graded_reason", "")
    return out


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


def _share(n: int, total: int) -> float:
    return round(n / total, 4) if total else 0.0


def _aggregate(rows: list[dict[str, Any]], graded: bool) -> dict[str, Any]:
    ran = [r for r in rows if r["status"] != "not run"]
    agg: dict[str, Any] = {
        "instances": len(rows),
        "done": len(ran),
        "with_patch": sum(r["has_patch"] for r in ran),
        "errors": sum(ended_in_error(r.get("status"), r.get("error_kind")) for r in ran),
        "statuses": dict(Counter(r["status"] for r in rows)),
        "tokens": sum(int(r.get("tokens") or 0) for r in ran),
        "cost": round(sum(float(r.get("cost") or 0.0) for r in ran), 6),
        "seconds": round(sum(float(r.get("seconds") or 0.0) for r in ran), 2),
        "retrieval_seconds_median": _median([r["retrieval_seconds"] for r in ran if r.get("retrieval_seconds")]),
    }
    ranked = [r for r in ran if r.get("gold_ranks")]
    for k in (1, 3, 5, 10):
        agg[f"gold_files@{k}"] = _share(sum((r["gold_rank"] or 99) <= k for r in ranked), len(ranked))
    if graded:
        agg["resolved"] = sum(bool(r.get("resolved")) for r in rows)
        agg["resolved_share"] = _share(agg["resolved"], len(rows))
        agg["not_graded"] = sum(bool(r.get("not_graded")) for r in rows)
    return agg


def build_summary(
    instances: list[Instance], rows: list[InstanceRow], capped: str, model: str, dataset: str, evaluation: Any
) -> dict[str, Any]:
    by_id = {r.instance_id: r for r in rows}
    verdicts = evaluation.get("instances", {}) if evaluation is not None else None
    per = [_instance_row(i, by_id.get(i.instance_id), verdicts) for i in instances]
    repos: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in per:
        repos[r["repo"]].append(r)
    graded = evaluation is not None
    return {
        "dataset": dataset,
        "model": model,
        "grading": (evaluation or {}).get("grader", "not graded"),
        "stopped": capped,
        "total": _aggregate(per, graded),
        "repositories": {name: _aggregate(rs, graded) for name, rs in sorted(repos.items())},
        "instances": per,
    }


def write_summary(
    out: Path, instances: list[Instance], rows: list[InstanceRow], capped: str, model: str, dataset: str
) -> dict[str, Any]:
    summary = build_summary(instances, rows, capped, model, dataset, load_evaluation(out))
    _atomic(Path(out) / "summary.json", json.dumps(summary, indent=2) + "\n")
    _atomic(Path(out) / "summary.html", render_html(summary))
    return summary


def _atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


# -- the page ----------------------------------------------------------------------


def _bar(counts: dict[str, int], total: int, width: int = 360, height: int = 14) -> str:
    """One stacked bar of status counts, as inline SVG."""
    x, parts = 0.0, []
    for status, colour in STATUS_COLOURS.items():
        n = counts.get(status, 0)
        if not n:
            continue
        w = width * n / max(1, total)
        parts.append(
            f'<rect x="{x:.1f}" y="0" width="{w:.1f}" height="{height}" fill="{colour}">'
            f"<title>{status}: {n}</title></rect>"
        )
        x += w
    return f'<svg width="{width}" height="{height}" role="img">{"".join(parts)}</svg>'


def _rank_chart(rows: list[dict[str, Any]]) -> str:
    ranked = [r for r in rows if r.get("gold_ranks")]
    counts = []
    for label, lo, hi in RANK_BINS:
        n = sum(
            1
            for r in ranked
            if (r["gold_rank"] is None and hi is None)
            or (r["gold_rank"] is not None and lo <= r["gold_rank"] and (hi is None or r["gold_rank"] <= hi))
        )
        counts.append((label, n))
    top = max([n for _, n in counts] + [1])
    bars = []
    for i, (label, n) in enumerate(counts):
        h = 80 * n / top
        x = 10 + i * 70
        bars.append(
            f'<rect x="{x}" y="{90 - h:.1f}" width="50" height="{h:.1f}" fill="#1565c0"><title>{n}</title></rect>'
            f'<text x="{x + 25}" y="{86 - h:.1f}" text-anchor="middle" font-size="11">{n}</text>'
            f'<text x="{x + 25}" y="106" text-anchor="middle" font-size="11">{html.escape(label)}</text>'
        )
    return f'<svg width="{20 + 70 * len(counts)}" height="112" role="img">{"".join(bars)}</svg>'


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def render_html(summary: dict[str, Any]) -> str:
    e = html.escape
    total = summary["total"]
    graded = "resolved" in total
    grading = summary["grading"]
    grade_note = f" ({e(grading)})" if graded else ""
    legend = " ".join(f'<span class="key" style="background:{c}"></span>{e(s)}' for s, c in STATUS_COLOURS.items())
    head_cells = "<th>repository</th><th>instances</th><th>statuses</th><th>patch</th><th>errors</th>"
    head_cells += "<th>gold files @1</th><th>@5</th><th>tokens</th><th>cost</th><th>seconds</th>"
    head_cells += "<th>retrieval s (median)</th>"
    head_cells += f"<th>resolved{grade_note}</th>" if graded else ""
    repo_rows = []
    for name, agg in [*summary["repositories"].items(), ("all", total)]:
        cells = (
            f"<td>{e(name)}</td><td>{agg['instances']}</td><td>{_bar(agg['statuses'], agg['instances'])}</td>"
            f"<td>{agg['with_patch']}</td><td>{agg['errors']}</td><td>{agg['gold_files@1']:.2f}</td>"
            f"<td>{agg['gold_files@5']:.2f}</td><td>{agg['tokens']}</td><td>${agg['cost']:.4f}</td>"
            f"<td>{agg['seconds']:.0f}</td><td>{_seconds(agg.get('retrieval_seconds_median'))}</td>"
        )
        cells += f"<td>{agg['resolved']} ({agg['resolved_share']:.0%})</td>" if graded else ""
        repo_rows.append(f"<tr>{cells}</tr>")
    inst_rows = []
    for r in summary["instances"]:
        ranks = ", ".join(f"{e(p)}: {k if k else '-'}" for p, k in (r.get("gold_ranks") or {}).items())
        env = r.get("environment") or {}
        env_text = e(env.get("image") or env.get("kind") or "")
        resolved = ""
        if graded:
            resolved = f"<td>{'yes' if r.get('resolved') else 'no'}</td>"
        inst_rows.append(
            f'<tr><td>{e(r["instance_id"])}</td><td><span class="key" '
            f'style="background:{STATUS_COLOURS.get(r["status"], "#000")}"></span>{e(r["status"])}</td>'
            f"<td>{'yes' if r['has_patch'] else 'no'}</td><td>{ranks}</td><td>{r.get('tokens', 0)}</td>"
            f"<td>${float(r.get('cost') or 0):.4f}</td><td>{float(r.get('seconds') or 0):.1f}</td>"
            f'<td>{env_text}</td><td class="err">{e(str(r.get("error") or ""))[:300]}</td>{resolved}</tr>'
        )
    stopped = f'<p class="stopped">Stopped early: {e(summary["stopped"])}</p>' if summary["stopped"] else ""
    resolved_head = f"<th>resolved{grade_note}</th>" if graded else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>SWE-bench run: {e(summary["dataset"])}</title>
<style>
body{{font-family:system-ui,sans-serif;margin:2em;color:#222}} table{{border-collapse:collapse;margin:1em 0}}
td,th{{border-bottom:1px solid #ddd;padding:3px 8px;text-align:left;font-size:13px;vertical-align:top}}
.key{{display:inline-block;width:10px;height:10px;margin:0 4px 0 8px}} .err{{color:#c62828;max-width:30em}}
.stopped{{background:#fff3e0;padding:8px;border-left:4px solid #ef6c00}}
</style></head><body>
<h1>SWE-bench run</h1>
<p>Dataset <b>{e(summary["dataset"])}</b>, model <b>{e(summary["model"])}</b>. Grading: <b>{e(grading)}</b>.</p>
{stopped}
<p>{total["done"]} of {total["instances"]} instances done; {total["with_patch"]} with a patch;
{total["errors"]} errors; {total["tokens"]} tokens; ${total["cost"]:.4f}; {total["seconds"]:.0f} s of work.
{f"Resolved{grade_note}: {total['resolved']} ({total['resolved_share']:.0%})." if graded else ""}</p>
<p>{legend}</p>
<h2>Per repository</h2>
<table><tr>{head_cells}</tr>{"".join(repo_rows)}</table>
<h2>Rank of the gold files in the localization</h2>
<p>The rank at which every file the gold patch changes is in the localization's list
(from the gold patch, after the run; the agent never saw it).</p>
{_rank_chart(summary["instances"])}
<h2>Per instance</h2>
<table><tr><th>instance</th><th>status</th><th>patch</th><th>gold file ranks</th><th>tokens</th><th>cost</th>
<th>seconds</th><th>test environment</th><th>error</th>{resolved_head}</tr>
{"".join(inst_rows)}</table>
</body></html>
"""
