"""The state document's local-file backend and its lock.

Layout next to the state file (`.voicectl/state.json` by default):

- `state.json`: the newest version, replaced atomically (temp file, fsync, rename, fsync of the directory).
- `state.json.lock`: the lock, created atomically *with* its content (temp file hard-linked to the lock name),
  so nobody ever sees a half-written lock from a healthy holder. It is never removed for staleness: a lock
  outlives a dead holder until `force_unlock`, as in Terraform.
- `state.json.guard`: an empty file that `fcntl.flock` serialises the compare-and-swap (and lock removal) on,
  so that a check of "lock still ours, serial unchanged" and the write it guards cannot interleave with
  another process.
- `state.history/<serial:010d>.json`: the newest versions, so that a corrupt state file can be restored
  by hand.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import re
import shlex
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from reconciler.errors import LockHeld, LockLost, StateConflict, StateCorrupt, VoicectlError
from reconciler.model import STATE_FORMAT_VERSION, LockInfo, StateDoc
from reconciler.state.lock import (
    UNKNOWN,
    expired_by_local_clock,
    holder_is_dead,
    iso_utc,
    lock_to_remove,
    new_lock,
    renewed,
    takeover_note,
)

log = logging.getLogger("voicectl.lock")

HISTORY_DIR = "state.history"
HISTORY_KEEP = 20
LOCK_POLL_SECONDS = 0.2
_HISTORY_NAME = re.compile(r"^\d{10}\.json$")


class LocalStateStore:
    """The `StateStore` port on a local file. Safe across threads and processes on one machine."""

    def __init__(self, path: str):
        self.path = os.path.abspath(path)
        self.location = self.path
        self.lock_path = self.path + ".lock"
        self.guard_path = self.path + ".guard"
        self.history_dir = os.path.join(os.path.dirname(self.path), HISTORY_DIR)

    # ---------------------------------------------------------------------------------------- read

    def read(self) -> StateDoc:
        try:
            with open(self.path, "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            # A missing file with history beside it is a deleted state, not a fresh one: treating it as
            # empty would make the next plan forget (and possibly delete or re-adopt) every managed voice.
            if self._history_serials():
                raise StateCorrupt(
                    f"state file {self.path} is missing, but {self.history_dir} holds earlier versions. "
                    + self._recovery_hint()
                    + "\nTo start from an empty state on purpose, remove the history directory too."
                ) from None
            return StateDoc()
        except OSError as exc:
            raise StateCorrupt(
                f"state file {self.path} cannot be read ({exc.strerror}). " + self._recovery_hint()
            ) from exc
        return self._parse(raw, self.path, hint=True)

    def _parse(self, raw: bytes, source: str, *, hint: bool) -> StateDoc:
        def corrupt(what: str) -> StateCorrupt:
            tail = " " + self._recovery_hint() if hint else ""
            return StateCorrupt(f"state file {source} is corrupt: {what}. It was not changed.{tail}")

        if not raw.strip():
            raise corrupt("it is empty")
        try:
            data = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise corrupt("it is not UTF-8 text") from None
        except json.JSONDecodeError as exc:
            raise corrupt(f"invalid JSON at line {exc.lineno} column {exc.colno} ({exc.msg}; truncated?)") from None
        if not isinstance(data, dict):
            raise corrupt(f"it holds a JSON {type(data).__name__}, not an object")
        problem = _shape_problem(data)
        if problem:
            raise corrupt(problem)
        version = data.get("version", STATE_FORMAT_VERSION)
        if version > STATE_FORMAT_VERSION:
            raise VoicectlError(
                f"state file {source} has format version {version}, newer than this voicectl understands "
                f"({STATE_FORMAT_VERSION}): upgrade voicectl; the file was not changed"
            )
        try:
            return StateDoc.from_json(data)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise corrupt(f"an entry has the wrong shape ({type(exc).__name__}: {exc})") from None

    def _recovery_hint(self) -> str:
        """Name the newest readable version in the history, as a command to restore it."""
        for serial in reversed(self._history_serials()):
            candidate = self._history_path(serial)
            try:
                with open(candidate, "rb") as f:
                    self._parse(f.read(), candidate, hint=False)
            except (OSError, VoicectlError):
                continue
            return (
                f"The newest readable previous version is serial {serial}; restore it with:\n"
                f"  cp {shlex.quote(_display(candidate))} {shlex.quote(_display(self.path))}"
            )
        return f"No readable previous version is kept in {_display(self.history_dir)}; repair the file by hand."

    # --------------------------------------------------------------------------------------- write

    def write(self, doc: StateDoc, lock: LockInfo) -> StateDoc:
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        with self._guard():
            holder = self.current_lock()
            if holder is None or holder.id != lock.id:
                now = f"it is now held by {holder.describe()}" if holder else "no lock is held now"
                raise LockLost(
                    f"this run lost the state lock {lock.id} on {self.location} (its lease ran out and another "
                    f"run took it over, or force-unlock removed it); {now}. Nothing was written; run again to "
                    "plan against the current state."
                )
            stored = self.read()
            if stored.serial != doc.serial:
                raise StateConflict(
                    f"state changed under this run: stored serial {stored.serial}, expected {doc.serial} "
                    f"({self.location}). Nothing was written; run again to plan against the current state."
                )
            if stored.lineage and doc.lineage and stored.lineage != doc.lineage:
                raise StateConflict(
                    f"state lineage differs: stored {stored.lineage}, this run's {doc.lineage} "
                    f"({self.location}); "
                    "the state file was replaced by another one. Nothing was written."
                )
            new = replace(
                doc,
                serial=doc.serial + 1,
                lineage=doc.lineage or stored.lineage or str(uuid.uuid4()),
                version=STATE_FORMAT_VERSION,
            )
            text = json.dumps(new.to_json(), indent=2, sort_keys=True) + "\n"
            _atomic_write(self.path, text.encode("utf-8"))
            # History is a convenience copy written after the real file: a crash between the two loses
            # only the copy, never the state.
            os.makedirs(self.history_dir, exist_ok=True)
            _atomic_write(self._history_path(new.serial), text.encode("utf-8"))
            self._prune_history()
        return new

    def _history_serials(self) -> list[int]:
        try:
            names = os.listdir(self.history_dir)
        except OSError:
            return []
        return sorted(int(n[:10]) for n in names if _HISTORY_NAME.match(n))

    def _history_path(self, serial: int) -> str:
        return os.path.join(self.history_dir, f"{serial:010d}.json")

    def _prune_history(self) -> None:
        for serial in self._history_serials()[:-HISTORY_KEEP]:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._history_path(serial))

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        fd = os.open(self.guard_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            # flock conflicts between separate open()s even within one process, so threads are covered too.
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing drops the flock

    # ---------------------------------------------------------------------------------------- lock

    def acquire_lock(self, operation: str, timeout: float = 0.0) -> LockInfo:
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        info = new_lock(operation)
        payload = _lock_bytes(info)
        deadline = time.monotonic() + max(timeout, 0.0)
        while True:
            if self._create_lock_file(payload):
                return info
            holder = self.current_lock()
            if holder is None:
                continue  # released between our attempt and the read: try again at once
            if self._take_over(holder, info):
                return info
            holder = self.current_lock() or holder  # another run's takeover may have just replaced it
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LockHeld(holder, self.location)
            time.sleep(min(LOCK_POLL_SECONDS, remaining))

    def _take_over(self, holder: LockInfo, info: LockInfo) -> bool:
        """Replace `holder`'s lock with ours if its holder is dead (same host) or its lease expired. Under the
        guard, after reading the lock again: of two runs that both saw the dead lock, the second finds the
        first's live lock there and waits, so exactly one proceeds."""
        why = _takeover_reason(holder)
        if why is None:
            return False
        with self._guard():
            current = self.current_lock()
            if current is None or current.id != holder.id or _takeover_reason(current) is None:
                return False
            _atomic_write(self.lock_path, _lock_bytes(info))
        log.warning(takeover_note(holder, why))
        return True

    def renew_lock(self, lock: LockInfo) -> LockInfo | None:
        with self._guard():
            current = self.current_lock()
            if current is None or current.id != lock.id:
                return None
            fresh = renewed(lock)
            _atomic_write(self.lock_path, _lock_bytes(fresh))
            return fresh

    def _create_lock_file(self, payload: bytes) -> bool:
        """Create the lock file with its content in one step; False when it exists already."""
        tmp = f"{self.lock_path}.{uuid.uuid4().hex}.tmp"
        _write_synced(tmp, payload)
        try:
            os.link(tmp, self.lock_path)
            _fsync_dir(os.path.dirname(self.lock_path))
            return True
        except FileExistsError:
            return False
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
                raise
            return self._create_lock_file_excl(payload)  # a filesystem without hard links
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    def _create_lock_file_excl(self, payload: bytes) -> bool:
        # Fallback: a crash between create and write leaves an empty lock, reported as held by "unknown".
        try:
            fd = os.open(self.lock_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        try:
            os.write(fd, payload)
            os.fsync(fd)
        finally:
            os.close(fd)
        return True

    def current_lock(self) -> LockInfo | None:
        try:
            with open(self.lock_path, "rb") as f:
                raw = f.read()
            mtime = os.path.getmtime(self.lock_path)
        except FileNotFoundError:
            return None
        except OSError:
            return LockInfo(id=UNKNOWN, operation=UNKNOWN, who=UNKNOWN, created=UNKNOWN)
        try:
            data = json.loads(raw.decode("utf-8"))
            if isinstance(data, dict) and data.get("id"):
                return LockInfo.from_json(data)
        except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError):
            pass
        # Unreadable content still blocks everyone: only `force-unlock unknown` may clear it.
        return LockInfo(id=UNKNOWN, operation=UNKNOWN, who=UNKNOWN, created=iso_utc(mtime))

    def release_lock(self, lock: LockInfo) -> None:
        with self._guard():
            holder = self.current_lock()
            # Someone else's lock (ours was broken and retaken) is left alone.
            if holder is not None and holder.id == lock.id:
                _unlink_synced(self.lock_path)

    def force_unlock(self, lock_id: str) -> LockInfo:
        with self._guard():
            holder = lock_to_remove(self.current_lock(), lock_id, self.location)
            _unlink_synced(self.lock_path)
            return holder

    def close(self) -> None:
        """Nothing stays open between calls; present so `Provider.close` treats every port alike."""


# -------------------------------------------------------------------------------------------- helpers


def _shape_problem(data: dict[str, Any]) -> str | None:
    """What is wrong with a parsed state object's top level, or None. Entries are checked by from_json."""
    version = data.get("version", STATE_FORMAT_VERSION)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        return f"'version' must be a positive integer, got {version!r}"
    serial = data.get("serial")
    if not isinstance(serial, int) or isinstance(serial, bool) or serial < 0:
        return "'serial' is missing" if "serial" not in data else f"'serial' must be an integer >= 0, not {serial!r}"
    if not isinstance(data.get("lineage"), str):
        return "'lineage' is missing or not a string"
    for section in ("voices", "bindings", "deposed"):
        value = data.get(section) or {}
        if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
            return f"'{section}' must be an object of objects"
    forgotten = data.get("forgotten") or {}
    if not isinstance(forgotten, dict) or not all(isinstance(v, str) for v in forgotten.values()):
        return "'forgotten' must be an object of voice id -> name"
    return None


def _lock_bytes(info: LockInfo) -> bytes:
    return (json.dumps(info.to_json(), indent=2, sort_keys=True) + "\n").encode("utf-8")


def _takeover_reason(holder: LockInfo) -> str | None:
    if holder_is_dead(holder):
        return f"process {holder.pid} on {holder.host} has exited"
    if expired_by_local_clock(holder):
        return f"its lease ended {holder.expires} and was not renewed"
    return None


def _write_synced(path: str, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def _atomic_write(path: str, data: bytes) -> None:
    tmp = f"{path}.{uuid.uuid4().hex}.tmp"
    try:
        _write_synced(tmp, data)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    _fsync_dir(os.path.dirname(path))


def _unlink_synced(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    _fsync_dir(os.path.dirname(path))


def _fsync_dir(path: str) -> None:
    fd = os.open(path or ".", os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on a directory; the rename is still atomic
    finally:
        os.close(fd)


def _display(path: str) -> str:
    """A path relative to the working directory when it lies below it: shorter to copy from a message."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return path if rel.startswith("..") else rel
