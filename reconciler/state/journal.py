"""The state document as one apply changes it, written through after every step (under the lock)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from reconciler.model import LockInfo, StateDoc


class StateWriter(Protocol):
    """What the journal needs of a state backend (every `StateStore` port is one)."""

    def write(self, doc: StateDoc, lock: LockInfo) -> StateDoc: ...


class Lease(Protocol):
    def check(self) -> None:
        """Raise LockLost when this run no longer holds the lock (reconciler.state.lease.LeaseKeeper)."""
        ...


@dataclass
class _Pending:
    change: Callable[[StateDoc], StateDoc]
    done: bool = False
    error: BaseException | None = None


class StateJournal:
    """The state document as this run changes it; every update is written through before it returns (under
    the lock).

    Group commit: updates that arrive while a write is in flight are applied in order and written together by
    the next writer. Each still returns only once a write holding its change has succeeded, so the state
    never lags behind a finished step; but parallel steps no longer queue one store round trip each (on OSS a
    write is two requests, which made 10 workers' creates wait on the journal rather than on the rate limit).
    """

    def __init__(self, store: StateWriter, doc: StateDoc, lock: LockInfo, *, lease: Lease | None = None):
        self._store, self._lock_info, self.doc = store, lock, doc
        self._lease = lease
        self._queue_mutex = threading.Lock()
        self._write_mutex = threading.Lock()
        self._queue: list[_Pending] = []

    def check_lease(self) -> None:
        """Before a step changes the account: refuse (LockLost) once the lease is gone, so a run that was
        stopped past its lease and woke up never acts for a lock another run now holds."""
        if self._lease is not None:
            self._lease.check()

    def update(self, change: Callable[[StateDoc], StateDoc]) -> None:
        mine = _Pending(change)
        with self._queue_mutex:
            self._queue.append(mine)
        with self._write_mutex:
            if not mine.done:  # nobody took it into a batch while we waited: write everything queued
                self._write_queued()
        if mine.error is not None:
            raise mine.error

    def _write_queued(self) -> None:
        with self._queue_mutex:
            batch, self._queue = self._queue, []
        doc, applied = self.doc, []
        for pending in batch:
            try:
                doc = pending.change(doc)
                applied.append(pending)
            except BaseException as e:  # that step's own error; the others' changes still get written
                pending.error = e
        try:
            if applied:
                self.doc = self._store.write(doc, self._lock_info)
        except BaseException as e:  # nothing of the batch was written: every step in it sees the error
            for pending in applied:
                pending.error = e
        finally:
            for pending in batch:
                pending.done = True
