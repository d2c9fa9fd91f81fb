"""Parsing spread over worker processes, for a cold index of many files.

A worker is a plain ``python -m retrieval.parse_workers``: it imports the parser and nothing else (a
``multiprocessing`` worker imported the command line's whole program first, its main module, about half a
second of a cold django index), and it is started before the files are read, so its start overlaps the
reading.  Each worker is sent chunks of files through its standard input (pickled, length first), one
chunk ahead of the one it parses, so it never waits for this process (whose main thread counts terms
meanwhile: waiting for it left each worker idle a tenth of a second of a cold django index); it answers on
its standard output with the parses in the cache's form (``ParsedFile.to_json``), which this process
decodes and keeps as they are (encoding them here took 0.08 s after the parse).  The quicker worker takes
more chunks.  A worker that dies leaves its chunks to the others, or to this process; an error in the
parser is raised here with the worker's traceback.  A worker ends when its input closes: with the index build,
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
import traceback
from collections import deque
from collections.abc import Callable
from typing import IO, Any

from retrieval.parser import parse_source
from retrieval.symbols import ParsedFile

Item = tuple[bytes, str]  # a file's content and language
Parse = tuple[ParsedFile, bytes]  # a file's parse and its form for the cache (``ParsedFile.to_json``)
Progress = Callable[[str, int, int], None]
CHUNK = 32  # files a request: a few tens of milliseconds of parsing
_LENGTH = 8


class ParseWorkerError(RuntimeError):
    """The parser raised in a worker; the message carries the worker's traceback."""


def parse_here(item: Item) -> Parse:
    """One file parsed in this process, with its form for the cache."""
    parsed = parse_source(*item)
    return parsed, parsed.to_json()


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


class _Link:
    """One worker's two threads: ``write`` sends it chunks, one ahead of the one it parses (it never waits for
    this process, whose thread may be busy counting), then an empty request that ends the exchange; ``read``
    takes its answers, in the order sent.  The chunks of a worker that dies are reported ``lost``."""

    AHEAD = 2  # chunks sent and not yet answered

    def __init__(
        self,
        proc: subprocess.Popen[bytes],
        items: list[Item],
        todo: deque[int],
        lock: threading.Lock,
        done: queue.Queue[tuple[str, int, Any]],
    ) -> None:
        assert proc.stdin is not None and proc.stdout is not None
        self.stdin, self.stdout = proc.stdin, proc.stdout
        self.items, self.todo, self.lock, self.done = items, todo, lock, done
        self.sent: deque[int | None] = deque()  # chunks (their first item) awaiting an answer; None: the end
        self.slots = threading.Semaphore(self.AHEAD)
        self.dead = False

    def write(self) -> None:
        while True:
            self.slots.acquire()
            with self.lock:
                if self.dead:
                    return
                start = self.todo.popleft() if self.todo else None
                self.sent.append(start)
            try:
                _send(self.stdin, [] if start is None else self.items[start : start + CHUNK])
            except OSError:  # the worker died: ``read`` sees it end; the chunk goes back to be parsed here
                with self.lock:
                    if start in self.sent:
                        self.sent.remove(start)
                        if start is not None:
                            self.todo.appendleft(start)
                return
            if start is None:
                return

    def read(self) -> None:
        while True:
            try:
                kind, answer = _receive(self.stdout)
            except (OSError, EOFError, pickle.UnpicklingError):
                with self.lock:
                    self.dead = True
                    lost = [start for start in self.sent if start is not None]
                    self.sent.clear()
                for start in lost:
                    self.done.put(("lost", start, None))  # parsed here
                break
            with self.lock:
                start = self.sent.popleft()
            self.slots.release()
            if start is None:
                break
            if kind == "ok":
                try:
                    answer = [(ParsedFile.from_json(data), data) for data in answer]
                except (ValueError, KeyError, TypeError):  # reported as the parser's error, never a hang
                    kind, answer = "error", traceback.format_exc()
            self.done.put((kind, start, answer))
        self.slots.release(self.AHEAD)  # a writer waiting for a slot sees the end
        self.done.put(("end", 0, None))


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
    ) -> list[Parse]:
        """Parses of ``items``, in their order, with their forms for the cache (which the workers make, so
        this process never encodes them); ``meanwhile`` runs here while the workers parse (the progress it
        delays is reported after it)."""
        out: list[Parse | None] = [None] * len(items)
        todo = deque(range(0, len(items), CHUNK))
        done: queue.Queue[tuple[str, int, Any]] = queue.Queue()
        lock = threading.Lock()
        links = [_Link(proc, items, todo, lock, done) for proc in self._procs]
        threads = [threading.Thread(target=f, daemon=True) for link in links for f in (link.write, link.read)]
        for t in threads:
            t.start()
        if meanwhile is not None:
            meanwhile()
        lost: list[int] = []
        error: str | None = None
        ended = parsed = 0
        while ended < len(links):
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
        for t in threads:
            t.join()  # a writer that could not send gave its chunk back to ``todo``
        if error is not None:
            raise ParseWorkerError(f"the parser failed in a worker process:\n{error}")
        for start in sorted(lost) + list(todo):  # left by workers that died (all of them, if none started)
            out[start : start + CHUNK] = [parse_here(item) for item in items[start : start + CHUNK]]
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
            answer: tuple[str, Any] = ("ok", [parse_source(data, language).to_json() for data, language in request])
        except Exception:
            answer = ("error", traceback.format_exc())
        try:
            _send(channel_out, answer)
        except BrokenPipeError:
            return


if __name__ == "__main__":
    main()
