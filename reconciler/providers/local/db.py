"""The simulated account's storage: one SQLite file shared by threads and processes.

One connection per `AccountDb`, guarded by a lock: the executor calls the ports from up to 10 threads, and
SQLite serialises writers anyway. Other processes are kept out by SQLite's own file locks (WAL mode, a busy
timeout), and every read-check-write runs in `BEGIN IMMEDIATE` so that, for example, the quota count and the
insert it allows cannot interleave with another process's create.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

from reconciler.errors import VoicectlError

LOCAL_DIR = os.path.join(".voicectl", "local")
DB_NAME = "account.db"
OBJECTS_DIR = "objects"
BUSY_TIMEOUT_MS = 30_000
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS voices (
    voice_id TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    display_name TEXT,
    language TEXT,
    resource_link TEXT,
    created REAL NOT NULL,
    modified REAL NOT NULL,
    -- Status is computed when read: DEPLOYING until ready_at, then final_status. No background thread.
    ready_at REAL NOT NULL,
    final_status TEXT NOT NULL,
    review_error TEXT
);
CREATE TABLE IF NOT EXISTS review_failures (seq INTEGER PRIMARY KEY AUTOINCREMENT, error TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS nodes (
    agent TEXT NOT NULL, node TEXT NOT NULL, voice_id TEXT, PRIMARY KEY (agent, node)
);
CREATE TABLE IF NOT EXISTS instances (instance_id TEXT PRIMARY KEY, agent_id TEXT NOT NULL, voice_id TEXT);
"""


def local_dir(base_dir: str) -> str:
    return os.path.join(os.path.abspath(base_dir), LOCAL_DIR)


class AccountDb:
    """The SQLite file of one simulated account, plus the `VOICECTL_LOCAL_LATENCY` every call pays."""

    def __init__(self, base_dir: str, env: Mapping[str, str] | None = None):
        env = os.environ if env is None else env
        self.dir = local_dir(base_dir)
        self.objects_dir = os.path.join(self.dir, OBJECTS_DIR)
        self.latency = env_seconds(env, "VOICECTL_LOCAL_LATENCY", 0.0)
        self.path = os.path.join(self.dir, DB_NAME)
        self._lock = threading.RLock()
        # A project that never applied has no account yet: reads see an empty one in memory, and the file is
        # created by the first write, so `plan` on a fresh clone writes nothing anywhere.
        self._in_memory = not os.path.exists(self.path)
        self._conn: sqlite3.Connection | None = self._open(":memory:" if self._in_memory else self.path)

    def _open(self, target: str) -> sqlite3.Connection:
        conn = sqlite3.connect(target, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if target != ":memory:":
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("BEGIN IMMEDIATE")
        tx = Tx(conn)
        tx.executescript_in_tx(_SCHEMA)
        tx.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        conn.execute("COMMIT")
        return conn

    def _materialize(self) -> None:
        """Create the account's file before its first write (the in-memory stand-in holds nothing to copy:
        only reads ran against it)."""
        os.makedirs(self.objects_dir, exist_ok=True)
        memory, self._conn = self._conn, self._open(self.path)
        self._in_memory = False
        if memory is not None:
            memory.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Tx]:
        """A write transaction taken up front (BEGIN IMMEDIATE), so checks and writes see one snapshot."""
        with self._lock:
            if self._in_memory and self._conn is not None:
                self._materialize()
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield Tx(conn)
            except BaseException:
                if conn.in_transaction:  # SQLite may have rolled back by itself (e.g. disk full)
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def query(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            if self._in_memory and self._conn is not None and os.path.exists(self.path):
                self._materialize()  # another process created the account since: read the real one
            return self._connection().execute(sql, params).fetchall()

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise VoicectlError(f"the local account {self.path} was closed")
        return self._conn

    @contextlib.contextmanager
    def call(self) -> Iterator[None]:
        """Wrap one port call: half the simulated latency before the effect, half after.

        The split gives crash tests both windows: a SIGKILL in the first half lands before the effect (nothing
        happened), one in the second half after it (the effect happened but the caller never heard back,
        like a lost response)."""
        if self.latency:
            time.sleep(self.latency / 2)
        yield
        if self.latency:
            time.sleep(self.latency / 2)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


class Tx:
    """The connection inside a transaction (no commit/rollback: the context manager owns those)."""

    def __init__(self, conn: sqlite3.Connection):
        self._conn = conn

    def execute(self, sql: str, params: tuple[object, ...] = ()) -> sqlite3.Cursor:
        return self._conn.execute(sql, params)

    def executescript_in_tx(self, script: str) -> None:
        # executescript() would COMMIT first; run the statements one by one to stay inside BEGIN IMMEDIATE.
        for statement in script.split(";"):
            if statement.strip():
                self._conn.execute(statement)

    def one(self, sql: str, params: tuple[object, ...] = ()) -> tuple[Any, ...] | None:
        row: tuple[Any, ...] | None = self._conn.execute(sql, params).fetchone()
        return row

    def scalar(self, sql: str, params: tuple[object, ...] = ()) -> int:
        row = self._conn.execute(sql, params).fetchone()
        return int(row[0]) if row else 0


def env_seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise VoicectlError(f"{name}={raw!r} is not a number of seconds") from None
    if value < 0:
        raise VoicectlError(f"{name}={raw!r} must not be negative")
    return value


def iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
