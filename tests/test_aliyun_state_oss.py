"""StateStore on OSS: serial-numbered immutable versions, forbid-overwrite lock, against the emulator."""

# The `emu` fixture is imported from the support module; test arguments named after it are not redefinitions.
# ruff: noqa: F811

from __future__ import annotations

import json
import re
import threading
import time

import pytest

from reconciler.errors import LockHeld, StateConflict, StateCorrupt, VoicectlError
from reconciler.model import StateDoc, VoiceRecord
from tests.emulator import Emulator
from tests.test_aliyun_support import (
    BUCKET,
    emu,  # noqa: F401  (the fixture)
    oss_account,
    state_store,
)

PREFIX = "voicectl/state"


def record(voice_id: str = "cosyvoice-v2-acme-1") -> VoiceRecord:
    return VoiceRecord(voice_id=voice_id, model="cosyvoice-v2", audio_identity="sha256:ab", audio_key="k.wav")


def test_write_and_read_serials(emu: Emulator) -> None:
    store = state_store(emu.env())
    assert store.location == f"oss://{BUCKET}/{PREFIX}"
    empty = store.read()
    assert (empty.serial, empty.lineage, empty.voices) == (0, "", {})

    lock = store.acquire_lock("apply")
    first = store.write(StateDoc(voices={"support": record()}), lock)
    assert first.serial == 1 and re.fullmatch(r"[0-9a-f-]{36}", first.lineage)
    second = store.write(first, lock)
    assert (second.serial, second.lineage) == (2, first.lineage)
    store.release_lock(lock)

    assert store.read() == second
    objects = emu.objects(BUCKET)
    assert sorted(objects) == [f"{PREFIX}/serial-0000000001.json", f"{PREFIX}/serial-0000000002.json"]
    assert json.loads(objects[f"{PREFIX}/serial-0000000002.json"])["voices"]["support"]["voice_id"] == record().voice_id
    puts = [c for c in emu.calls if c.action == "PutObject"]
    assert all(c.params["headers"]["x-oss-forbid-overwrite"] == "true" for c in puts)


def test_lock_is_exclusive_between_two_stores(emu: Emulator) -> None:
    a, b = state_store(emu.env()), state_store(emu.env())
    held = a.acquire_lock("apply")
    assert held.who.count("@") == 1 and held.created.endswith("Z") and held.operation == "apply"

    with pytest.raises(LockHeld, match=held.id) as err:
        b.acquire_lock("import", timeout=0.2)
    assert err.value.holder == held
    assert b.current_lock() == held

    # B waits (polls) and gets the lock once A releases it.
    threading.Timer(0.3, a.release_lock, args=(held,)).start()
    start = time.monotonic()
    mine = b.acquire_lock("import", timeout=5)
    assert mine.id != held.id and time.monotonic() - start < 3
    a.release_lock(held)  # not A's any more: must leave B's lock alone
    assert b.current_lock() == mine


def test_own_retried_lock_write_is_recognised(emu: Emulator) -> None:
    store = state_store(emu.env())
    emu.inject("oss", "PutObject", "drop_after_commit")  # the lock lands, its answer is lost
    lock = store.acquire_lock("apply", timeout=0)
    assert store.current_lock() == lock
    assert [c.fault for c in emu.calls if c.action == "PutObject"] == ["drop_after_commit", None]


def test_own_retried_state_write_is_recognised(emu: Emulator) -> None:
    store = state_store(emu.env())
    lock = store.acquire_lock("apply")
    emu.inject("oss", "PutObject", "drop_after_commit")
    assert store.write(StateDoc(), lock).serial == 1
    assert store.read().serial == 1


def test_force_unlock(emu: Emulator) -> None:
    store = state_store(emu.env())
    with pytest.raises(VoicectlError, match="not locked"):
        store.force_unlock("nope")
    lock = store.acquire_lock("apply")
    with pytest.raises(VoicectlError, match="does not match"):
        store.force_unlock("wrong-id")
    assert store.current_lock() == lock
    assert store.force_unlock(lock.id) == lock
    assert store.current_lock() is None


def test_writer_whose_lock_was_broken_gets_conflict(emu: Emulator) -> None:
    a, b = state_store(emu.env()), state_store(emu.env())
    lock_a = a.acquire_lock("apply")
    base = a.write(StateDoc(), lock_a)

    b.force_unlock(lock_a.id)
    lock_b = b.acquire_lock("apply")
    with pytest.raises(StateConflict, match="was broken"):
        a.write(base, lock_a)

    # Even past the lock check (the lock was broken and given back meanwhile), the serial is taken.
    b.write(base, lock_b)
    b.release_lock(lock_b)
    lock_a2 = a.acquire_lock("apply")
    with pytest.raises(StateConflict, match="a newer state exists; was your lock broken"):
        a.write(base, lock_a2)
    assert a.read().serial == 2


def test_versioned_bucket_is_refused(emu: Emulator) -> None:
    emu.set_versioning(BUCKET, "Suspended")
    store = state_store(emu.env())
    with pytest.raises(VoicectlError, match="versioning is Suspended"):
        store.acquire_lock("apply")
    assert not any(c.action == "PutObject" for c in emu.calls)


def test_corrupt_newest_version_names_the_previous(emu: Emulator) -> None:
    store = state_store(emu.env())
    lock = store.acquire_lock("apply")
    store.write(store.write(StateDoc(), lock), lock)
    # Damage serial 2 behind voicectl's back (a plain PUT overwrites).
    oss_account(emu.env()).bucket(BUCKET).put_object(f"{PREFIX}/serial-0000000002.json", b"{not json")
    with pytest.raises(StateCorrupt, match=f"oss://{BUCKET}/{PREFIX}/serial-0000000001.json") as err:
        store.read()
    assert "serial-0000000002.json is corrupt" in str(err.value)
    with pytest.raises(StateConflict):
        store.write(StateDoc(serial=1), lock)  # serial 2 exists: never overwritten


def test_state_reads_survive_faults(emu: Emulator) -> None:
    store = state_store(emu.env())
    lock = store.acquire_lock("apply")
    store.write(StateDoc(), lock)
    emu.inject("oss", "ListObjectsV2", "429")
    emu.inject("oss", "GetObject", "500", times=2)
    assert store.read().serial == 1
