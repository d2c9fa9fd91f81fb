"""Re-indent code to a target indentation, whatever indentation the model used."""

from __future__ import annotations


def newline_of(content: bytes) -> str:
    return "\r\n" if b"\r\n" in content[:4096] else "\n"


def _indent_of(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def _split(code: str) -> list[tuple[str, str]]:
    """Lines as (text, line ending) pairs; blank lines at both ends dropped."""
    pairs = []
    for raw in code.splitlines(keepends=True):
        text = raw.rstrip("\r\n")
        pairs.append((text, raw[len(text) :]))
    while pairs and not pairs[0][0].strip():
        pairs.pop(0)
    while pairs and not pairs[-1][0].strip():
        pairs.pop()
    return pairs


def trim_blank_edges(code: str) -> list[str]:
    return [text for text, _ in _split(code)]


def reindent(code: str, indent: str, newline: str = "\n") -> str:
    """Move ``code`` so its least-indented lines start with ``indent``; ends with a newline.

    Lines keep their own endings; a line without one (the last) gets ``newline``,
    and so does every line when the code has no CRLF but ``newline`` is CRLF.
    Code already at ``indent`` keeps its blank lines byte for byte; otherwise
    they are emptied.
    """
    pairs = _split(code)
    if not pairs:
        return ""
    if newline != "\n" and "\r\n" not in code:
        pairs = [(t, newline if e else e) for t, e in pairs]
    pairs[-1] = (pairs[-1][0], pairs[-1][1] or newline)
    real = [t for t, _ in pairs if t.strip()]
    common = _indent_of(real[0])
    for text in real[1:]:
        own = _indent_of(text)
        while not own.startswith(common):
            common = common[:-1]
    if common == indent:
        return "".join(t + (e or newline) for t, e in pairs)
    convert = indent.startswith("\t") and not common.startswith("\t")
    out = []
    for text, end in pairs:
        end = end or newline
        if not text.strip():
            out.append(end)
            continue
        rest = text[len(common) :]
        if convert:
            stripped = rest.lstrip(" ")
            n = len(rest) - len(stripped)
            rest = "\t" * (n // 4) + " " * (n % 4) + stripped
        out.append(indent + rest + end)
    return "".join(out)


def leading_indent(line: bytes) -> str:
    return line[: len(line) - len(line.lstrip(b" \t"))].decode()
