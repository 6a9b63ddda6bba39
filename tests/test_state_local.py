"""LocalStateStore: the state file's compare-and-swap, its history, corruption reports, and the lock."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from reconciler.errors import LockHeld, LockLost, StateConflict, StateCorrupt, VoicectlError
from reconciler.model import BindingRecord, LockInfo, StateDoc, VoiceRecord
from reconciler.state.local import HISTORY_KEEP, LocalStateStore

REPO = Path(__file__).resolve().parents[1]

# A lock holder in another process: takes the lock, prints its id, then behaves as argv[2] says.
HOLDER = """
import sys, time
from reconciler.state.local import LocalStateStore
store = LocalStateStore(sys.argv[1])
lock = store.acquire_lock("apply", timeout=float(sys.argv[3]) if len(sys.argv) > 3 else 0.0)
print(lock.id, flush=True)
if sys.argv[2] == "stdin":
    sys.stdin.readline()
    store.release_lock(lock)
elif sys.argv[2].startswith("release-after="):
    time.sleep(float(sys.argv[2].split("=")[1]))
    store.release_lock(lock)
else:
    time.sleep(600)
"""


def spawn_holder(path: Path, mode: str) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path), mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    lock_id = proc.stdout.readline().strip()
    assert lock_id, "holder process did not take the lock"
    return proc, lock_id


@pytest.fixture
def store(tmp_path: Path) -> LocalStateStore:
    return LocalStateStore(str(tmp_path / ".voicectl" / "state.json"))


def sample_doc(base: StateDoc, n: int = 1) -> StateDoc:
    voices = {
        f"voice-{i}": VoiceRecord(
            voice_id=f"cosyvoice-v2-vc-{i:032x}",
            model="cosyvoice-v2",
            audio_identity=f"sha256:{i:064x}",
            audio_key=f"voicectl/audio/voice-{i}/{i:064x}.wav",
            status="OK",
            language="en",
        )
        for i in range(n)
    }
    bindings = {
        "binding.agent1.tts": BindingRecord(
            agent="agent1", node="tts", voice="voice-0", voice_id=voices["voice-0"].voice_id, model="cosyvoice-v2"
        )
    }
    return StateDoc(serial=base.serial, lineage=base.lineage, voices=voices, bindings=bindings)


def write_n(store: LocalStateStore, n: int) -> StateDoc:
    lock = store.acquire_lock("apply")
    try:
        doc = store.read()
        for i in range(n):
            doc = store.write(sample_doc(doc, i + 1), lock)
        return doc
    finally:
        store.release_lock(lock)


# ------------------------------------------------------------------------------------------ documents


def test_missing_file_reads_as_empty_state(store: LocalStateStore) -> None:
    doc = store.read()
    assert doc == StateDoc()
    assert doc.serial == 0
    assert not os.path.exists(store.path)


def test_round_trip_serial_and_lineage(store: LocalStateStore) -> None:
    lock = store.acquire_lock("apply")
    first = store.write(sample_doc(store.read(), 3), lock)
    assert first.serial == 1
    assert len(first.lineage) == 36  # a uuid4
    assert store.read() == first
    second = store.write(sample_doc(first, 2), lock)
    assert (second.serial, second.lineage) == (2, first.lineage)
    assert store.read() == second
    assert set(store.read().voices) == {"voice-0", "voice-1"}
    store.release_lock(lock)


def test_given_lineage_is_kept(store: LocalStateStore) -> None:
    lock = store.acquire_lock("import")
    written = store.write(StateDoc(serial=0, lineage="my-lineage"), lock)
    assert written.lineage == "my-lineage"


def test_file_is_pretty_sorted_json_ending_in_newline(store: LocalStateStore) -> None:
    write_n(store, 1)
    text = Path(store.path).read_text()
    assert text.endswith("}\n")
    data = json.loads(text)
    assert text == json.dumps(data, indent=2, sort_keys=True) + "\n"
    assert data["serial"] == 1 and data["version"] == 1


def test_history_is_kept_and_pruned(store: LocalStateStore) -> None:
    write_n(store, HISTORY_KEEP + 5)
    history = sorted(os.listdir(os.path.join(os.path.dirname(store.path), "state.history")))
    assert len(history) == HISTORY_KEEP
    assert history[0] == f"{6:010d}.json"
    assert history[-1] == f"{HISTORY_KEEP + 5:010d}.json"
    newest = Path(os.path.dirname(store.path), "state.history", history[-1]).read_text()
    assert newest == Path(store.path).read_text()


def test_no_temp_files_left_behind(store: LocalStateStore) -> None:
    write_n(store, 3)
    leftovers = [n for n in os.listdir(os.path.dirname(store.path)) if n.endswith(".tmp")]
    assert leftovers == []


@pytest.mark.parametrize(
    ("content", "what"),
    [
        (b"{not json", "invalid JSON"),
        (None, "invalid JSON"),  # truncated: filled in below from the real file
        (b"", "empty"),
        (b"  \n", "empty"),
        (b"[1, 2]", "not an object"),
        (b'{"lineage": "x"}', "'serial' is missing"),
        (b'{"serial": "7", "lineage": "x"}', "'serial' must be an integer"),
        (b'{"serial": 3, "lineage": "x", "voices": {"a": {"model": "m"}}}', "wrong shape"),
        (b"\xff\xfe\x00garbage", "not UTF-8"),
    ],
)
def test_corrupt_state_names_the_previous_version(store: LocalStateStore, content: bytes | None, what: str) -> None:
    write_n(store, 4)
    before = Path(store.path).read_bytes()
    bad = before[: len(before) // 2] if content is None else content
    Path(store.path).write_bytes(bad)
    with pytest.raises(StateCorrupt) as err:
        store.read()
    message = str(err.value)
    assert store.path in message
    assert what in message
    assert "cp " in message and "state.history/0000000004.json" in message
    assert Path(store.path).read_bytes() == bad  # never silently replaced or reset


def test_corrupt_state_skips_unreadable_history(store: LocalStateStore) -> None:
    write_n(store, 3)
    history = Path(os.path.dirname(store.path), "state.history")
    (history / f"{3:010d}.json").write_text("{")
    Path(store.path).write_text("")
    with pytest.raises(StateCorrupt, match=r"(?s)serial 2[^\d].*0000000002\.json"):
        store.read()


def test_corrupt_state_without_history_says_so(store: LocalStateStore) -> None:
    os.makedirs(os.path.dirname(store.path))
    Path(store.path).write_text("{}")
    with pytest.raises(StateCorrupt, match="No readable previous version"):
        store.read()


def test_write_refuses_to_overwrite_corrupt_state(store: LocalStateStore) -> None:
    write_n(store, 2)
    Path(store.path).write_text("garbage")
    lock = store.acquire_lock("apply")
    with pytest.raises(StateCorrupt):
        store.write(StateDoc(serial=2), lock)
    assert Path(store.path).read_text() == "garbage"


def test_deleted_state_with_history_is_not_read_as_empty(store: LocalStateStore) -> None:
    write_n(store, 2)
    os.unlink(store.path)
    with pytest.raises(StateCorrupt, match=r"(?s)missing.*0000000002\.json"):
        store.read()


def test_newer_format_version_is_a_clear_error(store: LocalStateStore) -> None:
    os.makedirs(os.path.dirname(store.path))
    Path(store.path).write_text(json.dumps({"version": 99, "serial": 1, "lineage": "x"}))
    with pytest.raises(VoicectlError, match=r"format version 99.*upgrade voicectl"):
        store.read()


# ---------------------------------------------------------------------------------------- conflicts


def test_stale_serial_is_a_conflict(store: LocalStateStore) -> None:
    lock = store.acquire_lock("apply")
    start = store.read()
    store.write(sample_doc(start), lock)
    with pytest.raises(StateConflict, match="stored serial 1, expected 0"):
        store.write(sample_doc(start, 2), lock)
    assert len(store.read().voices) == 1


def test_other_lineage_is_a_conflict(store: LocalStateStore) -> None:
    lock = store.acquire_lock("apply")
    written = store.write(StateDoc(), lock)
    with pytest.raises(StateConflict, match="lineage"):
        store.write(StateDoc(serial=written.serial, lineage="someone-else"), lock)


def test_broken_lock_cannot_overwrite_newer_state(store: LocalStateStore) -> None:
    lock_a = store.acquire_lock("apply")
    doc_a = store.read()
    store.force_unlock(lock_a.id)  # somebody decided run A was dead
    lock_b = store.acquire_lock("apply")
    written_b = store.write(sample_doc(store.read(), 2), lock_b)
    with pytest.raises(LockLost, match=r"this run lost the state lock .*force-unlock removed it"):
        store.write(sample_doc(doc_a, 5), lock_a)
    assert store.read() == written_b
    store.release_lock(lock_a)  # a broken holder's release leaves the new holder's lock alone
    assert store.current_lock() == lock_b


def test_write_without_any_lock_is_a_conflict(store: LocalStateStore) -> None:
    lock = store.acquire_lock("apply")
    store.release_lock(lock)
    with pytest.raises(StateConflict, match="no lock is held"):
        store.write(StateDoc(), lock)
    assert store.read().serial == 0


# -------------------------------------------------------------------------------------------- locks


def test_lock_info_and_release(store: LocalStateStore) -> None:
    assert store.current_lock() is None
    lock = store.acquire_lock("state rm")
    assert lock.operation == "state rm"
    assert "@" in lock.who
    assert lock.created.endswith("Z") and "T" in lock.created
    assert store.current_lock() == lock
    store.release_lock(lock)
    assert store.current_lock() is None
    assert not os.path.exists(store.lock_path)


def test_release_leaves_someone_elses_lock(store: LocalStateStore) -> None:
    lock = store.acquire_lock("apply")
    store.release_lock(LockInfo(id="other", operation="apply", who="x@y", created="now"))
    assert store.current_lock() == lock


def test_lock_is_exclusive_between_threads(store: LocalStateStore) -> None:
    winners: list[LockInfo] = []
    losers: list[LockHeld] = []
    barrier = threading.Barrier(8)

    def race() -> None:
        barrier.wait()
        try:
            winners.append(store.acquire_lock("apply"))
        except LockHeld as exc:
            losers.append(exc)

    threads = [threading.Thread(target=race) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1 and len(losers) == 7
    assert store.current_lock() == winners[0]


def test_lock_is_exclusive_across_processes_and_names_holder(store: LocalStateStore) -> None:
    proc, lock_id = spawn_holder(Path(store.path), "stdin")
    try:
        with pytest.raises(LockHeld) as err:
            store.acquire_lock("apply", timeout=0.3)
        holder = err.value.holder
        assert isinstance(holder, LockInfo)
        assert holder.id == lock_id and holder.operation == "apply" and "@" in holder.who
        message = str(err.value)
        assert lock_id in message and holder.who in message and store.location in message
        assert f"voicectl force-unlock {lock_id}" in message
    finally:
        assert proc.stdin is not None
        proc.stdin.write("\n")
        proc.stdin.flush()
        proc.wait(timeout=10)
    assert store.acquire_lock("apply").operation == "apply"


def test_waiting_for_the_lock_succeeds_when_released_in_time(store: LocalStateStore) -> None:
    proc, _ = spawn_holder(Path(store.path), "release-after=0.5")
    try:
        started = time.monotonic()
        lock = store.acquire_lock("apply", timeout=10)
        assert 0.2 < time.monotonic() - started < 5
        assert store.current_lock() == lock
    finally:
        proc.wait(timeout=10)


def test_waiting_for_the_lock_times_out(store: LocalStateStore) -> None:
    held = store.acquire_lock("apply")
    started = time.monotonic()
    with pytest.raises(LockHeld):
        store.acquire_lock("plan", timeout=0.5)
    assert 0.45 < time.monotonic() - started < 2
    assert store.current_lock() == held


def test_a_killed_holders_lock_is_taken_over_at_once(store: LocalStateStore, caplog: pytest.LogCaptureFixture) -> None:
    proc, lock_id = spawn_holder(Path(store.path), "sleep")
    dead = store.current_lock()
    assert dead is not None and dead.id == lock_id and dead.pid == proc.pid and dead.lease > 0
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert store.current_lock() == dead  # the file stays behind a SIGKILL ...
    with caplog.at_level("WARNING", logger="voicectl.lock"):
        mine = store.acquire_lock("apply")  # ... but its holder is gone: no wait, no force-unlock
    assert store.current_lock() == mine and mine.id != lock_id
    note = caplog.text
    assert "took over the state lock of a run that is gone" in note and f"process {proc.pid}" in note
    assert dead.who in note and dead.operation in note and dead.created in note


def test_a_live_holders_lock_is_not_taken_over(store: LocalStateStore) -> None:
    proc, lock_id = spawn_holder(Path(store.path), "sleep")
    try:
        with pytest.raises(LockHeld, match="its lease ends"):
            store.acquire_lock("apply", timeout=0.3)
        assert store.current_lock().id == lock_id  # type: ignore[union-attr]
    finally:
        proc.kill()
        proc.wait(timeout=10)


def test_a_reused_pid_is_not_the_holder(store: LocalStateStore) -> None:
    """The pid is alive but started at another time: another process reuses it, so the holder is gone."""
    import dataclasses
    import json

    lock = store.acquire_lock("apply")
    forged = dataclasses.replace(lock, pid=os.getpid(), pid_start="1")  # this process, but "started" at tick 1
    Path(store.lock_path).write_text(json.dumps(forged.to_json()), encoding="utf-8")
    assert store.acquire_lock("apply").id != lock.id


def test_a_lock_from_another_host_waits_for_its_lease(store: LocalStateStore, monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses
    import json
    import time

    from reconciler.state.lock import iso_utc

    lock = store.acquire_lock("apply")
    elsewhere = dataclasses.replace(lock, host="another-host", pid=1, expires=iso_utc(time.time() + 30))
    Path(store.lock_path).write_text(json.dumps(elsewhere.to_json()), encoding="utf-8")
    with pytest.raises(LockHeld):
        store.acquire_lock("apply")  # pid 1 means nothing here: only the lease can free it
    expired = dataclasses.replace(elsewhere, expires=iso_utc(time.time() - 5))
    Path(store.lock_path).write_text(json.dumps(expired.to_json()), encoding="utf-8")
    assert store.acquire_lock("apply").id != lock.id


def test_an_older_voicectls_lock_without_a_lease_needs_force_unlock(store: LocalStateStore) -> None:
    import json

    os.makedirs(os.path.dirname(store.path), exist_ok=True)
    old = {"id": "old-lock", "operation": "apply", "who": "a@b", "created": "2026-01-01T00:00:00Z"}
    Path(store.lock_path).write_text(json.dumps(old), encoding="utf-8")
    with pytest.raises(LockHeld):
        store.acquire_lock("apply")
    assert store.force_unlock("old-lock").id == "old-lock"


def test_force_unlock_refuses_wrong_id_and_no_lock(store: LocalStateStore) -> None:
    with pytest.raises(VoicectlError, match="not locked"):
        store.force_unlock("abc")
    lock = store.acquire_lock("apply")
    with pytest.raises(VoicectlError, match=f"does not match.*{lock.id}.*{lock.who}"):
        store.force_unlock("abc")
    assert store.current_lock() == lock


@pytest.mark.parametrize("content", [b"", b"{half", b'{"operation": "apply"}'])
def test_unreadable_lock_is_held_by_unknown(store: LocalStateStore, content: bytes) -> None:
    os.makedirs(os.path.dirname(store.path))
    Path(store.lock_path).write_bytes(content)
    current = store.current_lock()
    assert current is not None and current.id == "unknown" and current.who == "unknown"
    with pytest.raises(LockHeld, match="force-unlock unknown"):
        store.acquire_lock("apply")
    assert store.force_unlock("unknown").id == "unknown"
    assert store.current_lock() is None


def test_a_holder_past_its_lease_refuses_to_act(store: LocalStateStore) -> None:
    """SIGSTOP past the lease, then SIGCONT: the keeper's check fails before the next step, and fencing
    refuses the state write of a step already under way once another run took the lock over."""
    import dataclasses

    from reconciler.state.lease import LeaseKeeper
    from reconciler.state.lock import iso_utc

    now = [0.0]
    lock = store.acquire_lock("apply")
    keeper = LeaseKeeper(store, lock, clock=lambda: now[0])
    keeper.check()
    now[0] = lock.lease + 1  # stopped, without renewals, past the lease
    with pytest.raises(LockLost, match="lease expired"):
        keeper.check()

    # Meanwhile another run saw the lease expire and took the lock over: our write is refused.
    expired = dataclasses.replace(lock, expires=iso_utc(0))
    Path(store.lock_path).write_text(json.dumps(expired.to_json()), encoding="utf-8")
    other = LocalStateStore(store.path).acquire_lock("apply")
    with pytest.raises(LockLost, match="this run lost the state lock"):
        store.write(StateDoc(), lock)
    assert store.renew_lock(lock) is None and store.current_lock() == other
