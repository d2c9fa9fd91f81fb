"""Bounded reading of what a test run prints or writes: nothing a test produces grows in memory.

``Capture`` takes output in chunks and keeps the head and the tail (the middle
is dropped with a marker saying how much went), plus, apart, the lines that
report a test's outcome (``outcomes.OUTCOME_LINE``), so a runner that prints
them in the middle of a flood is still judged on every test.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable
from pathlib import Path

from repoagent.sandbox.limits import Limits, output_reason
from repoagent.sandbox.outcomes import OUTCOME_HINT, OUTCOME_LINE, nothing_ran, parse_lines
from repoagent.testrun import TRIM, TestRun, trim

HEAD_TAIL = 1_000_000  # bytes kept at each end of a stream
KEPT_LINES = 4_000_000  # bytes of outcome lines kept
LONGEST_LINE = 4096  # a longer line is never an outcome line: it is not scanned
CHUNK = 1 << 16


class Capture:
    """A stream's head and tail within ``2 * keep`` bytes, and its outcome lines within ``lines_limit`` bytes."""

    def __init__(
        self, keep: int = HEAD_TAIL, scan: re.Pattern[bytes] | None = OUTCOME_LINE, lines_limit: int = KEPT_LINES
    ) -> None:
        self.keep = keep
        self.scan = scan
        self.lines_limit = lines_limit
        self.total = 0
        self._head = bytearray()
        self._tail: deque[bytes] = deque()
        self._tail_size = 0
        self._partial = bytearray()
        self._lines: list[bytes] = []
        self._lines_size = 0

    def feed(self, data: bytes) -> None:
        if not data:
            return
        self.total += len(data)
        if self.scan is not None:
            self._scan(data)
        room = self.keep - len(self._head)
        if room > 0:
            self._head += data[:room]
            data = data[room:]
        if data:
            self._tail.append(data)
            self._tail_size += len(data)
            while self._tail_size - len(self._tail[0]) >= self.keep:
                self._tail_size -= len(self._tail.popleft())

    def _scan(self, data: bytes) -> None:
        """Outcome lines, found in C over whole chunks; a line cut by a chunk's end is joined with the next.

        A line longer than ``LONGEST_LINE`` is never an outcome line: its start is dropped and a NUL put in
        its place, so its end cannot pass for a line of its own.
        """
        assert self.scan is not None
        buf = bytes(self._partial) + data
        end = buf.rfind(b"\n")
        if end < 0:
            self._partial = bytearray(buf if len(buf) <= LONGEST_LINE else b"\0")
            return
        rest = buf[end + 1 :]
        self._partial = bytearray(rest if len(rest) <= LONGEST_LINE else b"\0")
        if self.scan is OUTCOME_LINE and not OUTCOME_HINT.search(buf):
            return
        for m in self.scan.finditer(buf, 0, end):
            line = m.group(0)
            if len(line) > LONGEST_LINE or self._lines_size >= self.lines_limit:
                continue
            self._lines.append(line)
            self._lines_size += len(line)

    def _tail_bytes(self) -> bytes:
        return b"".join(self._tail)[-self.keep :] if self._tail else b""

    @property
    def cut(self) -> int:
        """Bytes dropped from the middle."""
        return self.total - len(self._head) - len(self._tail_bytes())

    def text(self) -> str:
        tail = self._tail_bytes()
        marker = f"\n... [{self.cut} bytes of output cut] ...\n".encode() if self.cut else b""
        return (bytes(self._head) + marker + tail).decode("utf-8", errors="replace")

    def lines(self) -> list[str]:
        """The outcome lines seen anywhere in the stream (the last line too, if it had no newline)."""
        found = list(self._lines)
        if self.scan is not None and self._partial and self.scan.fullmatch(bytes(self._partial)):
            found.append(bytes(self._partial))
        return [line.decode("utf-8", errors="replace").rstrip("\r") for line in found]


def capture_file(path: Path, keep: int = HEAD_TAIL, scan: re.Pattern[bytes] | None = OUTCOME_LINE) -> Capture:
    """A file read in chunks into a ``Capture`` (never whole into memory); empty when it is missing."""
    cap = Capture(keep, scan)
    try:
        with path.open("rb") as f:
            while chunk := f.read(CHUNK):
                cap.feed(chunk)
    except FileNotFoundError:
        pass
    return cap


def capture_chunks(chunks: Iterable[bytes], keep: int = HEAD_TAIL) -> Capture:
    cap = Capture(keep)
    for chunk in chunks:
        cap.feed(chunk)
    return cap


def settle(
    run: TestRun, out: Capture, err: Capture, limits: Limits, keep: int | None = TRIM, read_lines: bool = True
) -> None:
    """What both sandboxes record of a finished run's output: its size (past ``limits.output_mb``, printed
    faster than it was measured, an ``output`` limit), the text kept (``keep`` characters of each stream;
    None: all that was captured), the outcomes from its lines when no JUnit report gave any (``read_lines``),
    and how the runner said it ran nothing."""
    run.output_bytes = out.total + err.total
    if run.output_bytes > limits.output_bytes:
        run.hit("output", output_reason(limits))
    run.stdout = trim(out.text(), keep) if keep else out.text()
    run.stderr = trim(err.text(), keep) if keep else err.text()
    if not run.tests and read_lines:
        run.tests = parse_lines(out.lines() + err.lines())
    run.no_tests = "" if run.tests else nothing_ran(run.stdout + "\n" + run.stderr)
