"""``repoagent edit`` and ``repoagent bench edit``."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Annotated

import typer

from editing.apply import apply_ops
from editing.diff import patch_bytes
from editing.errors import EditError
from editing.ops import EditOp
from repoagent.cli import app, bench_app, err
from repoagent.errors import JobFailed, UserError
from repoagent.progress import progress_bar


def _read_code(value: str) -> str:
    if not value.startswith("@"):
        return value
    try:
        return Path(value[1:]).read_text()
    except OSError as exc:
        raise UserError(f"--code {value}: cannot read {value[1:]} ({exc.strerror})") from None


@app.command("edit")
def edit_command(
    file: Annotated[str, typer.Option("--file", help="File to edit, relative to --repo.")],
    code: Annotated[str, typer.Option("--code", help="New code, or @FILE holding it.")],
    repo: Annotated[Path, typer.Option("--repo", help="Repository (its working tree is edited).")] = Path("."),
    symbol: Annotated[str | None, typer.Option("--symbol", help="Replace this definition (Class.method).")] = None,
    insert_after: Annotated[str | None, typer.Option("--insert-after", help="Insert after this definition.")] = None,
    module_block: Annotated[int | None, typer.Option("--module-block", help="Replace the block on this line.")] = None,
    delete: Annotated[bool, typer.Option("--delete", help="Delete --symbol instead of replacing it.")] = False,
    line: Annotated[int | None, typer.Option("--line", help="Line hint for a redefined name.")] = None,
    write: Annotated[bool, typer.Option("--write", help="Write the file instead of printing the diff.")] = False,
) -> None:
    """Apply one whole-definition edit; print the diff, or write it with --write."""
    chosen = [x is not None for x in (symbol, insert_after, module_block)]
    if sum(chosen) != 1:
        raise UserError("give exactly one of --symbol, --insert-after or --module-block")
    if symbol:
        op = EditOp(
            kind="delete" if delete else "replace",
            path=file,
            target=symbol,
            line=line,
            code="" if delete else _read_code(code),
        )
    elif insert_after:
        op = EditOp(kind="insert", path=file, after=insert_after, line=line, code=_read_code(code))
    else:
        op = EditOp(kind="replace_block", path=file, line=module_block, code=_read_code(code))
    target = repo / file

    def read(path: str) -> bytes:
        try:
            return (repo / path).read_bytes()
        except FileNotFoundError:
            raise UserError(f"--file {path}: no such file in {repo}") from None

    try:
        edits = apply_ops([op], read)
    except EditError as exc:
        raise JobFailed(f"edit refused: {exc}") from None
    if not edits:
        err.print("no change: the new code is identical")
        return
    if write:
        target.write_bytes(edits[0].after)
        err.print(f"wrote {target}")
    else:
        typer.echo(patch_bytes(edits).decode("utf-8", errors="replace"), nl=False)


@bench_app.command("edit")
def bench_edit_command(
    dataset: Annotated[Path, typer.Option("--dataset", help="SWE-bench instances: JSON list or JSON lines.")],
    out: Annotated[Path, typer.Option("--out", help="JSON lines written per instance (resumable).")],
    repos: Annotated[Path | None, typer.Option("--repos", help="Folder of git repositories.")] = None,
    repo_map: Annotated[Path | None, typer.Option("--repo-map", help="JSON: owner/name to a git folder.")] = None,
    instances: Annotated[str | None, typer.Option("--instances", help="Comma-separated instance ids.")] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="At most this many instances.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Redo instances already in --out.")] = False,
) -> None:
    """Express each gold patch as whole-definition edits and compare with the gold files."""
    from swebench_runner.bench_edit import bench_edit_one
    from swebench_runner.bench_localize import read_done
    from swebench_runner.dataset import load_instances
    from swebench_runner.repos import RepoFinder

    if repos is None and repo_map is None:
        raise UserError("pass --repos DIR (and/or --repo-map FILE) so the repositories can be found")
    ids = [i.strip() for i in instances.split(",") if i.strip()] if instances else None
    chosen = load_instances(dataset, ids, limit)
    finder = RepoFinder(repos, repo_map)
    done = {} if force else read_done(out)
    if force and out.exists():
        out.unlink()
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = [done[i.instance_id] for i in chosen if i.instance_id in done]
    todo = [i for i in chosen if i.instance_id not in done]
    with progress_bar() as progress, out.open("a") as sink:
        for n, inst in enumerate(todo):
            progress("edit", n, len(todo))
            row = bench_edit_one(inst, finder)
            sink.write(json.dumps(row) + "\n")
            sink.flush()
            rows.append(row)
        progress("edit", len(todo), len(todo))
    total = max(1, len(rows))
    summary = {
        "instances": len(rows),
        "exact": round(sum(r["exact"] for r in rows) / total, 4),
        "ast_equal": round(sum(r["ast_equal"] for r in rows) / total, 4),
        "seconds": round(sum(r["seconds"] for r in rows), 3),
        "median_seconds": round(statistics.median([r["seconds"] for r in rows]), 3) if rows else 0.0,
    }
    for r in rows:
        if not r["exact"]:
            err.print(f"{r['instance_id']}: {r.get('error', 'differs')}", highlight=False)
    typer.echo(json.dumps(summary))
