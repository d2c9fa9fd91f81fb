"""Parsing spread over worker processes, for a cold index of many files.

A worker is a plain ``python -m retrieval.parse_workers``: it imports the parser and nothing else (a
``multiprocessing`` worker imported the command line's whole program first, its main module, about half a
second of a cold django index), and it is started before the files are read, so its start overlaps the
reading.  Each worker is given one chunk of files at a time through its standard input and answers with
their parses on its standard output (pickled, length first); a thread per worker feeds it, so the quicker
worker takes more chunks.  A worker that dies leaves its chunks to be parsed here; an error in the parser
is raised here with the worker's traceback.  A worker ends when its input closes: with the index build,
or with the process that started it.
"""

from __future__ import annotations

import os
import pickle
import queue
import signal
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable
from typing import IO, Any

from retrieval.parser import parse_source
from retrieval.symbols import ParsedFile

Item = tuple[bytes, str]  # a file's content and language
Progress = Callable[[str, int, int], None]
CHUNK = 32  # files a request: a few tens of milliseconds of parsing
_LENGTH = 8


class ParseWorkerError(RuntimeError):
    """The parser raised in a worker; the message carries the worker's traceback."""


def _send(stream: IO[bytes], value: Any) -> None:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(len(data).to_bytes(_LENGTH, "little") + data)
    stream.flush()


def _receive(stream: IO[bytes]) -> Any:
    head = stream.read(_LENGTH)
    if len(head) < _LENGTH:
        raise EOFError("the stream ended")
    size = int.from_bytes(head, "little")
    data = stream.read(size)
    if len(data) < size:
        raise EOFError("the stream ended inside a message")
    return pickle.loads(data)


class ParseWorkers:
    """``count`` worker processes, started now; ``parse`` them items, then ``close`` (or use ``with``)."""

    def __init__(self, count: int) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)  # the modules this process imports
        self._procs: list[subprocess.Popen[bytes]] = []
        try:
            for _ in range(count):
                self._procs.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "retrieval.parse_workers"],
                        stdin=subprocess.PIPE,
                        stdout=subprocess.PIPE,
                        env=env,
                    )
                )
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> ParseWorkers:
        return self

    def __exit__(self, kind: object, *exc: object) -> None:
        self.close(kill=kind is not None)

    def parse(
        self, items: list[Item], progress: Progress | None = None, meanwhile: Callable[[], None] | None = None
    ) -> list[ParsedFile]:
        """Parses of ``items``, in their order; ``meanwhile`` runs here while the workers parse (the progress
        it delays is reported after it)."""
        out: list[ParsedFile | None] = [None] * len(items)
        todo = deque(range(0, len(items), CHUNK))
        done: queue.Queue[tuple[str, int, Any]] = queue.Queue()
        lock = threading.Lock()

        def feed(proc: subprocess.Popen[bytes]) -> None:
            assert proc.stdin is not None and proc.stdout is not None
            while True:
                with lock:
                    if not todo:
                        break
                    start = todo.popleft()
                try:
                    _send(proc.stdin, items[start : start + CHUNK])
                    kind, answer = _receive(proc.stdout)
                except (OSError, EOFError, pickle.UnpicklingError):
                    done.put(("lost", start, None))  # the worker died: this chunk is parsed here
                    break
                done.put((kind, start, answer))
            done.put(("end", 0, None))

        threads = [threading.Thread(target=feed, args=(p,), daemon=True) for p in self._procs]
        for t in threads:
            t.start()
        if meanwhile is not None:
            meanwhile()
        lost: list[int] = []
        error: str | None = None
        ended = parsed = 0
        while ended < len(threads):
            kind, start, answer = done.get()
            if kind == "end":
                ended += 1
            elif kind == "lost":
                lost.append(start)
            elif kind == "error":
                error = error or answer
                with lock:
                    todo.clear()  # no more requests: the parse failed
            else:
                out[start : start + len(answer)] = answer
                parsed += len(answer)
                if progress:
                    progress("parse", parsed, len(items))
        if error is not None:
            raise ParseWorkerError(f"the parser failed in a worker process:\n{error}")
        for start in sorted(lost) + list(todo):  # left by workers that died (all of them, if none started)
            out[start : start + CHUNK] = [parse_source(*item) for item in items[start : start + CHUNK]]
            parsed += len(items[start : start + CHUNK])
            if progress:
                progress("parse", parsed, len(items))
        assert all(p is not None for p in out)
        return out  # type: ignore[return-value]

    def close(self, kill: bool = False) -> None:
        """End the workers: their input closed, then killed if they have not exited within a second (at once
        with ``kill``: the parse was given up)."""
        for proc in self._procs:
            try:
                if proc.stdin is not None:
                    proc.stdin.close()
            except OSError:
                pass
        for proc in self._procs:
            try:
                if kill:
                    proc.kill()
                proc.wait(timeout=1)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        self._procs = []


def main() -> None:
    """A worker: parse each request read from standard input, answer on standard output, until input ends."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group: the parent decides
    channel_in, channel_out = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print must not corrupt the answers
    while True:
        try:
            request = _receive(channel_in)
        except EOFError:
            return
        try:
            answer: tuple[str, Any] = ("ok", [parse_source(data, language) for data, language in request])
        except Exception:
            import traceback

            answer = ("error", traceback.format_exc())
        try:
            _send(channel_out, answer)
        except BrokenPipeError:
            return


if __name__ == "__main__":
    main()
