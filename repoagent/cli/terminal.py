"""Text from tests, models and repositories, made safe for a terminal.

Test output is written by code we do not trust: an escape sequence in it can
set the window title, clear the screen, answer a status query into the
input, write the clipboard (OSC 52) or switch to the alternate screen.
Every control character but newline and tab is shown as ``\\xNN`` instead,
so a sequence loses its ESC and does nothing.
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` with every control character but newline and tab written out as ``\\xNN`` (CRLF is a newline)."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text.replace("\r\n", "\n"))
