"""The state lock's shared rules, the same for every backend: what a new lock records (id, who, when, and the
lease: host, process, how long), when a holder is gone, and which lock `force-unlock LOCK_ID` may remove.

A lock is a lease. Its holder renews it every third of the lease (reconciler.state.lease); a holder that was
killed stops renewing. A lock is taken over, with no flag and no person, when its holder is known to be dead
(same host: its pid is gone, or now names another process, told apart by the process start time) or when
its lease expired. The file backend judges expiry by this host's clock (the lock file's host may be another
machine on a shared filesystem); the OSS backend by the service's clock (state_oss.py)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import getpass
import os
import socket
import time
import uuid

from reconciler.errors import VoicectlError
from reconciler.model import LockInfo

UNKNOWN = "unknown"
LEASE_ENV = "VOICECTL_LOCK_LEASE"
DEFAULT_LEASE = 60.0
MIN_LEASE = 2.0


def lease_seconds(environ: dict[str, str] | None = None) -> float:
    """The lease: 60 s, or env VOICECTL_LOCK_LEASE (seconds, >= 2; short leases are for tests and benches)."""
    raw = (environ if environ is not None else os.environ).get(LEASE_ENV, "").strip()
    if not raw:
        return DEFAULT_LEASE
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not value >= MIN_LEASE:  # also refuses nan
        raise VoicectlError(f"{LEASE_ENV}={raw!r}: the lock lease is a number of seconds >= {MIN_LEASE:g}")
    return value


def new_lock(operation: str, lease: float | None = None) -> LockInfo:
    """A fresh lock for this run: a new id, who (user@host), when (UTC), this process, and the lease."""
    lease = lease_seconds() if lease is None else lease
    now = time.time()
    return LockInfo(
        id=str(uuid.uuid4()),
        operation=operation,
        who=_who(),
        created=iso_utc(now),
        host=socket.gethostname(),
        pid=os.getpid(),
        pid_start=process_start(os.getpid()),
        lease=lease,
        expires=iso_utc(now + lease),
    )


def renewed(lock: LockInfo, now: float | None = None) -> LockInfo:
    """The same lock with its lease extended from `now` (this host's clock)."""
    now = time.time() if now is None else now
    return dataclasses.replace(lock, expires=iso_utc(now + lock.lease))


def process_start(pid: int) -> str:
    """When process `pid` started, in clock ticks since boot (Linux /proc); "" where that cannot be read."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            stat = f.read()
    except OSError:
        return ""
    # The command name (field 2) may hold spaces and parentheses: count fields after its last ')'.
    fields = stat[stat.rfind(")") + 2 :].split()
    return fields[19] if len(fields) > 19 else ""


def holder_is_dead(lock: LockInfo) -> bool:
    """True when the holder ran on this host and its process is gone (or its pid names another process now).
    A lock from another host, or one without a pid (an older voicectl's), is never judged dead here."""
    if not lock.lease or not lock.pid or lock.host != socket.gethostname():
        return False
    try:
        os.kill(lock.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # alive, another user's
    return bool(lock.pid_start) and process_start(lock.pid) not in ("", lock.pid_start)


def expired_by_local_clock(lock: LockInfo, now: float | None = None) -> bool:
    """The file backend's expiry: past `expires` by this host's clock. A lock without a lease never expires."""
    if not lock.lease or not lock.expires:
        return False
    try:
        expires = dt.datetime.strptime(lock.expires, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC).timestamp()
    except ValueError:
        return False
    return (time.time() if now is None else now) > expires + 1.0  # expires is rounded down to the second


def takeover_note(dead: LockInfo, why: str) -> str:
    return (
        f"took over the state lock of a run that is gone ({why}): {dead.operation} by {dead.who} since "
        f"{dead.created} (lock {dead.id}). Nothing needs unlocking; the state is as that run last wrote it."
    )


def lock_to_remove(holder: LockInfo | None, lock_id: str, location: str) -> LockInfo:
    """`force-unlock LOCK_ID`'s check, the same for every backend: a lock must be held, and be that one."""
    if holder is None:
        raise VoicectlError(f"state is not locked ({location}): nothing to unlock")
    if holder.id != lock_id:
        raise VoicectlError(
            f"lock id {lock_id!r} does not match the lock on {location}: {holder.describe()}. Nothing was unlocked."
        )
    return holder


def _who() -> str:
    try:
        user = getpass.getuser()
    except Exception:  # no login name in some containers (uid without a passwd entry)
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


def iso_utc(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
