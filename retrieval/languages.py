"""Languages the parser knows: file extensions, grammar names and node types.

Grammars come from ``tree-sitter-language-pack`` 0.x, which ships them
compiled inside the wheel (the 1.x line downloads grammars at run time, which
an offline machine cannot do).  Definition queries are the ``.scm`` files in
``retrieval/queries``, one per language.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from tree_sitter import Language, Parser, Query

QUERY_DIR = Path(__file__).parent / "queries"


@dataclass(frozen=True)
class LanguageSpec:
    name: str
    extensions: tuple[str, ...]
    comment_types: frozenset[str]
    # Nodes that wrap a definition and belong to its range (decorators, export).
    wrapper_types: frozenset[str]
    string_types: frozenset[str]
    # Top-level statement node types by module-level block kind.
    block_kinds: dict[str, str] = field(default_factory=dict)
    test_markers: tuple[str, ...] = ()


_JS_BLOCKS = {
    "import_statement": "imports",
    "lexical_declaration": "assignments",
    "variable_declaration": "assignments",
}
_JS_WRAPPERS = frozenset({"export_statement", "lexical_declaration", "variable_declaration", "variable_declarator"})

LANGUAGES: dict[str, LanguageSpec] = {
    spec.name: spec
    for spec in (
        LanguageSpec(
            name="python",
            extensions=(".py", ".pyi"),
            comment_types=frozenset({"comment"}),
            wrapper_types=frozenset({"decorated_definition"}),
            string_types=frozenset({"string"}),
            block_kinds={
                "import_statement": "imports",
                "import_from_statement": "imports",
                "future_import_statement": "imports",
                "expression_statement": "assignments",
                "if_statement": "statements",
            },
        ),
        LanguageSpec(
            name="javascript",
            extensions=(".js", ".jsx", ".mjs", ".cjs"),
            comment_types=frozenset({"comment"}),
            wrapper_types=_JS_WRAPPERS,
            string_types=frozenset({"string", "template_string"}),
            block_kinds=_JS_BLOCKS,
        ),
        LanguageSpec(
            name="typescript",
            extensions=(".ts", ".mts", ".cts"),
            comment_types=frozenset({"comment"}),
            wrapper_types=_JS_WRAPPERS,
            string_types=frozenset({"string", "template_string"}),
            block_kinds=_JS_BLOCKS,
        ),
        LanguageSpec(
            name="tsx",
            extensions=(".tsx",),
            comment_types=frozenset({"comment"}),
            wrapper_types=_JS_WRAPPERS,
            string_types=frozenset({"string", "template_string"}),
            block_kinds=_JS_BLOCKS,
        ),
        LanguageSpec(
            name="java",
            extensions=(".java",),
            comment_types=frozenset({"line_comment", "block_comment"}),
            wrapper_types=frozenset(),
            string_types=frozenset({"string_literal"}),
            block_kinds={"package_declaration": "imports", "import_declaration": "imports"},
        ),
        LanguageSpec(
            name="go",
            extensions=(".go",),
            comment_types=frozenset({"comment"}),
            wrapper_types=frozenset({"type_declaration"}),
            string_types=frozenset({"interpreted_string_literal", "raw_string_literal"}),
            block_kinds={
                "package_clause": "imports",
                "import_declaration": "imports",
                "const_declaration": "assignments",
                "var_declaration": "assignments",
            },
        ),
    )
}

_BY_EXTENSION = {ext: spec.name for spec in LANGUAGES.values() for ext in spec.extensions}


def language_for_path(path: str) -> str | None:
    """The language name for a repository path, or None when no grammar fits (``PurePosixPath.suffix``'s rule,
    in string operations: a tenth of the time on django's 6,400 paths)."""
    name = path[path.rfind("/") + 1 :]
    dot = name.rfind(".")
    return _BY_EXTENSION.get(name[dot:].lower()) if 0 < dot < len(name) - 1 else None


@cache
def grammar(name: str) -> Language:
    from tree_sitter_language_pack import get_language

    return get_language(name)  # type: ignore[arg-type]


@cache
def source_query(name: str) -> Query:
    """The definitions (``@definition.<kind>``, ``@name``, ``@receiver``: ``queries/<name>.scm``) and the string
    literals (``@string``) of a file, found in one walk of its tree: a walk each took twice as long."""
    kinds = " ".join(f"({t})" for t in sorted(LANGUAGES[name].string_types))
    return Query(grammar(name), f"{(QUERY_DIR / f'{name}.scm').read_text()}\n[{kinds}] @string\n")


def new_parser(name: str) -> Parser:
    """A fresh parser (parsers are not shared between threads)."""
    return Parser(grammar(name))
