"""StateStore on OSS: immutable, serial-numbered state versions and a create-if-absent lock object.

OSS has no conditional PUT on an existing object (no If-Match), but `x-oss-forbid-overwrite: true` makes
a PUT create-only. So every state version is a new object `{key}/serial-{serial:010d}.json`: a writer
whose lock was broken, or who lost a race, gets 409 instead of overwriting. Every version is kept: the
history is the recovery path from a corrupt or mistaken state, and a compare-and-swap needs the older
serials to stay taken (the bucket's lifecycle rules may expire old versions if their number matters).

The lock `{key}/lock.json` is a lease. Its holder renews it by rewriting its own `{key}/lease-{id}.json`
every third of the lease; the lock object itself is only ever created (create-only) or deleted. A lock is
expired when the service's clock (the Date of a HEAD answer) is past the Last-Modified of its newest
renewal (or of the lock) plus the lease: never the local clock, so a skewed laptop cannot break a live lock.
Taking over an expired lock starts with a create-only claim `{key}/takeover-{id}-{n}.json`: of two runs that
both saw it expire, one gets the claim and the other a 409, so exactly one proceeds. A claim whose taker died
before finishing expires like a lock, and the next claim is n + 1.
"""

from __future__ import annotations

import dataclasses
import email.utils
import json
import logging
import re
import time
import uuid
from typing import Any

from reconciler.errors import (
    AuthError,
    LockHeld,
    LockLost,
    ProviderError,
    StateConflict,
    StateCorrupt,
    VoicectlError,
)
from reconciler.model import LockInfo, StateDoc
from reconciler.providers.aliyun.oss import OssAccount
from reconciler.state.lock import lock_to_remove, new_lock, renewed, takeover_note

log = logging.getLogger("voicectl.aliyun")

_SERIAL = re.compile(r"/serial-(\d{10})\.json$")
# Last-Modified and Date are whole seconds: a second of slack keeps a just-renewed lease from looking expired.
_CLOCK_SLACK = 1.0


class OssStateStore:
    def __init__(self, oss: OssAccount, bucket: str | None, key: str, *, poll_interval: float = 1.0) -> None:
        if not bucket:
            raise ProviderError("state backend oss needs account.oss.bucket in voices.yaml")
        self.oss = oss
        self.bucket_name = bucket
        self.prefix = key.strip("/")
        self.location = f"oss://{bucket}/{self.prefix}"
        self.lock_key = f"{self.prefix}/lock.json"
        self.poll_interval = poll_interval
        self._versioning_checked = False

    # -- objects ------------------------------------------------------------------------------------

    def serial_key(self, serial: int) -> str:
        return f"{self.prefix}/serial-{serial:010d}.json"

    def _url(self, key: str) -> str:
        return f"oss://{self.bucket_name}/{key}"

    def _bucket(self, *, for_create: bool = False) -> Any:
        """The bucket; before the first create-if-absent, check that its versioning was never enabled.

        Only creates rely on x-oss-forbid-overwrite, so reads (plan, agent_config) skip the check and cost
        exactly the state's own requests; the lock is the first create of every apply, so a versioned
        bucket is still refused before anything is changed."""
        bucket = self.oss.bucket(self.bucket_name)
        if for_create and not self._versioning_checked:
            try:
                status = self.oss.run(
                    f"read versioning of bucket {self.bucket_name}", lambda: bucket.get_bucket_versioning().status
                )
            except ProviderError as exc:
                if exc.code != "AccessDenied":
                    raise
                # The keys work (reads passed) but their RAM policy lacks this one action: say which.
                raise AuthError(
                    f"state backend {self.location}: the AccessKey may not read the bucket's versioning "
                    f"(403 AccessDenied on GetBucketVersioning). Add the RAM action oss:GetBucketVersioning on "
                    f"acs:oss:*:*:{self.bucket_name} to the policy of the RAM user or role: voicectl checks that "
                    "versioning was never enabled before it relies on x-oss-forbid-overwrite for the lock.",
                    code="AccessDenied",
                ) from None
            if status in ("Enabled", "Suspended"):
                raise VoicectlError(
                    f"state backend {self.location}: bucket versioning is {status}, and OSS ignores "
                    "x-oss-forbid-overwrite on such buckets, so state writes and the lock would not be safe. "
                    "Use a bucket (or a separate state bucket) whose versioning has never been enabled."
                )
            self._versioning_checked = True
        return bucket

    def _get(self, key: str) -> bytes | None:
        import oss2

        bucket = self._bucket()

        def get() -> bytes | None:
            try:
                return bytes(bucket.get_object(key).read())
            except oss2.exceptions.NoSuchKey:
                return None

        return self.oss.run(f"read {self._url(key)}", get)

    def _create(self, key: str, body: bytes) -> bool:
        """PUT `key` only if absent. True when created, False when it already existed (409)."""
        import oss2

        bucket = self._bucket(for_create=True)
        headers = {"x-oss-forbid-overwrite": "true", "Content-Type": "application/json"}

        def put() -> bool:
            try:
                bucket.put_object(key, body, headers=headers)
                return True
            except oss2.exceptions.ServerError as exc:
                if exc.status == 409 and exc.code == "FileAlreadyExists":
                    return False
                raise

        return self.oss.run(f"write {self._url(key)}", put)

    def _age(self, key: str) -> float | None:
        """Seconds since `key` was last written, by the service's clock (its Date minus the object's
        Last-Modified); None when the object does not exist."""
        import oss2

        bucket = self._bucket()

        def head() -> float | None:
            try:
                result = bucket.head_object(key)
            except (oss2.exceptions.NoSuchKey, oss2.exceptions.NotFound):
                return None
            now = email.utils.parsedate_to_datetime(result.headers["date"]).timestamp()
            return now - float(result.last_modified)

        return self.oss.run(f"read the metadata of {self._url(key)}", head)

    def _list(self, prefix: str) -> list[str]:
        bucket = self._bucket()
        page = self.oss.run(f"list {self._url(prefix)}", lambda: bucket.list_objects_v2(prefix=prefix, max_keys=1000))
        return [obj.key for obj in page.object_list]

    def _delete(self, key: str) -> None:
        bucket = self._bucket()
        self.oss.run(f"delete {self._url(key)}", lambda: bucket.delete_object(key))

    def _serials(self) -> list[int]:
        bucket = self._bucket()
        serials: list[int] = []
        token = ""
        while True:

            def page_of(t: str = token) -> Any:
                return bucket.list_objects_v2(prefix=f"{self.prefix}/serial-", continuation_token=t, max_keys=1000)

            page = self.oss.run(f"list {self.location}", page_of)
            for obj in page.object_list:
                match = _SERIAL.search("/" + obj.key)
                if match:
                    serials.append(int(match.group(1)))
            if not page.is_truncated:
                return sorted(serials)
            token = page.next_continuation_token

    # -- state --------------------------------------------------------------------------------------

    def read(self) -> StateDoc:
        serials = self._serials()
        if not serials:
            return StateDoc()
        newest = serials[-1]
        body = self._get(self.serial_key(newest))
        try:
            if body is None:
                raise ValueError("the object vanished while being read")
            doc = StateDoc.from_json(json.loads(body))
            if doc.serial != newest:
                raise ValueError(f"it says serial {doc.serial}")
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            if len(serials) > 1:
                previous = self._url(self.serial_key(serials[-2]))
                hint = (
                    f"The previous version is {previous}: delete the corrupt object to fall back to it "
                    "(state versions are never overwritten, so nothing else is lost)."
                )
            else:
                hint = "No earlier version exists."
            raise StateCorrupt(
                f"state {self._url(self.serial_key(newest))} is corrupt ({type(exc).__name__}: {exc}). {hint}"
            ) from None
        return doc

    def write(self, doc: StateDoc, lock: LockInfo) -> StateDoc:
        holder = self.current_lock()
        if holder is None or holder.id != lock.id:
            now = f"it is now held by {holder.describe()}" if holder else "no lock is held now"
            raise LockLost(
                f"this run lost the state lock {lock.id} on {self.location} (its lease ran out and another run "
                f"took it over, or force-unlock removed it); {now}. Nothing was written; run plan again to see "
                "the current state."
            )
        # replace() keeps every field of the document, including ones added after this adapter was written.
        stored = dataclasses.replace(doc, serial=doc.serial + 1, lineage=doc.lineage or str(uuid.uuid4()))
        # The lock id in the object tells our own retried write (same bytes) from another run's write of
        # an identical document; readers ignore the extra key.
        body = (json.dumps({**stored.to_json(), "lock_id": lock.id}, indent=2, sort_keys=True) + "\n").encode()
        key = self.serial_key(stored.serial)
        if not self._create(key, body) and self._get(key) != body:
            # The same bytes under our key are our own write whose answer was lost; anything else is not ours.
            raise StateConflict(
                f"state {self.location}: a newer state exists; was your lock broken? (serial {stored.serial} was "
                "written by another run: run plan again)"
            )
        log.debug("oss state write serial=%d", stored.serial)
        return stored

    # -- lock ---------------------------------------------------------------------------------------

    def current_lock(self) -> LockInfo | None:
        body = self._get(self.lock_key)
        if body is None:
            return None
        try:
            return LockInfo.from_json(json.loads(body))
        except (ValueError, KeyError, TypeError) as exc:
            raise StateCorrupt(
                f"the state lock {self._url(self.lock_key)} is unreadable ({type(exc).__name__}); "
                "delete that object by hand once no voicectl run is active"
            ) from None

    def acquire_lock(self, operation: str, timeout: float = 0.0) -> LockInfo:
        info = new_lock(operation)
        body = json.dumps(info.to_json(), sort_keys=True).encode()
        deadline = time.monotonic() + max(timeout, 0.0)
        while True:
            if self._create(self.lock_key, body):
                log.debug("oss state lock acquired id=%s", info.id)
                return info
            holder = self.current_lock()
            if holder is not None and holder.id == info.id:
                return info  # our own PUT landed on an earlier attempt whose answer was lost
            if holder is not None and self._take_over(holder, body):
                return info
            if holder is not None:
                holder = self.current_lock() or holder  # another run's takeover may have just replaced it
            remaining = deadline - time.monotonic()
            if holder is not None and remaining <= 0:
                raise LockHeld(holder, self.location)
            # holder None: released between our PUT and GET; try again at once (after a breath).
            time.sleep(0.05 if holder is None else min(self.poll_interval, max(remaining, 0.0)))

    def preflight(self) -> str:
        """`voicectl doctor`: what the first lock would check (bucket versioning never enabled), read-only."""
        self._bucket(for_create=True)
        return f"versioning of bucket {self.bucket_name} never enabled: create-only writes hold"

    # -- the lease ----------------------------------------------------------------------------------

    def _lease_key(self, lock_id: str) -> str:
        return f"{self.prefix}/lease-{lock_id}.json"

    def _expired(self, holder: LockInfo) -> bool:
        """By the service's clock: no renewal (nor the lock's creation) within the lease."""
        if holder.lease <= 0:
            return False  # an older voicectl's lock: no lease, only force-unlock removes it
        age = self._age(self._lease_key(holder.id))
        if age is None:
            age = self._age(self.lock_key)
        return age is not None and age > holder.lease + _CLOCK_SLACK

    def renew_lock(self, lock: LockInfo) -> LockInfo | None:
        fresh = renewed(lock)
        body = json.dumps(fresh.to_json(), sort_keys=True).encode()
        bucket = self._bucket()
        # Our own key, so a plain PUT: the lock object is never rewritten, and a renewal that comes too late
        # (after a takeover replaced lock.json) changes nothing but this file.
        self.oss.run(
            f"renew {self._url(self._lease_key(lock.id))}", lambda: bucket.put_object(self._lease_key(lock.id), body)
        )
        holder = self.current_lock()
        return fresh if holder is not None and holder.id == lock.id else None

    def _take_over(self, holder: LockInfo, body: bytes) -> bool:
        """Replace an expired lock with ours (body); False when it is live or another run claimed it first."""
        if not self._expired(holder):
            return False
        claims = f"{self.prefix}/takeover-{holder.id}-"
        taken = sorted(int(k[len(claims) : -len(".json")]) for k in self._list(claims) if k.endswith(".json"))
        if taken:
            age = self._age(f"{claims}{taken[-1]:04d}.json")
            if age is not None and age <= holder.lease + _CLOCK_SLACK:
                return False  # another run is taking it over right now
        claim = f"{claims}{(taken[-1] + 1) if taken else 0:04d}.json"
        if not self._create(claim, body):
            self._await_other_taker(holder)
            return False  # another run claimed it first: it proceeds, we wait
        current = self.current_lock()
        if current is None or current.id != holder.id:
            return False  # released or replaced meanwhile: acquire as usual
        self._delete(self.lock_key)
        if not self._create(self.lock_key, body):
            return False  # a run that saw no lock at all created one in between: it proceeds
        for key in [self._lease_key(holder.id), *(f"{claims}{n:04d}.json" for n in taken), claim]:
            self._delete(key)
        log.warning(takeover_note(holder, f"its lease of {holder.lease:g} s ran out by the service's clock"))
        return True

    def _await_other_taker(self, holder: LockInfo, patience: float = 3.0) -> None:
        """Give the run that won the claim a moment to put its lock in place, so that our LockHeld names the
        new holder rather than the dead one."""
        deadline = time.monotonic() + patience
        while time.monotonic() < deadline:
            current = self.current_lock()
            if current is None or current.id != holder.id:
                return
            time.sleep(0.1)

    def release_lock(self, lock: LockInfo) -> None:
        holder = self.current_lock()
        if holder is not None and holder.id == lock.id:
            self._delete(self.lock_key)
            self._delete(self._lease_key(lock.id))
            log.debug("oss state lock released id=%s", lock.id)
        else:
            # Never delete a lock someone else holds now (ours was broken meanwhile).
            log.debug("oss state lock id=%s not held at release", lock.id)

    def force_unlock(self, lock_id: str) -> LockInfo:
        holder = lock_to_remove(self.current_lock(), lock_id, self.location)
        self._delete(self.lock_key)
        self._delete(self._lease_key(lock_id))
        return holder

    def close(self) -> None:
        self.oss.close()
