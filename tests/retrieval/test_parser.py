from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retrieval.parser import parse_source
from retrieval.symbols import ParsedFile

FIXTURES = Path(__file__).parents[1] / "support" / "fixtures"


def assert_tiles(parsed: ParsedFile, content: bytes) -> None:
    """Top-level definitions and module blocks cover the file exactly, in order."""
    pos = 0
    for sym in parsed.toplevel:
        assert sym.start_byte == pos, (sym.qualname, sym.start_byte, pos)
        assert sym.end_byte > sym.start_byte
        pos = sym.end_byte
    assert pos == len(content)
    assert b"".join(s.source(content) for s in parsed.toplevel) == content


def test_python_symbols_qualnames_and_ranges() -> None:
    content = (FIXTURES / "sample.py").read_bytes()
    parsed = parse_source(content, "python")
    assert not parsed.has_errors
    names = {s.qualname: s for s in parsed.symbols}
    assert {"helper", "Point", "Point.norm", "Point.moved", "Point.moved.<locals>.clamp", "Point.Meta"} <= set(names)
    assert names["Point.norm"].kind == "method"
    assert names["Point.moved.<locals>.clamp"].kind == "function"
    assert names["Point.Meta"].kind == "class"
    # Comments directly above and decorators belong to the definition.
    assert names["helper"].source(content).startswith(b"# A helper the class uses.\ndef helper")
    assert names["Point"].source(content).startswith(b"@dataclass\nclass Point:")
    norm = names["Point.norm"].source(content)
    assert norm.startswith(b"    # Distance from the origin.\n    @property\n    def norm")
    assert names["Point.norm"].decorators == ("@property",)
    assert names["helper"].signature == "def helper(x: int) -> int"
    assert names["helper"].docstring == "Double x."
    assert names["Point"].docstring == "A point in the plane."
    assert parsed.docstring == "A sample module for parser and map tests."
    assert names["helper"].header_line == 11 and names["helper"].start_line == 10
    blocks = [s.block_kind for s in parsed.toplevel if s.kind == "block"]
    assert blocks[:3] == ["docstring", "imports", "assignments"]
    assert "main" in blocks
    assert_tiles(parsed, content)


@pytest.mark.parametrize(
    ("name", "language", "expected"),
    [
        ("sample.js", "javascript", {"Config", "Config.constructor", "Config.load", "double", "main"}),
        ("sample.ts", "typescript", {"Shape", "Square", "Square.constructor", "Square.area", "total"}),
        ("Sample.java", "java", {"Counter", "Counter.Counter", "Counter.toString", "Counter.Listener"}),
        ("sample.go", "go", {"Stack", "Stack.Push", "Describe"}),
    ],
)
def test_other_languages(name: str, language: str, expected: set[str]) -> None:
    content = (FIXTURES / name).read_bytes()
    parsed = parse_source(content, language)
    assert expected <= {s.qualname for s in parsed.definitions}
    for sym in parsed.definitions:
        assert sym.signature, sym.qualname
    assert_tiles(parsed, content)


def test_javascript_export_and_doc_comment_in_range() -> None:
    content = (FIXTURES / "sample.js").read_bytes()
    config = parse_source(content, "javascript").find("Config")[0]
    assert config.source(content).startswith(b"/** Reads a config file. */\nexport class Config")
    assert config.docstring == "Reads a config file."


def test_go_method_belongs_to_receiver() -> None:
    parsed = parse_source((FIXTURES / "sample.go").read_bytes(), "go")
    push = parsed.find("Stack.Push")[0]
    assert push.kind == "method" and push.parent == "Stack"


def test_syntax_errors_keep_what_parses() -> None:
    content = b"def good():\n    return 1\n\ndef bad(:\n    pass\n\nclass Fine:\n    x = 1\n"
    parsed = parse_source(content, "python")
    assert parsed.has_errors
    assert {"good", "Fine"} <= {s.qualname for s in parsed.definitions}
    assert_tiles(parsed, content)


def test_non_utf8_and_crlf_bytes() -> None:
    content = b"# caf\xe9\r\n\r\ndef f():\r\n    return '\xff'\r\n"
    parsed = parse_source(content, "python")
    f = parsed.find("f")[0]
    assert f.source(content) == b"def f():\r\n    return '\xff'\r\n"
    assert_tiles(parsed, content)


def test_cache_round_trip_of_parsed_file() -> None:
    content = (FIXTURES / "sample.py").read_bytes()
    parsed = parse_source(content, "python")
    for compact in (True, False):
        again = ParsedFile.from_dict(json.loads(json.dumps(parsed.to_dict(compact=compact))))
        assert again == parsed


def _real_files() -> list[Path]:
    import email.message
    import json as json_mod
    import logging

    mods = [inspect, email.message, json_mod.decoder, logging, pytest]
    return [Path(inspect.getfile(m)) for m in mods]


@pytest.mark.parametrize("path", _real_files(), ids=lambda p: p.name)
def test_real_files_tile_and_slice(path: Path) -> None:
    content = path.read_bytes()
    parsed = parse_source(content, "python")
    assert_tiles(parsed, content)
    for sym in parsed.definitions:
        src = sym.source(content)
        assert content[sym.header_byte :].startswith(src[sym.header_byte - sym.start_byte :])
        assert src.lstrip().startswith((b"def", b"class", b"async", b"@", b"#"))


_SNIPPETS = [
    "import os\n",
    "from a import (b,\n    c)\n",
    "X = 1\n",
    "# lone comment\n",
    "\n",
    "def f(a, b=2):\n    return a\n",
    "@decorator(1)\ndef g():\n    pass\n",
    "# about h\nasync def h():\n    await x\n",
    "class K(Base):\n    '''Doc.'''\n    def m(self):\n        def inner():\n            pass\n        return inner\n",
    "if __name__ == '__main__':\n    main()\n",
    "try:\n    import y\nexcept ImportError:\n    y = None\n",
    "def broken(:\n    pass\n",
    "x = [\n  1,\n]  # trailing\n",
]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(_SNIPPETS), max_size=12), st.booleans())
def test_generated_modules_tile(parts: list[str], crlf: bool) -> None:
    text = "".join(parts)
    if crlf:
        text = text.replace("\n", "\r\n")
    content = text.encode()
    parsed = parse_source(content, "python")
    assert_tiles(parsed, content)
    for sym in parsed.symbols:
        assert 0 <= sym.start_byte <= sym.header_byte < max(sym.end_byte, 1) or sym.kind == "block"
