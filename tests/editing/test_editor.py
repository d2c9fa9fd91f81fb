from __future__ import annotations

import inspect
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from editing.apply import apply_op, apply_ops
from editing.diff import patch_bytes
from editing.errors import EditError, GateError
from editing.ops import EditOp
from retrieval.parser import parse_source
from tests.support.gitrepo import git, make_repo

FIXTURES = Path(__file__).parents[1] / "support" / "fixtures"
SAMPLE = (FIXTURES / "sample.py").read_bytes()


def op(**kw) -> EditOp:
    return EditOp(path=kw.pop("path", "pkg/core.py"), **kw)


def test_replace_method_reindents_and_keeps_decorators_and_comments() -> None:
    code = "def norm(self) -> float:\n    return abs(self.x)\n"  # written at column 0
    out = apply_op(SAMPLE, op(kind="replace", target="Point.norm", code=code))
    assert (
        b"    # Distance from the origin.\n    @property\n    def norm(self) -> float:\n        return abs(self.x)\n"
        in out
    )
    before, after = SAMPLE.split(b"    # Distance")[0], out.split(b"    # Distance")[0]
    assert before == after  # every byte before the target is unchanged
    assert out.endswith(SAMPLE[SAMPLE.index(b"\n    def moved") :])


def test_new_decorators_replace_old_ones_but_comments_stay() -> None:
    code = "    @cached_property\n    def norm(self):\n        return 0\n"
    out = apply_op(SAMPLE, op(kind="replace", target="Point.norm", code=code))
    assert b"    # Distance from the origin.\n    @cached_property\n    def norm(self):" in out
    assert b"@property" not in out


def test_tabs_crlf_and_missing_trailing_newline_survive() -> None:
    content = (
        b"# -*- coding: latin-1 -*-\r\nclass A:\r\n\tdef f(self):\r\n\t\treturn 1\r\n\r\n\tdef g(self):\r\n\t\treturn 2"
    )
    out = apply_op(content, EditOp(kind="replace", path="m.py", target="A.f", code="def f(self):\n    return 10\n"))
    assert out == content.replace(b"\t\treturn 1", b"\t\treturn 10")
    out = apply_op(content, EditOp(kind="replace", path="m.py", target="A.g", code="def g(self):\n    return 20\n"))
    assert out == content.replace(b"return 2", b"return 20")  # still no newline at the end


def test_missing_and_ambiguous_targets_name_the_candidates() -> None:
    with pytest.raises(EditError, match="no definition named 'Point.nrom'.*did you mean Point.norm"):
        apply_op(SAMPLE, op(kind="replace", target="Point.nrom", code="def nrom(self): pass"))
    twice = b"def f():\n    return 1\n\n\ndef f():\n    return 2\n"
    with pytest.raises(EditError, match="'f' is ambiguous.*line 1.*line 5"):
        apply_op(twice, EditOp(kind="replace", path="m.py", target="f", code="def f():\n    return 3\n"))
    out = apply_op(twice, EditOp(kind="replace", path="m.py", target="f", line=5, code="def f():\n    return 3\n"))
    assert out == b"def f():\n    return 1\n\n\ndef f():\n    return 3\n"


def test_insert_delete_and_blocks() -> None:
    after = apply_op(SAMPLE, op(kind="insert", after="helper", code="def triple(x):\n    return 3 * x\n"))
    assert b"    return x * 2\n\n\ndef triple(x):\n    return 3 * x\n\n\n@dataclass" in after
    end = apply_op(
        SAMPLE, op(kind="insert", target="Point", position="class_end", code="def zero(self):\n    return 0")
    )
    assert b'        ordering = ["x"]\n\n    def zero(self):\n        return 0\n' in end
    top = apply_op(SAMPLE, op(kind="insert", position="module_top", code="def first():\n    pass\n"))
    assert top.index(b"def first") > top.index(b"import os") and top.index(b"def first") < top.index(b"LIMIT")
    bottom = apply_op(SAMPLE, op(kind="insert", position="module_bottom", code="def last():\n    pass\n"))
    assert bottom.endswith(b"    print(helper(os.getpid()))\n\n\ndef last():\n    pass\n")
    gone = apply_op(SAMPLE, op(kind="delete", target="Point.Meta"))
    assert b"class Meta" not in gone and b"return Point(clamp(self.x + dx))\n\n\nif __name__" in gone
    imports = apply_op(SAMPLE, op(kind="replace_block", line=5, code="import os\nimport sys\n"))
    assert b"import os\nimport sys\n\nLIMIT" in imports
    between = apply_op(SAMPLE, op(kind="replace_block", after="Point", code="if __name__ == '__main__':\n    pass\n"))
    assert between.endswith(b"        ordering = [\"x\"]\n\n\nif __name__ == '__main__':\n    pass\n")


def test_gates_reject_broken_code_with_actionable_messages() -> None:
    files = {"pkg/core.py": SAMPLE}
    with pytest.raises(GateError, match=r"syntax check failed in pkg/core.py: line 1\d: "):
        apply_ops([op(kind="replace", target="helper", code="def helper(x:\n    return x\n")], files.__getitem__)
    with pytest.raises(GateError, match="lint check failed in pkg/core.py: undefined name 'undefined_thing'"):
        apply_ops(
            [op(kind="replace", target="helper", code="def helper(x):\n    return undefined_thing\n")],
            files.__getitem__,
        )
    js = b"function f() {\n  return 1;\n}\n"
    with pytest.raises(GateError, match="syntax check failed in a.js"):
        apply_ops(
            [EditOp(kind="replace", path="a.js", target="f", code="function f() {\n  return (;\n}\n")],
            {"a.js": js}.__getitem__,
        )


def test_existing_lint_errors_are_not_blamed_on_the_edit() -> None:
    messy = b"def f():\n    return missing_name\n\n\ndef g():\n    return 1\n"
    edits = apply_ops(
        [EditOp(kind="replace", path="m.py", target="g", code="def g():\n    return 2\n")], {"m.py": messy}.__getitem__
    )
    assert edits[0].after.endswith(b"return 2\n")


def _write_through(root: Path, ops: list[EditOp]) -> list[str]:
    """Apply ``ops`` to files on disk as a caller does: read them, write back whatever apply_ops returns."""
    written = []
    try:
        edits = apply_ops(ops, lambda p: (root / p).read_bytes())
    except GateError:
        return written
    for e in edits:
        (root / e.path).write_bytes(e.after)
        written.append(e.path)
    return written


def test_transaction_is_all_or_nothing_on_disk(tmp_path: Path) -> None:
    util = b"def add(a, b):\n    return a + b\n"
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg/core.py").write_bytes(SAMPLE)
    (tmp_path / "pkg/util.py").write_bytes(util)
    good = EditOp(kind="replace", path="pkg/util.py", target="add", code="def add(a, b):\n    return b + a\n")
    bad = op(kind="replace", target="helper", code="def helper(x):\n    return nope\n")  # lint: undefined name
    assert _write_through(tmp_path, [good, bad]) == []  # the second fails: nothing of the first is written
    assert (tmp_path / "pkg/util.py").read_bytes() == util and (tmp_path / "pkg/core.py").read_bytes() == SAMPLE
    with pytest.raises(GateError):
        apply_ops([good, bad], lambda p: (tmp_path / p).read_bytes())
    fine = op(kind="replace", target="helper", code="def helper(x):\n    return x\n")
    assert sorted(_write_through(tmp_path, [good, fine])) == ["pkg/core.py", "pkg/util.py"]
    assert (tmp_path / "pkg/util.py").read_bytes().endswith(b"return b + a\n")


def test_diff_applies_with_git_apply_byte_for_byte(tmp_path: Path) -> None:
    odd = b"# caf\xe9\r\ndef f():\r\n    return 1\r\n\r\ndef g():\r\n    return 2"
    repo = tmp_path / "r"
    make_repo(repo, {"pkg/core.py": SAMPLE, "odd.py": odd})
    files = {"pkg/core.py": SAMPLE, "odd.py": odd}
    ops = [
        op(kind="replace", target="Point.moved", code="def moved(self, dx):\n    return Point(self.x + dx)\n"),
        op(kind="insert", position="module_bottom", code="def tail():\n    return None\n"),
        EditOp(kind="replace", path="odd.py", target="g", code="def g():\n    return 3\n"),
        EditOp(kind="insert", path="pkg/new.py", position="module_top", code="VALUE = 1\n"),
    ]
    edits = apply_ops(ops, lambda p: files[p] if p in files else (_ for _ in ()).throw(FileNotFoundError(p)))
    patch = tmp_path / "fix.patch"
    patch.write_bytes(patch_bytes(edits))
    subprocess.run(["git", "-C", str(repo), "apply", "--check", str(patch)], check=True)
    git(repo, "apply", str(patch))
    for e in edits:
        assert (repo / e.path).read_bytes() == e.after


def _definitions_of_real_files() -> list[tuple[str, bytes]]:
    import argparse
    import json.decoder
    import textwrap

    return [
        (Path(inspect.getfile(m)).name, Path(inspect.getfile(m)).read_bytes())
        for m in (argparse, json.decoder, textwrap, inspect)
    ]


REAL = _definitions_of_real_files()


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(REAL), st.data())
def test_round_trip_replacing_a_definition_by_itself(real: tuple[str, bytes], data: st.DataObject) -> None:
    name, content = real
    parsed = parse_source(content, "python")
    defs = [s for s in parsed.definitions if "<locals>" not in s.qualname]
    sym = data.draw(st.sampled_from(defs))
    code = content[sym.start_byte : sym.end_byte].decode("utf-8")
    out = apply_op(content, EditOp(kind="replace", path=name, target=sym.qualname, line=sym.header_line, code=code))
    assert out == content


def test_round_trip_every_definition_of_a_repository_file(tmp_path: Path) -> None:
    """Replace every definition (nested ones too) of real files in a git repository by its own text."""
    from retrieval.index import RepoIndex
    from retrieval.source import RepoSource

    repo = tmp_path / "real"
    make_repo(repo, {f"lib/{name}": content for name, content in REAL})
    index = RepoIndex.build(RepoSource(repo, "HEAD"))
    for entry in index.code_files():
        content = index.read(entry.path)
        defs = [s for s in entry.symbols if s.is_definition and "<locals>" not in s.qualname]
        ops = [
            EditOp(
                kind="replace",
                path=entry.path,
                target=s.qualname,
                line=s.header_line,
                code=content[s.start_byte : s.end_byte].decode(),
            )
            for s in sorted(defs, key=lambda s: -s.start_byte)
        ]
        assert len(ops) > 10
        assert apply_ops(ops, index.read) == []  # every byte stays as it was


def test_a_block_creates_a_missing_file_and_a_replace_does_not() -> None:
    def missing(path: str) -> bytes:
        raise FileNotFoundError(path)

    made = apply_ops([EditOp(kind="replace_block", path="pkg/new.py", line=1, code="X = 1\n")], missing)
    assert made[0].before == b"" and made[0].after == b"X = 1\n"
    with pytest.raises(EditError, match="pkg/gone.py does not exist; only an insert or a module-level block"):
        apply_ops([EditOp(kind="replace", path="pkg/gone.py", target="f", code="def f():\n    pass\n")], missing)


def test_imports_of_an_insert_move_too_and_keep_the_files_line_endings() -> None:
    src = b"import os\r\n\r\n\r\nclass A:\r\n    def f(self):\r\n        return os.sep\r\n"
    code = "import json\n\ndef g(self):\n    return json.dumps(1)\n"
    after = apply_ops([op(kind="insert", target="A", position="class_end", code=code)], lambda p: src)[0].after
    assert after.startswith(b"import json\r\nimport os\r\n") and b"\n" not in after.replace(b"\r\n", b"")
    assert b"    def g(self):\r\n        return json.dumps(1)\r\n" in after and after.count(b"import json") == 1


def test_syntax_the_grammar_misreads_is_accepted_where_the_edit_writes_it() -> None:
    src = b"def check(labels):\n    return labels\n"
    code = 'def check(labels):\n    raise TypeError(f"{labels:=} must be a sequence")\n'
    after = apply_ops([op(kind="replace", target="check", code=code)], lambda p: src)[0].after
    assert b'f"{labels:=}' in after  # compile() accepts it; the bundled grammar alone would refuse it


def test_an_error_above_the_edit_is_not_blamed_on_it_and_a_new_one_is_named() -> None:
    js = b"function broken() {\n  return 1 +;\n}\n\nfunction ok() {\n  return 2;\n}\n"
    fixed = "function ok() {\n  return 3;\n}\n"
    edit = EditOp(kind="replace", path="web/a.js", target="ok", code=fixed)
    assert b"return 3;" in apply_ops([edit], lambda p: js)[0].after
    touching = b"function broken() {\n  return 1 +;\n}\nfunction ok() {\n  return 2;\n}\n"  # no blank line between
    assert b"return 3;" in apply_ops([edit], lambda p: touching)[0].after
    bad = EditOp(kind="replace", path="web/a.js", target="ok", code="function ok() {\n  return (3;\n}\n")
    with pytest.raises(GateError, match=r"syntax check failed in web/a.js: line 6: .*: return \(3;"):
        apply_ops([bad], lambda p: js)


INSERT_SRC = (
    b'"""Doc."""\n\nimport os\n# a comment\n\nX = 1\n\n\nclass Empty:\n    """Nothing yet."""\n\n\n'
    b"def last():\n    return 1"  # no final newline
)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            {"position": "module_top", "code": "def first():\n    return 0\n"},
            b'"""Doc."""\n\nimport os\n\ndef first():\n    return 0\n\n\n# a comment\n\nX = 1\n\n\nclass Empty:\n'
            b'    """Nothing yet."""\n\n\ndef last():\n    return 1',
        ),
        (
            {"target": "Empty", "position": "class_end", "code": "def m(self):\n    return 2\n"},
            b'"""Doc."""\n\nimport os\n# a comment\n\nX = 1\n\n\nclass Empty:\n    """Nothing yet."""\n\n'
            b"    def m(self):\n        return 2\n\n\ndef last():\n    return 1",
        ),
        (
            {"target": "last", "position": "after", "code": "def after():\n    return 3\n"},
            INSERT_SRC + b"\n\n\ndef after():\n    return 3\n",
        ),
        ({"position": "module_bottom", "code": "Y = 2\n"}, INSERT_SRC + b"\n\n\nY = 2\n"),
    ],
)
def test_inserts_land_where_they_should_byte_for_byte(fields: dict, expected: bytes) -> None:
    """Every kind of insert, into a file with a docstring, imports, a comment, an empty class and no final newline."""
    assert apply_op(INSERT_SRC, EditOp(kind="insert", path="m.py", **fields)) == expected


def test_an_insert_with_no_place_named_is_refused() -> None:
    with pytest.raises(EditError, match="an insert needs after=<definition>, or position class_end"):
        apply_op(INSERT_SRC, EditOp(kind="insert", path="m.py", code="Z = 3\n"))


def test_inserts_beside_methods_take_one_blank_line_and_a_bare_file_starts_at_its_top() -> None:
    src = b"class A:\n    def f(self):\n        return 1\n\n\ndef g():\n    return 2\n"
    tail = b"\n\ndef g():\n    return 2\n"
    after_method = apply_op(src, EditOp(kind="insert", path="m.py", after="A.f", code="def h(self):\n    return 3\n"))
    assert (
        after_method == b"class A:\n    def f(self):\n        return 1\n\n    def h(self):\n        return 3\n" + tail
    )
    at_end = apply_op(
        src, EditOp(kind="insert", path="m.py", target="A", position="class_end", code="def k(self):\n    return 4\n")
    )
    assert at_end == b"class A:\n    def f(self):\n        return 1\n\n    def k(self):\n        return 4\n" + tail
    top = apply_op(src, EditOp(kind="insert", path="m.py", position="module_top", code="Z = 0\n"))
    assert top == b"Z = 0\n\n\n" + src


def test_deleting_takes_the_blank_lines_that_separate_the_definition() -> None:
    src = b"def first():\n    return 1\n\n\ndef second():\n    return 2\n"
    assert apply_op(src, EditOp(kind="delete", path="m.py", target="first")) == b"def second():\n    return 2\n"
    assert apply_op(src, EditOp(kind="delete", path="m.py", target="second")) == b"def first():\n    return 1\n"
    alone = b"def only():\n    return 1\n"
    assert apply_op(alone, EditOp(kind="delete", path="m.py", target="only")) == b""


LATIN1 = "# -*- coding: latin-1 -*-\n\n\ndef name():\n    return 'café'\n\n\ndef other():\n    return 1\n"


def test_a_declared_encoding_is_kept_in_process() -> None:
    src = LATIN1.encode("latin-1")
    new = apply_op(src, EditOp(kind="replace", path="m.py", target="other", code="def other():\n    return 'naïve'\n"))
    assert new == LATIN1.replace("return 1", "return 'naïve'").encode("latin-1")
    with pytest.raises(EditError, match="declared iso8859-1, which cannot hold '€'"):
        apply_op(src, EditOp(kind="replace", path="m.py", target="other", code="def other():\n    return '€'\n"))
