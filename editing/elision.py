"""Elided code: new code that drops lines of the original and leaves a marker where they stood.

Models shorten what they do not change: ``# ... existing code ...``,
``# rest unchanged``, ``// ...``, or a bare ``...`` or ``pass`` where the body
was.  Applied as written, that deletes the user's code.  Such an answer is sent
back asking for the whole definition.  A definition whose original really is
``...`` or ``pass`` (a stub, a Protocol) stays editable: only markers the
original did not have count, and so does the body of a clause (``except
KeyError: pass``).
"""

from __future__ import annotations

import re

_COMMENT_MARKER = re.compile(
    r"^\s*(?:#|//|/\*|\*)\s*(?:\.{3}|…)"  # "# ...", "// ...", "/* ... */"
    r"|^\s*(?:#|//|/\*|\*).*\b(?:existing code|unchanged|rest of (?:the )?(?:code|function|method|class|file|body)"
    r"|remains? (?:the )?same|same as before|omitted|as before|other methods)\b",
    re.I,
)
_BARE = re.compile(r"^\s*(?:\.\.\.|…|pass)\s*$")
# A bare ``pass`` or ``...`` as the body of a control-flow clause is code (``except KeyError: pass``), not a marker.
_CLAUSE = re.compile(r"^\s*(?:if|elif|else|try|except|finally|for|while|with|async\s+(?:for|with))\b.*:\s*(?:#.*)?$")


def _markers(text: str, bare: bool) -> list[str]:
    found, previous = [], ""
    for ln in text.splitlines():
        if _COMMENT_MARKER.search(ln) or (bare and _BARE.match(ln) and not _CLAUSE.match(previous)):
            found.append(ln.strip())
        if ln.strip():
            previous = ln
    return found


def elision(original: str, new: str, bare: bool = True) -> str | None:
    """The message for the model when ``new`` elides code of ``original``; None when it does not.

    ``bare=False`` counts only comment markers (module-level blocks, where ``pass`` can be real code).
    """
    old_markers, new_markers = _markers(original, bare), _markers(new, bare)
    added = [m for m in new_markers if old_markers.count(m) < new_markers.count(m)]
    if not added:
        return None
    kept = {ln.strip() for ln in new.splitlines()}
    dropped = [ln for ln in original.splitlines() if ln.strip() and ln.strip() not in kept]
    if not dropped:
        return None
    return (
        f"the new code stands '{added[0]}' where {len(dropped)} line(s) of the original were; nothing may be left "
        "out: write the whole definition, every line, with your change in it"
    )
