"""The persistent index cache: parsed files, embeddings and recent history in one SQLite file.

Keys are content ids with the parser version or the embedding model name: git
blob ids for parses, hashes of the embedded text for embeddings, so the same
bytes are parsed, and the same document embedded, once whatever the commit or
repository.  SQLite in WAL mode with a busy timeout lets two processes index
at once; a file that is not a readable database is moved aside and rebuilt.
The whole file is checked once a day, and at the next open after a query met
a damaged page (``CacheDamaged``), not at every open.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterable
from functools import cached_property, wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from retrieval.errors import RetrievalError
from retrieval.symbols import ParsedFile
from retrieval.termcounts import LexicalMemory

if TYPE_CHECKING:  # NumPy (a tenth of a second to import) only for what embeds or counts: not for `index`
    import numpy as np

    from retrieval.postings import PostingsStore

log = logging.getLogger(__name__)
_T = TypeVar("_T")

# ``parses`` holds each parse's summary beside it, so an index can count definitions without decoding them
# (its ``parsed`` table, without one, is left to the versions that wrote it).
_SCHEMA = """
CREATE TABLE IF NOT EXISTS parses (
    blob_id TEXT NOT NULL, parser TEXT NOT NULL, language TEXT NOT NULL,
    definitions INTEGER NOT NULL, has_errors INTEGER NOT NULL, data BLOB NOT NULL,
    PRIMARY KEY (blob_id, parser, language));
CREATE TABLE IF NOT EXISTS bodies (
    blob_id TEXT NOT NULL, version TEXT NOT NULL, data BLOB NOT NULL, PRIMARY KEY (blob_id, version));
CREATE TABLE IF NOT EXISTS history (
    revision TEXT NOT NULL, version TEXT NOT NULL, data BLOB NOT NULL, PRIMARY KEY (revision, version));
CREATE TABLE IF NOT EXISTS checks (name TEXT PRIMARY KEY, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS embeddings (
    blob_id TEXT NOT NULL, model TEXT NOT NULL, vectors BLOB NOT NULL, dim INTEGER NOT NULL,
    PRIMARY KEY (blob_id, model));
"""
# A file's definition bodies: token counts and number of tokens, by the body's byte range.
Bodies = dict[tuple[int, int], tuple[dict[str, int], int]]
_CHUNK = 500  # SQLite's variable limit is 999 on old builds
# A whole check of the file (``PRAGMA quick_check``) at most this often, or when a query met an unreadable
# page (``CacheDamaged``): it reads every page, 70 ms for a home of 120 MB and a second from a cold disk,
# which every call paid when it ran at each open.
CHECK_SECONDS = 86_400


class CacheDamaged(RetrievalError):
    """A page of the cache could not be read in use: the file is marked, and the next open checks it whole."""

    exit_code = 1  # the command ran and failed; the input was fine


def _guarded(method: Callable[..., _T]) -> Callable[..., _T]:
    """A method of ``IndexCache`` whose queries meet a damaged page: the file is marked for a whole check at
    the next open, and the error says so (not a locked or busy file: those are raised as they are)."""

    @wraps(method)
    def run(self: IndexCache, *args: Any, **kwargs: Any) -> _T:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError):
                raise
            with contextlib.suppress(OSError):
                _suspect(self.path).touch()
            raise CacheDamaged(
                f"{self.path} could not be read ({exc}); the next run checks it, and moves it aside if it is damaged"
            ) from exc

    return run


class KeptParse(NamedTuple):
    """A cached parse as kept: its summary, and its JSON (``ParsedFile.to_json``), decoded when asked for
    (django's 9 MB take a tenth of a second, which an index that only counts need not spend)."""

    definitions: int
    has_errors: bool
    data: bytes


class IndexCache:
    """Parsed files and embeddings keyed by content id; see the module docstring."""

    def __init__(self, path: Path, memory: LexicalMemory | None = None) -> None:
        """``memory``: the term counts kept in memory beside the file (its owner's, shared by the caches it
        opens); a new one when not given."""
        self.path = Path(path)
        self.memory = memory if memory is not None else LexicalMemory()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.conn = self._open()
        except sqlite3.DatabaseError as exc:
            aside = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}")
            log.warning("index cache %s is unreadable (%s); moved to %s and rebuilt", self.path, exc, aside)
            self.path.rename(aside)
            for suffix in ("-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
            self.conn = self._open()

    @cached_property
    def postings(self) -> PostingsStore:
        """The files' term counts, per corpus, in a folder beside the database."""
        from retrieval.postings import PostingsStore

        return PostingsStore(self.path.parent / "postings")

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA busy_timeout = 60000")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.executescript(_SCHEMA)
            if self._check_due(conn):
                if conn.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                    raise sqlite3.DatabaseError("quick_check failed")
                with conn:
                    conn.execute("BEGIN IMMEDIATE")
                    conn.execute("INSERT OR REPLACE INTO checks VALUES ('quick_check', ?)", (time.time(),))
                _suspect(self.path).unlink(missing_ok=True)
        except sqlite3.DatabaseError:
            conn.close()
            raise
        return conn

    def _check_due(self, conn: sqlite3.Connection) -> bool:
        if _suspect(self.path).exists():
            return True
        row = conn.execute("SELECT at FROM checks WHERE name = 'quick_check'").fetchone()
        return row is None or not 0 <= time.time() - row[0] < CHECK_SECONDS

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> IndexCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _select(self, sql: str, ids: list[str], *params: str) -> list[tuple]:
        rows: list[tuple] = []
        for i in range(0, len(ids), _CHUNK):
            part = ids[i : i + _CHUNK]
            marks = ",".join("?" * len(part))
            rows.extend(self.conn.execute(sql.format(marks=marks), (*params, *part)).fetchall())
        return rows

    @_guarded
    def get_parsed(self, keys: Iterable[tuple[str, str]], parser: str) -> dict[tuple[str, str], KeptParse]:
        """Cached parses of ``(blob_id, language)`` pairs, not decoded."""
        wanted = set(keys)
        ids = sorted({b for b, _ in wanted})
        sql = (
            "SELECT blob_id, language, definitions, has_errors, data FROM parses"
            " WHERE parser = ? AND blob_id IN ({marks})"
        )
        return {
            (blob_id, language): KeptParse(definitions, bool(has_errors), data)
            for blob_id, language, definitions, has_errors, data in self._select(sql, ids, parser)
            if (blob_id, language) in wanted
        }

    @_guarded
    def put_parsed(self, items: Iterable[tuple[str, str, ParsedFile, bytes]], parser: str) -> None:
        """Keep parses given as ``(blob_id, language, parse, parse.to_json())``."""
        rows = [
            (blob_id, parser, language, len(p.definitions), int(p.has_errors), data)
            for blob_id, language, p, data in items
        ]
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.executemany("INSERT OR REPLACE INTO parses VALUES (?, ?, ?, ?, ?, ?)", rows)

    @_guarded
    def get_bodies(self, blob_ids: list[str], version: str) -> dict[str, Bodies]:
        """The token counts of each file's definition bodies, by blob and the body's byte range."""
        sql = "SELECT blob_id, data FROM bodies WHERE version = ? AND blob_id IN ({marks})"
        out: dict[str, Bodies] = {}
        for blob_id, data in self._select(sql, sorted(set(blob_ids)), version):
            try:
                rows = json.loads(zlib.decompress(data))
                out[blob_id] = {(start, end): (counts, n) for start, end, counts, n in rows}
            except (zlib.error, ValueError, TypeError) as exc:
                log.warning("kept term counts of %s are damaged (%s); counting again", blob_id, exc)
        return out

    @_guarded
    def put_bodies(self, items: dict[str, Bodies], version: str) -> None:
        rows = [
            (blob, version, zlib.compress(json.dumps([[a, b, c, n] for (a, b), (c, n) in bodies.items()]).encode(), 1))
            for blob, bodies in items.items()
        ]
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.executemany("INSERT OR REPLACE INTO bodies VALUES (?, ?, ?)", rows)

    @_guarded
    def get_history(self, commit: str, version: str) -> list[Counter[str]] | None:
        """The change counts kept for ``commit``, or None (never read, or damaged)."""
        row = self.conn.execute(
            "SELECT data FROM history WHERE revision = ? AND version = ?", (commit, version)
        ).fetchone()
        if row is None:
            return None
        try:
            return [Counter(c) for c in json.loads(zlib.decompress(row[0]))]
        except (zlib.error, ValueError, TypeError) as exc:
            log.warning("kept history of %s is damaged (%s); reading it again", commit, exc)
            return None

    @_guarded
    def put_history(self, commit: str, version: str, counts: list[Counter[str]]) -> None:
        data = zlib.compress(json.dumps([dict(c) for c in counts]).encode(), 1)
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.execute("INSERT OR REPLACE INTO history VALUES (?, ?, ?)", (commit, version, data))

    @_guarded
    def get_embeddings(self, content_ids: Iterable[str], model: str) -> dict[str, np.ndarray]:
        import numpy as np

        ids = sorted(set(content_ids))
        sql = "SELECT blob_id, vectors, dim FROM embeddings WHERE model = ? AND blob_id IN ({marks})"
        out: dict[str, np.ndarray] = {}
        for blob_id, data, dim in self._select(sql, ids, model):
            vec = np.frombuffer(data, dtype=np.float32)
            if dim and vec.size % dim == 0:
                out[blob_id] = vec.reshape(-1, dim)
        return out

    @_guarded
    def put_embeddings(self, items: Iterable[tuple[str, np.ndarray]], model: str) -> None:
        import numpy as np

        rows = [
            (content_id, model, np.ascontiguousarray(v, dtype=np.float32).tobytes(), int(v.shape[1]))
            for content_id, v in items
        ]
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.executemany("INSERT OR REPLACE INTO embeddings VALUES (?, ?, ?, ?)", rows)


def _suspect(path: Path) -> Path:
    """A file beside the cache that says: check it whole at the next open."""
    return path.with_name(f"{path.name}.check")
