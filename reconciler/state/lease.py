"""Keeping a lock's lease while a run holds it, and knowing when it was lost.

A `LeaseKeeper` renews the lock every third of its lease from a daemon thread that does nothing else, so a
slow cloud call never delays a renewal. It also keeps the time until which this run may still act as the
holder: the start of the last successful renewal plus the lease, less a margin (the OSS backend measures the
lease from the service's Last-Modified, which is rounded to the second and comes after the request left). Past
that time, or once a renewal finds that the lock is no longer ours, `check()` raises `LockLost`: the executor
calls it before every step that changes the account, so a holder stopped past its lease (SIGSTOP, a frozen VM)
does nothing after it wakes, and fencing (the lock id checked on every state write) refuses the state write of
any step that was already under way.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

from reconciler.errors import LockLost, VoicectlError
from reconciler.model import LockInfo


class Renewer(Protocol):
    def renew_lock(self, lock: LockInfo) -> LockInfo | None:
        """Extend the lease; the renewed lock, or None when the lock is no longer ours."""
        ...


class LeaseKeeper:
    def __init__(self, store: Renewer, lock: LockInfo, *, clock: Callable[[], float] = time.monotonic):
        self.store, self.lock, self.clock = store, lock, clock
        self.margin = min(2.0, lock.lease / 4)
        self.valid_until = clock() + lock.lease - self.margin
        self.lost: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> LeaseKeeper:
        if self.lock.lease > 0:
            self._thread = threading.Thread(target=self._renew_loop, name="voicectl-lease", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _renew_loop(self) -> None:
        every = self.lock.lease / 3
        while not self._stop.wait(every):
            started = self.clock()
            if started > self.valid_until:
                self.lost = "this run was stopped or stalled past its lease, so another run may have taken the lock"
                return
            try:
                renewed = self.store.renew_lock(self.lock)
            except VoicectlError:
                continue  # a failed renewal is retried at the next tick; check() refuses once the lease ran out
            if renewed is None:
                self.lost = "another run took the lock over after this run's lease expired"
                return
            self.lock = renewed
            self.valid_until = started + self.lock.lease - self.margin

    def check(self) -> None:
        """Raise `LockLost` unless this run still holds a valid lease."""
        if self.lock.lease <= 0:
            return
        if self.lost is None and self.clock() > self.valid_until:
            self.lost = "its lease expired before it could be renewed (the run was stopped or stalled)"
        if self.lost is not None:
            raise LockLost(
                f"this run lost the state lock {self.lock.id}: {self.lost}. It stopped before changing anything "
                "more; what it finished is in the state. Run plan again to see where things stand."
            )
