"""The App's memory, in one SQLite file in its state folder: deliveries seen, jobs with their state, and
what each installation spent each day (against ``max_daily_cost``).

A delivery is recorded, with its job, in one transaction: a replayed
``X-GitHub-Delivery`` finds its row and runs nothing, and a restart loses
nothing that was acknowledged.  Each call opens its own connection, so the
web server's threads and the queue's workers share the file safely (WAL).
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from repoagent.locks import file_lock

TABLES = """
CREATE TABLE IF NOT EXISTS deliveries (id TEXT PRIMARY KEY, event TEXT, received {real}, job {int});
CREATE TABLE IF NOT EXISTS jobs (
    id {serial}, delivery TEXT, kind TEXT, repo TEXT, issue {int},
    installation {int}, sender TEXT, association TEXT, comment_id {int}, guidance TEXT, state TEXT,
    attempts {int}, reason TEXT, pull_request TEXT, created {real}, updated {real}
);
CREATE TABLE IF NOT EXISTS installations (id {int} PRIMARY KEY, active {int});
CREATE TABLE IF NOT EXISTS served (installation {int}, repo TEXT, PRIMARY KEY (installation, repo));
CREATE TABLE IF NOT EXISTS spend (
    installation {int}, day TEXT, spent {real}, reserved {real}, PRIMARY KEY (installation, day)
);
"""
SQLITE = {"real": "REAL", "int": "INTEGER", "serial": "INTEGER PRIMARY KEY AUTOINCREMENT"}
POSTGRES = {"real": "DOUBLE PRECISION", "int": "BIGINT", "serial": "BIGSERIAL PRIMARY KEY"}
STATES = ("new", "queued", "running", "done", "failed")  # new: recorded, not yet acknowledged and queued


@dataclass
class Job:
    kind: str  # "label", "comment", "guidance"
    repo: str
    issue: int
    installation: int
    sender: str
    association: str = ""
    comment_id: int | None = None
    guidance: str = ""
    id: int | None = None
    delivery: str = ""
    state: str = "new"
    attempts: int = 0
    reason: str = ""
    pull_request: str = ""
    created: float = 0.0
    updated: float = 0.0

    def public(self) -> dict[str, Any]:
        """What ``GET /jobs`` shows: no secret is ever in a job."""
        return asdict(self)


class _Db:
    """One connection, in either database, with one way to run SQL (``?`` placeholders) and to lock."""

    def __init__(self, conn: Any, postgres: bool) -> None:
        self.conn = conn
        self.postgres = postgres

    def execute(self, sql: str, args: tuple[Any, ...] = ()) -> Any:
        return self.conn.execute(sql.replace("?", "%s") if self.postgres else sql, args)

    def executemany(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        if self.postgres:
            with self.conn.cursor() as cur:
                cur.executemany(sql.replace("?", "%s"), rows)
        else:
            self.conn.executemany(sql, rows)

    def begin(self) -> None:
        """A write transaction that waits for any other: SQLite's IMMEDIATE, PostgreSQL's advisory lock."""
        if self.postgres:
            self.conn.execute("BEGIN")
            self.conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
        else:
            self.conn.execute("BEGIN IMMEDIATE")


ACTIVE = "INSERT INTO installations VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET active = excluded.active"
WRITE_LOCK = 7_141_400  # PostgreSQL advisory lock key of the App's write transactions


class State:
    """The state: SQLite in ``folder`` (one machine), or the PostgreSQL database at ``url``, which every server
    of the App reaches (``state_url``): deliveries are then recorded once, and jobs run once, across servers."""

    def __init__(self, folder: Path, url: str | None = None) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.url = url
        self.postgres = bool(url)
        self.path = self.folder / "app.sqlite3"
        with self._db() as db:
            if self.postgres:
                db.execute("SELECT pg_advisory_lock(?)", (WRITE_LOCK,))  # servers starting at once make it once
                try:
                    for statement in TABLES.format(**POSTGRES).split(";"):
                        if statement.strip():
                            db.execute(statement)
                finally:
                    db.execute("SELECT pg_advisory_unlock(?)", (WRITE_LOCK,))
            else:
                db.execute("PRAGMA journal_mode=WAL")
                db.conn.executescript(TABLES.format(**SQLITE))

    @contextmanager
    def _db(self) -> Iterator[_Db]:
        if self.postgres:
            import psycopg
            from psycopg.rows import dict_row

            with psycopg.connect(self.url, autocommit=True, row_factory=dict_row) as conn:
                yield _Db(conn, True)
            return
        with closing(sqlite3.connect(self.path, timeout=60, isolation_level=None)) as conn:
            conn.row_factory = sqlite3.Row
            yield _Db(conn, False)

    @contextmanager
    def issue_lock(self, repo: str, number: int) -> Iterator[None]:
        """One job at a time per issue, across this machine's workers (a file lock) or every server (PostgreSQL)."""
        if not self.postgres:
            with file_lock(self.folder / "locks" / f"{repo.replace('/', '+')}-{number}.lock"):
                yield
            return
        key = int.from_bytes(hashlib.sha256(f"{repo}#{number}".encode()).digest()[:8], "big", signed=True)
        with self._db() as db:
            db.execute("SELECT pg_advisory_lock(?)", (key,))
            try:
                yield
            finally:
                db.execute("SELECT pg_advisory_unlock(?)", (key,))

    def accept(self, delivery: str, event: str, job: Job | None) -> tuple[bool, int | None]:
        """Record a delivery (and its job) once: (False, its job) when it was seen before."""
        now = time.time()
        with self._db() as db:
            db.begin()
            try:
                row = db.execute("SELECT job FROM deliveries WHERE id = ?", (delivery,)).fetchone()
                if row is not None:
                    db.execute("COMMIT")
                    return False, row["job"]
                job_id = None
                if job is not None:
                    fields = {**asdict(job), "delivery": delivery, "created": now, "updated": now}
                    fields.pop("id")
                    cur = db.execute(
                        f"INSERT INTO jobs ({', '.join(fields)}) VALUES ({', '.join('?' * len(fields))}) RETURNING id",
                        tuple(fields.values()),
                    )
                    job_id = cur.fetchone()["id"]
                db.execute("INSERT INTO deliveries VALUES (?, ?, ?, ?)", (delivery, event, now, job_id))
                db.execute("COMMIT")
                return True, job_id
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def job(self, job_id: int) -> Job | None:
        with self._db() as db:
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return Job(**dict(row)) if row is not None else None

    def update(self, job_id: int, **fields: Any) -> None:
        fields["updated"] = time.time()
        with self._db() as db:
            db.execute(
                f"UPDATE jobs SET {', '.join(f'{k} = ?' for k in fields)} WHERE id = ?", (*fields.values(), job_id)
            )

    def start(self, job_id: int) -> Job | None:
        """Mark a queued job running and count the attempt; None when it is not queued (running or ended)."""
        with self._db() as db:
            db.begin()
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None or row["state"] != "queued":
                db.execute("COMMIT")
                return None
            db.execute(
                "UPDATE jobs SET state = 'running', attempts = attempts + 1, updated = ? WHERE id = ?",
                (time.time(), job_id),
            )
            db.execute("COMMIT")
        job = self.job(job_id)
        return job

    def recent(self, limit: int = 50) -> list[Job]:
        with self._db() as db:
            rows = db.execute("SELECT * FROM jobs ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        return [Job(**dict(r)) for r in rows]

    def unfinished(self) -> list[Job]:
        with self._db() as db:
            rows = db.execute("SELECT * FROM jobs WHERE state IN ('new', 'queued', 'running') ORDER BY id").fetchall()
        return [Job(**dict(r)) for r in rows]

    def reserve(self, installation: int, wanted: float | None, cap: float | None, day: str) -> float | None:
        """Set aside what a job may spend today: ``wanted`` (its own cap; None: no cap) within what is left of
        the installation's daily ``cap`` (None: none), counting what running jobs set aside.  None: nothing is
        left.  ``settle`` turns the reservation into what was spent."""
        with self._db() as db:
            db.begin()
            row = db.execute(
                "SELECT spent, reserved FROM spend WHERE installation = ? AND day = ?", (installation, day)
            ).fetchone()
            spent, reserved = (row["spent"], row["reserved"]) if row is not None else (0.0, 0.0)
            left = None if cap is None else cap - spent - reserved
            if left is not None and left < 0.001:
                db.execute("COMMIT")
                return None
            allowed = left if wanted is None else wanted if left is None else min(wanted, left)
            db.execute(
                "INSERT INTO spend VALUES (?, ?, 0, ?) ON CONFLICT (installation, day) "
                "DO UPDATE SET reserved = spend.reserved + excluded.reserved",
                (installation, day, allowed or 0.0),
            )
            db.execute("COMMIT")
        return allowed if allowed is not None else float("inf")

    def settle(self, installation: int, day: str, reserved: float, spent: float) -> None:
        reserved = 0.0 if reserved == float("inf") else reserved
        with self._db() as db:
            db.execute(
                "INSERT INTO spend VALUES (?, ?, ?, 0) ON CONFLICT (installation, day) "
                "DO UPDATE SET spent = spend.spent + excluded.spent, "
                "reserved = CASE WHEN spend.reserved > ? THEN spend.reserved - ? ELSE 0 END",
                (installation, day, spent, reserved, reserved),
            )

    def spent(self, installation: int, day: str) -> float:
        with self._db() as db:
            row = db.execute(
                "SELECT spent FROM spend WHERE installation = ? AND day = ?", (installation, day)
            ).fetchone()
        return float(row["spent"]) if row is not None else 0.0

    def installed(self, installation: int, repos: list[str], replace: bool = False) -> None:
        """The installation serves ``repos`` too (``replace``: those alone, as when it is created)."""
        with self._db() as db:
            db.begin()
            db.execute(ACTIVE, (installation, 1))
            if replace:
                db.execute("DELETE FROM served WHERE installation = ?", (installation,))
            db.executemany(
                "INSERT INTO served VALUES (?, ?) ON CONFLICT DO NOTHING", [(installation, r) for r in repos]
            )
            db.execute("COMMIT")

    def uninstalled(self, installation: int, repos: list[str] | None = None) -> None:
        """``repos`` are no longer served (None: the whole installation was removed)."""
        with self._db() as db:
            if repos is None:
                db.execute(ACTIVE, (installation, 0))
                db.execute("DELETE FROM served WHERE installation = ?", (installation,))
            else:
                db.executemany(
                    "DELETE FROM served WHERE installation = ? AND repo = ?", [(installation, r) for r in repos]
                )

    def serves(self, installation: int, repo: str) -> bool:
        """Whether ``repo`` is served; an installation never heard of (made before the App kept the list) is."""
        with self._db() as db:
            row = db.execute("SELECT active FROM installations WHERE id = ?", (installation,)).fetchone()
            if row is None:
                return True
            found = db.execute(
                "SELECT 1 FROM served WHERE installation = ? AND repo = ?", (installation, repo)
            ).fetchone()
        return bool(row["active"]) and found is not None

    def deliveries(self) -> int:
        with self._db() as db:
            return int(db.execute("SELECT COUNT(*) AS n FROM deliveries").fetchone()["n"])
