"""StateStore on OSS: serial-numbered immutable versions, forbid-overwrite lock, against the emulator."""

# The `emu` fixture is imported from the support module; test arguments named after it are not redefinitions.
# ruff: noqa: F811

from __future__ import annotations

import json
import re
import threading
import time

import pytest

from reconciler.errors import LockHeld, LockLost, StateConflict, StateCorrupt, VoicectlError
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
    with pytest.raises(LockLost, match="this run lost the state lock"):
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


# -- the lease --------------------------------------------------------------------------------------------


def test_a_live_lock_is_never_taken_over_by_a_skewed_local_clock(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Expiry is judged by the service's clock. With this machine 5 minutes ahead of OSS, a lock taken a moment
    ago looks 300 s old to the local clock: a run that trusted it would break a live 60 s lease."""
    monkeypatch.setenv("VOICECTL_LOCK_LEASE", "60")
    emu.oss_clock_offset = -300.0
    a, b = state_store(emu.env()), state_store(emu.env())
    held = a.acquire_lock("apply")
    with pytest.raises(LockHeld, match="its lease ends"):
        b.acquire_lock("apply")
    assert b.current_lock() == held

    # The service's clock moves past the lease (no renewal came): now it is taken over, with a note.
    emu.oss_clock_offset = 120.0
    taken = b.acquire_lock("apply")
    assert b.current_lock() == taken and taken.id != held.id
    with pytest.raises(LockLost, match="this run lost the state lock"):
        a.write(StateDoc(), held)  # the old holder, woken up: fenced
    assert not [k for k in emu.objects(BUCKET) if "/takeover-" in k or "/lease-" in k]  # cleaned up


def test_renewals_keep_a_lease_alive_and_stopping_them_lets_it_go(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reconciler.state.lease import LeaseKeeper

    monkeypatch.setenv("VOICECTL_LOCK_LEASE", "2")
    a, b = state_store(emu.env()), state_store(emu.env())
    held = a.acquire_lock("apply")
    keeper = LeaseKeeper(a, held).start()
    try:
        time.sleep(3.5)  # past the lease, but renewed every 0.67 s
        with pytest.raises(LockHeld):
            b.acquire_lock("apply")
        keeper.check()  # still ours
    finally:
        keeper.stop()
    taken = b.acquire_lock("apply", timeout=6)  # polls until the lease ran out, then takes it over
    assert taken.id != held.id
    assert a.renew_lock(held) is None  # a late renewal finds the lock gone and changes nothing
    assert b.current_lock() == taken


def test_two_takers_of_an_expired_lock_exactly_one_proceeds(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOICECTL_LOCK_LEASE", "2")
    dead = state_store(emu.env()).acquire_lock("apply")  # never renewed, never released: a killed run
    emu.oss_clock_offset = 10.0
    stores = [state_store(emu.env()) for _ in range(4)]
    results: list[object] = [None] * len(stores)
    start = threading.Barrier(len(stores))

    def take(i: int) -> None:
        start.wait()
        try:
            results[i] = stores[i].acquire_lock("apply")
        except LockHeld as e:
            results[i] = e

    threads = [threading.Thread(target=take, args=(i,)) for i in range(len(stores))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    winners = [r for r in results if not isinstance(r, LockHeld)]
    assert len(winners) == 1, results
    assert stores[0].current_lock() == winners[0] and winners[0].id != dead.id  # type: ignore[union-attr]
    losers = [r for r in results if isinstance(r, LockHeld)]
    assert all(e.holder == winners[0] for e in losers)  # they name the new holder, not the dead one
