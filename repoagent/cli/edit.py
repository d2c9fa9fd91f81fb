"""``repoagent edit`` and ``repoagent bench edit``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from repoagent.cli.app import app, err
from repoagent.errors import JobFailed, UserError


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
    from editing.apply import apply_ops  # the editor's imports only when a command edits (a tenth of a second)
    from editing.diff import patch_bytes
    from editing.errors import EditError
    from editing.ops import EditOp
    from repoagent.pipeline.inputs import text_or_file

    chosen = [x is not None for x in (symbol, insert_after, module_block)]
    if sum(chosen) != 1:
        raise UserError("give exactly one of --symbol, --insert-after or --module-block")
    new_code = "" if symbol and delete else text_or_file(code, "--code")
    target = inside_repo(repo, file)
    if symbol:
        op = EditOp(kind="delete" if delete else "replace", path=file, target=symbol, line=line, code=new_code)
    elif insert_after:
        op = EditOp(kind="insert", path=file, after=insert_after, line=line, code=new_code)
    else:
        op = EditOp(kind="replace_block", path=file, line=module_block, code=new_code)

    def read(path: str) -> bytes:
        try:
            return target.read_bytes()
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
        sys.stdout.flush()
        sys.stdout.buffer.write(patch_bytes(edits))  # bytes as they are: a file in latin-1 stays latin-1
        sys.stdout.buffer.flush()


def inside_repo(repo: Path, file: str) -> Path:
    """``repo/file``, refused (exit 2) when ``file`` is absolute, leaves ``repo``, or goes through a link."""
    from editing.ops import repo_path_problem

    problem = repo_path_problem(file)
    if problem:
        raise UserError(f"--file {file}: the path {problem}")
    root = repo.resolve()
    target = root / file
    if target.resolve() != target or any(p.is_symlink() for p in [target, *target.parents] if p != root):
        raise UserError(f"--file {file}: goes through a symbolic link; edit the file it points to in its repository")
    return target
