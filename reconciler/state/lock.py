"""The state lock's shared rules, the same for every backend: what a new lock records (id, who, when) and
which lock `force-unlock LOCK_ID` may remove."""

from __future__ import annotations

import datetime as dt
import getpass
import os
import socket
import time
import uuid

from reconciler.errors import VoicectlError
from reconciler.model import LockInfo

UNKNOWN = "unknown"


def new_lock(operation: str) -> LockInfo:
    """A fresh lock for this run: a new id, who (user@host) and when (UTC), for either state backend."""
    return LockInfo(id=str(uuid.uuid4()), operation=operation, who=_who(), created=_now_iso())


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


def _now_iso() -> str:
    return iso_utc(time.time())
