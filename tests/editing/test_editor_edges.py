"""The editor at the edges users meet: a block named by its first or last line, elided blocks, CRLF files,
classes indented their own way, modules that open with a comment.  Each test holds a behaviour that a
surviving mutant of ``editing/apply.py`` changed (see the README's mutation check)."""

from __future__ import annotations

import pytest

from editing.answer_format import parse_edit_answer
from editing.apply import apply_op, apply_ops
from editing.errors import EditError, ElisionError, GateError
from editing.ops import EditOp

MODULE = (
    b'"""Shop helpers."""\n\nimport json\nimport os\n\n\ndef load(path):\n    return json.loads(open(path).read())\n'
)
NEW_IMPORTS = b"import json\nimport os\nimport sys\n"


def _apply(content: bytes, answer: str, path: str = "shop.py") -> bytes:
    ops = parse_edit_answer(answer)
    return apply_ops(ops, lambda p: content)[0].after


@pytest.mark.parametrize("line", [3, 4, 6])  # the block's first line, its last import, its last (blank) line
def test_a_block_is_found_by_its_first_and_by_its_last_line(line: int) -> None:
    answer = f"### BLOCK shop.py:{line}\n```python\nimport json\nimport os\nimport sys\n```"
    assert _apply(MODULE, answer) == MODULE.replace(b"import json\nimport os\n", NEW_IMPORTS)


def test_a_line_outside_every_block_is_an_error() -> None:
    with pytest.raises(EditError, match="no module-level block holds line 8"):
        _apply(MODULE, "### BLOCK shop.py:8\n```python\nimport sys\n```")


def test_an_elided_block_is_sent_back() -> None:
    with pytest.raises(ElisionError, match="whole definition"):
        _apply(MODULE, "### BLOCK shop.py:3\n```python\nimport sys\n# ... other imports unchanged ...\n```")


@pytest.mark.parametrize("code_newline", ["\n", "\r\n"])
def test_a_crlf_file_keeps_crlf_whatever_the_answer_used(code_newline: str) -> None:
    crlf = MODULE.replace(b"\n", b"\r\n")
    code = "import json\nimport os\nimport sys\n".replace("\n", code_newline)
    after = _apply(crlf, f"### BLOCK shop.py:3\n```python\n{code}```")
    assert after == crlf.replace(b"import json\r\nimport os\r\n", NEW_IMPORTS.replace(b"\n", b"\r\n"))
    assert b"\n" not in after.replace(b"\r\n", b"")


def test_insert_into_a_class_takes_the_indent_of_its_methods() -> None:
    two = b"class Cart:\n  def __init__(self):\n    self.items = []\n\n"
    two += b"  def add(self, item):\n    self.items.append(item)\n"
    answer = "### INSERT INTO shop.py::Cart\n```python\ndef clear(self):\n    self.items = []\n```"
    after = _apply(two, answer)
    assert after.startswith(two + b"\n  def clear(self):\n")  # the body keeps the answer's own indent under it


def test_insert_into_an_empty_class_indents_one_level_below_it() -> None:
    empty = b"class Empty:\n    pass\n"
    after = _apply(empty, "### INSERT INTO shop.py::Empty\n```python\ndef go(self):\n    return 1\n```")
    assert after.startswith(b"class Empty:\n    pass\n\n    def go(self):\n        return 1\n")


def test_insert_at_the_top_goes_below_a_licence_comment_the_docstring_and_the_imports() -> None:
    head = b"# Copyright 2026 Shop Ltd.\n# Licensed under MIT.\n\n" + MODULE
    after = _apply(head, "### INSERT shop.py TOP\n```python\nLIMIT = 10\n```")
    assert after == head.replace(b"import os\n\n\n", b"import os\n\n\nLIMIT = 10\n\n\n")


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (b"# -*- coding: utf-8 -*-\ndef f():\n    pass\n", b"# -*- coding: utf-8 -*-\n\nLIMIT = 10\n\n\ndef f():\n"),
        (b"# Licence: MIT\n\n# helper\ndef f():\n    pass\n", b"# Licence: MIT\n\nLIMIT = 10\n\n\n# helper\ndef f():"),
        (b"def f():\n    pass\n", b"LIMIT = 10\n\n\ndef f():\n"),
    ],
)
def test_insert_at_the_top_of_a_module_without_docstring_or_imports(source: bytes, expected: bytes) -> None:
    after = _apply(source, "### INSERT shop.py TOP\n```python\nLIMIT = 10\n```")
    assert after.startswith(expected), after


REDEFINED = (
    b"import sys\n\nif sys.version_info >= (3, 8):\n\n    def shout(text):\n        return text.upper()\n\n"
    b"else:\n\n    def shout(text):\n        return text.lower()\n"
)


def _op(**fields) -> EditOp:
    return EditOp(path="loud.py", **fields)


def test_a_line_picks_among_redefinitions_for_replace_delete_and_insert() -> None:
    """``repoagent edit --line`` and the oracle name one of two definitions of a name by its line."""
    code = "def shout(text):\n    return text.upper() + '!'\n"
    second = apply_op(REDEFINED, _op(kind="replace", target="shout", line=10, code=code))
    assert second == REDEFINED.replace(b"text.lower()", b"text.upper() + '!'")
    first = apply_op(REDEFINED, _op(kind="replace", target="shout", line=5, code=code))
    assert first == REDEFINED.replace(b"return text.upper()", b"return text.upper() + '!'")
    gone = apply_op(REDEFINED, _op(kind="delete", target="shout", line=10))
    assert gone == REDEFINED.replace(b"\n    def shout(text):\n        return text.lower()\n", b"")
    after = apply_op(REDEFINED, _op(kind="insert", after="shout", line=5, code="def whisper(text):\n    return text\n"))
    assert after.index(b"def whisper") < after.index(b"else:")
    with pytest.raises(EditError, match=r"'shout' is ambiguous in loud\.py: shout at line 5, shout at line 10"):
        apply_op(REDEFINED, _op(kind="replace", target="shout", code=code))


def test_a_line_between_redefinitions_picks_the_nearest_header() -> None:
    code = "def shout(text):\n    return ''\n"
    assert (
        b"return ''" in apply_op(REDEFINED, _op(kind="replace", target="shout", line=9, code=code)).split(b"else:")[1]
    )
    assert (
        b"return ''" in apply_op(REDEFINED, _op(kind="replace", target="shout", line=7, code=code)).split(b"else:")[0]
    )


def test_bytes_that_are_not_utf8_elsewhere_in_the_file_are_kept_as_they_were() -> None:
    """A stray Latin-1 byte in a comment (no coding line): the edit changes the function, not that byte."""
    content = b"# caf\xe9 au lait\n\n\ndef price():\n    return 1\n\n\n# na\xefve\n"
    after = apply_op(content, _op(kind="replace", target="price", code="def price():\n    return 2\n"))
    assert after == content.replace(b"return 1", b"return 2")
    latin = b"# -*- coding: latin-1 -*-\n# caf\xe9 \xff\n\n\ndef price():\n    return '\xe9'\n"
    after = apply_op(latin, _op(kind="replace", target="price", code="def price():\n    return '\xe9\xe9'\n"))
    assert after == latin.replace(b"'\xe9'", b"'\xe9\xe9'")


def test_delete_at_the_edges_of_a_file() -> None:
    first = b"def a():\n    return 1\n\n\ndef b():\n    return 2\n"
    assert apply_op(first, _op(kind="delete", target="a")) == b"def b():\n    return 2\n"
    last = b"def a():\n    return 1\n\n\ndef b():\n    return 2"  # no newline at the end
    assert apply_op(last, _op(kind="delete", target="b")) == b"def a():\n    return 1\n"
    only = b"def a():\n    return 1\n\n\n"  # blank lines after the only definition go with it
    assert apply_op(only, _op(kind="delete", target="a")) == b""
    trailing = b"def a():\n    return 1\n\n   \n"  # blank lines with spaces, and none after them
    assert apply_op(trailing, _op(kind="delete", target="a")) == b""


CART = (
    b"class Cart:\n    def add(self, item):\n        # keep the order items came in\n"
    b"        self.items.append(item)\n\n"
    b"    @property\n    def total(self):\n        return sum(self.items)\n"
)
WHOLE_CART = (
    "class Cart:\n    def add(self, item):\n        self.items.append(item)\n\n"
    "    @property\n    def total(self):\n        return sum(self.items) * 2\n"
)


def test_a_whole_class_with_one_method_changed_replaces_that_method_with_its_decorator() -> None:
    after = apply_op(CART, _op(kind="replace", target="Cart.total", code=WHOLE_CART))
    assert after == CART.replace(b"return sum(self.items)", b"return sum(self.items) * 2")  # the comment stays


def test_a_whole_class_with_more_changed_replaces_the_class() -> None:
    code = WHOLE_CART.replace("self.items.append(item)", "self.items.insert(0, item)")
    assert apply_op(CART, _op(kind="replace", target="Cart.total", code=code)) == code.encode()


def test_a_whole_nested_class_for_one_of_its_methods() -> None:
    nested = b"class Shop:\n    class Cart:\n        def total(self):\n            return 0\n\n"
    nested += b"        def size(self):\n            return 0\n"
    code = "class Cart:\n    def total(self):\n        return 1\n\n    def size(self):\n        return 0\n"
    after = apply_op(nested, _op(kind="replace", target="Shop.Cart.total", code=code))
    assert after == nested.replace(b"return 0", b"return 1", 1)


def test_a_whole_class_among_redefinitions_goes_where_the_line_says() -> None:
    two = b"import sys\n\nif sys.platform == 'win32':\n\n    class Cart:\n"
    two += b"        def total(self):\n            return 0\n"
    two += b"\nelse:\n\n    class Cart:\n        def total(self):\n            return 1\n\n        def size(self):\n"
    two += b"            return 1\n"
    code = "class Cart:\n    def total(self):\n        return 2\n\n    def size(self):\n        return 2\n"
    after = apply_op(two, _op(kind="replace", target="Cart.total", line=12, code=code))
    head, tail = after.split(b"else:")
    assert b"return 0" in head and b"return 2" in tail and b"return 1" not in tail


DECORATED = b"class A:\n    # note\n    @staticmethod\n    @cache\n    def x():\n        return 1\n"


@pytest.mark.parametrize(
    ("code", "kept"),
    [
        ("def x():\n    return 2\n", b"    # note\n    @staticmethod\n    @cache\n"),  # no decorator: the file's stay
        ("@staticmethod\n@cache\ndef x():\n    return 2\n", b"    # note\n    @staticmethod\n    @cache\n"),
        ("@cache\ndef x():\n    return 2\n", b"    # note\n    @cache\n"),  # a decorator dropped by the answer
    ],
)
def test_decorators_come_from_the_answer_when_it_has_them_and_the_comment_above_stays(code: str, kept: bytes) -> None:
    after = apply_op(DECORATED, _op(kind="replace", target="A.x", code=code))
    assert after == b"class A:\n" + kept + b"    def x():\n        return 2\n"


def test_insert_at_the_top_of_a_file_in_another_language_goes_below_its_comments_and_imports() -> None:
    js = b"// Licence: MIT\n\nimport a from 'a';\nimport b from 'b';\n\nfunction f() {\n  return 1;\n}\n"
    top = _op(kind="insert", position="module_top", code="const TOP = 1;\n")
    after = apply_op(js, top.model_copy(update={"path": "shop.js"}))
    assert after == js.replace(b"\nfunction", b"\nconst TOP = 1;\n\n\nfunction")
    bare = b"function f() {\n  return 1;\n}\n"  # nothing above its code: the very top
    assert apply_op(bare, top.model_copy(update={"path": "shop.js"})) == b"const TOP = 1;\n\n\n" + bare


def test_insert_at_the_top_of_a_python_file_that_does_not_parse_still_goes_below_its_docstring_and_imports() -> None:
    broken = b'"""Doc."""\nimport os\n\ndef f(:\n    pass\n'
    after = apply_op(broken, _op(kind="insert", position="module_top", code="X = 1\n"))
    assert after == b'"""Doc."""\nimport os\n\nX = 1\n\n\ndef f(:\n    pass\n'


def test_insert_after_a_redefinition_named_by_its_line() -> None:
    code = "def whisper(text):\n    return text\n"
    after = apply_op(REDEFINED, _op(kind="insert", after="shout", line=10, code=code))
    assert after == REDEFINED + b"\n    def whisper(text):\n        return text\n"


def test_a_whole_class_with_a_new_base_replaces_the_class() -> None:
    code = WHOLE_CART.replace("class Cart:", "class Cart(Base):")
    assert apply_op(CART, _op(kind="replace", target="Cart.total", code=code)) == code.encode()


TOTAL = b"def total(items):\n    s = 0\n    for i in items:\n        s += i\n    return s\n"


def test_code_that_does_not_parse_gets_the_syntax_message_not_the_elision_one() -> None:
    """The model is told what is wrong first: a syntax error, even where the code also has an ellipsis."""
    broken = EditOp(kind="replace", path="shop.py", target="total", code="def total(items):\n    ...\n    return s +\n")
    with pytest.raises(GateError, match="syntax check failed in shop.py"):
        apply_ops([broken], lambda p: TOTAL)
    elided = broken.model_copy(update={"code": "def total(items):\n    # ... rest unchanged ...\n    return s\n"})
    with pytest.raises(ElisionError, match="nothing may be left out"):
        apply_ops([elided], lambda p: TOTAL)


BLOCKS = b'"""Doc."""\n\nimport os\nimport sys\n\n\nX = 1\n\n\ndef f():\n    return X\n'


@pytest.mark.parametrize(
    ("code", "block"),
    [
        ("import os\n", b"import os\n\n\n"),  # the block's blank lines after it stay
        ("import os", b"import os\n\n\n"),  # no newline at the end of the answer: one is added before what follows
        ("", b""),  # an empty block: the block goes, with its blank lines
        ("if TYPE_CHECKING:\n    ...\n", b"if TYPE_CHECKING:\n    ...\n\n\n"),  # a bare ... in a block is code
    ],
)
def test_a_block_keeps_the_files_blank_lines_around_it(code: str, block: bytes) -> None:
    after = apply_op(BLOCKS, _op(kind="replace_block", line=3, code=code))
    assert after == b'"""Doc."""\n\n' + block + b"X = 1\n\n\ndef f():\n    return X\n"


# --- bytes an encoding cannot read, names a model writes, line hints ---------------------------------------


def test_a_file_whose_bytes_its_declared_encoding_cannot_read_keeps_them() -> None:
    """0x81 means nothing in cp1252: the edit goes through and that byte, elsewhere, is kept as it was."""
    content = b"# -*- coding: cp1252 -*-\n# caf\xe9 \x81\n\n\ndef f():\n    return 1\n"
    after = _apply(content, "### REPLACE shop.py::f\n```python\ndef f():\n    return 'caf\u00e9'\n```")
    assert after == content.replace(b"return 1", b"return 'caf\xe9'")


def test_latin1_text_that_happens_to_be_utf8_is_not_rewritten() -> None:
    """Latin-1 bytes C3 A9 read "Ã©", and are valid UTF-8 too: the file keeps them, byte for byte."""
    content = b"# -*- coding: latin-1 -*-\nMOJIBAKE = 'caf\xc3\xa9'\n\n\ndef f():\n    return 1\n"
    after = _apply(content, "### REPLACE shop.py::f\n```python\ndef f():\n    return 2\n```")
    assert after == content.replace(b"return 1", b"return 2")


@pytest.mark.parametrize("target", ["Box.f", "Box", "Box.f with the whole class"])
def test_a_definition_holding_bytes_that_are_not_utf8_can_be_replaced(target: str) -> None:
    """An undeclared file with a Latin-1 byte inside the very definition (or class) being replaced: by the
    method, by the class, and by the method's name with the whole class as the answer."""
    content = b"class Box:\n    def f(self):\n        return 'caf\xe9'\n\n    def g(self):\n        return 2\n"
    whole = "class Box:\n    def f(self):\n        return 'cafe'\n\n    def g(self):\n        return 2\n"
    code = "def f(self):\n    return 'cafe'\n" if target == "Box.f" else whole
    answer = f"### REPLACE shop.py::{target.split()[0]}\n```python\n{code}```"
    assert _apply(content, answer) == content.replace(b"'caf\xe9'", b"'cafe'")


def test_a_method_named_without_its_class_is_found_and_local_functions_do_not_count() -> None:
    content = (
        b"def outer():\n    def total():\n        return 0\n\n    return total\n\n\n"
        b"class Cart:\n    def total(self):\n        return 1\n"
    )
    after = _apply(content, "### REPLACE shop.py::total\n```python\ndef total(self):\n    return 2\n```")
    assert after == content.replace(b"return 1", b"return 2")


def test_a_line_hint_on_the_last_line_of_a_long_redefinition_picks_that_one() -> None:
    first = b"def f():\n" + b"".join(b"    x%d = %d\n" % (i, i) for i in range(8)) + b"    return 1\n"
    content = first + b"\n\ndef f():\n    return 2\n"
    last_line = first.count(b"\n")  # nearer the second one's header than the first's
    op = EditOp(kind="replace", path="shop.py", target="f", line=last_line, code="def f():\n    return 3\n")
    assert apply_op(content, op) == b"def f():\n    return 3\n\n\ndef f():\n    return 2\n"


# --- the gates judge the edit, not the file ---------------------------------------------------------------


JS_WITH_AN_OLD_ERROR = b"function a() {\n  foo();\n  bar();\n}\nlet x = ;\nfunction b() {\n  return 1;\n}\n"


def test_deleting_a_line_just_above_an_old_syntax_error_is_accepted() -> None:
    from editing.gates import check_syntax

    check_syntax("a.js", JS_WITH_AN_OLD_ERROR.replace(b"  bar();\n", b""), JS_WITH_AN_OLD_ERROR)


def test_editing_the_line_just_below_an_old_syntax_error_is_accepted() -> None:
    from editing.gates import check_syntax

    check_syntax("a.js", JS_WITH_AN_OLD_ERROR.replace(b"function b()", b"function c()"), JS_WITH_AN_OLD_ERROR)


def test_another_use_of_a_name_that_was_already_undefined_is_refused() -> None:
    """pyflakes says "undefined name 'helper'" for each use: one more use is one more problem."""
    from editing.gates import check_lint

    before = b"def f():\n    return helper()\n"
    with pytest.raises(GateError, match="undefined name 'helper'"):
        check_lint("shop.py", before, before + b"\n\ndef g():\n    return helper()\n")
    check_lint("shop.py", before, before + b"\n\ndef g():\n    return 2\n")


# --- inserts at a module's top and a class's end, deletes at a scope's start --------------------------------


def _insert_top(content: bytes, path: str, code: str) -> bytes:
    return apply_op(content, EditOp(kind="insert", path=path, position="module_top", code=code))


def test_an_insert_at_the_top_of_a_js_module_goes_below_its_licence_and_imports_and_above_its_code() -> None:
    js = b"// Licence: MIT\n\nimport x from 'y';\nconst A = 1;\n\nfunction f() {\n  return A;\n}\n"
    after = _insert_top(js, "a.js", "function g() {\n  return 2;\n}\n")
    assert after == js.replace(b"const A", b"\nfunction g() {\n  return 2;\n}\n\n\nconst A")


def test_an_insert_at_the_top_of_a_python_module_goes_below_a_multiline_import_and_above_its_constants() -> None:
    py = b"from shop import (\n    cart,\n    pricing,\n)\n\n__version__ = '1.0'\n\n\ndef f():\n    return 1\n"
    after = _insert_top(py, "a.py", "def g():\n    return 2\n")
    assert after == py.replace(b"__version__", b"def g():\n    return 2\n\n\n__version__")


def test_an_insert_at_the_top_of_a_module_of_imports_alone() -> None:
    only = b'"""Doc."""\n\nimport os\n\n'
    assert _insert_top(only, "a.py", "def g():\n    return 2\n") == only + b"def g():\n    return 2\n\n\n"


def test_an_insert_into_a_nested_empty_class_indents_below_it() -> None:
    nested = b"class Outer:\n    class Inner:\n        pass\n"
    op = EditOp(
        kind="insert", path="a.py", target="Outer.Inner", position="class_end", code="def go(self):\n    return 1\n"
    )
    assert apply_op(nested, op) == nested + b"\n        def go(self):\n            return 1\n"


def test_an_insert_naming_only_a_class_goes_to_its_end_even_without_a_final_newline() -> None:
    cls = b"class A:\n    def f(self):\n        return 1"
    op = EditOp(kind="insert", path="a.py", target="A", code="def g(self):\n    return 2\n")
    assert apply_op(cls, op) == cls + b"\n\n    def g(self):\n        return 2\n"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"def a():\n    return 1\ndef b():\n    return 2\n", b"def b():\n    return 2\n"),  # no blank line between
        (b"def a():\n    return 1\n\ndef b():\n    return 2\n", b"def b():\n    return 2\n"),  # one blank line
        (b"def a():\n    return 1\n\n  ", b""),  # spaces after the last newline
    ],
)
def test_deleting_the_first_definition_takes_the_blank_lines_after_it(content: bytes, expected: bytes) -> None:
    assert apply_op(content, EditOp(kind="delete", path="a.py", target="a")) == expected


@pytest.mark.parametrize(
    ("js", "expected"),
    [
        (b"// Licence: MIT\n\nfunction f() {}\n", b"// Licence: MIT\n\nvar g = 1;\n\n\nfunction f() {}\n"),
        (b"\n\nfunction f() {}\n", b"\n\nvar g = 1;\n\n\nfunction f() {}\n"),
    ],
)
def test_an_insert_at_the_top_of_a_js_module_goes_below_its_leading_comments_and_blank_lines(
    js: bytes, expected: bytes
) -> None:
    assert _insert_top(js, "a.js", "var g = 1;\n") == expected


# --- whole classes with a base, a method the answer dropped; the last line of a file; coding lines ---------

BOX = b"class Box(Base):\n    def f(self):\n        return 1\n\n    def g(self):\n        return 2\n"


def test_a_whole_class_with_its_base_for_one_method_replaces_the_method_alone() -> None:
    whole = "class Box(Base):\n    def f(self):\n        return 3\n\n    def g(self):\n        return 2\n"
    assert _apply(BOX, f"### REPLACE shop.py::Box.f\n```python\n{whole}```") == BOX.replace(b"return 1", b"return 3")


def test_a_whole_class_that_drops_the_method_named_replaces_the_class() -> None:
    whole = "class Box(Base):\n    def g(self):\n        return 2\n"
    assert _apply(BOX, f"### REPLACE shop.py::Box.f\n```python\n{whole}```") == whole.encode()


def test_the_last_definition_of_a_file_without_a_final_newline_keeps_its_last_character() -> None:
    content = b"X = 1\n\n\ndef f():\n    return 1"
    op = EditOp(kind="replace", path="a.py", target="f", code="def f():\n    return X\n")
    assert apply_op(content, op) == b"X = 1\n\n\ndef f():\n    return X"


def test_a_coding_comment_below_the_second_line_declares_nothing() -> None:
    """PEP 263 reads the first two lines only: this file is UTF-8, and so is what the edit writes."""
    content = "# a\n# b\n# -*- coding: latin-1 -*-\nS = 'é'\n\n\ndef f():\n    return 1\n".encode()
    op = EditOp(kind="replace", path="a.py", target="f", code="def f():\n    return 'é'\n")
    assert apply_op(content, op) == content.replace(b"return 1", "return 'é'".encode())


def test_an_answer_that_adds_a_decorator_to_an_undecorated_method() -> None:
    content = b"class A:\n    def f(self):\n        return 1\n"
    op = EditOp(kind="replace", path="a.py", target="A.f", code="@staticmethod\ndef f():\n    return 1\n")
    assert apply_op(content, op) == b"class A:\n    @staticmethod\n    def f():\n        return 1\n"


def test_decorators_inside_the_answer_do_not_drop_the_decorator_above_the_class() -> None:
    content = b"import dataclasses\n\n\n@dataclasses.dataclass\nclass A:\n    x: int = 0\n"
    code = "class A:\n    x: int = 0\n\n    @property\n    def y(self):\n        return self.x\n"
    after = apply_op(content, EditOp(kind="replace", path="a.py", target="A", code=code))
    assert after == b"import dataclasses\n\n\n@dataclasses.dataclass\n" + code.encode()


def test_a_block_holding_bytes_that_are_not_utf8_can_be_replaced() -> None:
    content = b"NAMES = ['caf\xe9']\nSIZE = 1\n\n\ndef f():\n    return 1\n"
    after = _apply(content, "### BLOCK shop.py:2\n```python\nNAMES = ['cafe']\nSIZE = 2\n```")
    assert after == b"NAMES = ['cafe']\nSIZE = 2\n\n\ndef f():\n    return 1\n"


def test_a_whole_class_that_adds_a_decorator_to_the_method_named_keeps_the_decorator() -> None:
    whole = (
        "class Box(Base):\n    @staticmethod\n    def f():\n        return 1\n\n    def g(self):\n        return 2\n"
    )
    assert _apply(BOX, f"### REPLACE shop.py::Box.f\n```python\n{whole}```") == whole.encode()


def test_an_elided_javascript_function_is_sent_back() -> None:
    js = b"function f() {\n  const a = 1;\n  const b = 2;\n  return a + b;\n}\n"
    code = "function f() {\n  // ... existing code ...\n  return a * b;\n}\n"
    with pytest.raises(ElisionError, match="existing code"):
        apply_op(js, EditOp(kind="replace", path="a.js", target="f", code=code))


def test_pass_in_a_module_level_block_is_code_not_an_elision() -> None:
    module = (
        b'"""Doc."""\n\ntry:\n    import yaml\nexcept ImportError:\n    yaml = None\n\n\ndef f():\n    return yaml\n'
    )
    answer = "### BLOCK shop.py:3\n```python\ntry:\n    import yaml\nexcept ImportError:\n    pass\n```"
    assert _apply(module, answer) == module.replace(b"    yaml = None\n", b"    pass\n")


CONSTANTS = b"import os\n\n\nX = 1\nY = 2\n\n\ndef f():\n    return X\n"


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("X = 3\nY = 4\n", CONSTANTS.replace(b"X = 1\nY = 2", b"X = 3\nY = 4")),  # the block's blank lines stay
        ("\nX = 3\nY = 4\n\n\n\n", b"import os\n\n\n\nX = 3\nY = 4\n\n\n\ndef f():\n    return X\n"),  # its own
    ],
)
def test_a_block_keeps_the_blank_lines_around_it_unless_the_answer_brings_its_own(code: str, expected: bytes) -> None:
    assert _apply(CONSTANTS, f"### BLOCK shop.py:4\n```python\n{code}```") == expected
