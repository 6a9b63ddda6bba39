"""The local provider: the simulated account must behave like the cloud where voicectl depends on it."""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import subprocess
import sys
import threading
import time
import wave
from array import array
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.catalog import ModelInfo
from reconciler.errors import AudioRejected, ProviderError, QuotaExceeded, VoicectlError, VoiceNotFound
from reconciler.model import (
    AccountSpec,
    BindingRecord,
    BindingSpec,
    CloneOptions,
    Desired,
    LiveBinding,
    StateDoc,
    StateSpec,
)
from reconciler.naming import prefix_of, qwen_preferred_name, resource_link_matches
from reconciler.providers.base import AudioStore, Binder, Provider, StateStore, VoiceService
from reconciler.providers.local import LocalAccount, open_local, resolve_audio_url
from reconciler.state.local import LocalStateStore

REPO = Path(__file__).resolve().parents[1]
COSY = "cosyvoice-v2"
QWEN = "qwen3-tts-vc-2026-01-22"
DELAY = 0.2


# ----------------------------------------------------------------------------------------------- audio


def write_wav(path: Path, *, seconds: float = 12.0, rate: int = 16000, silent: bool = False, seed: int = 0) -> Path:
    """A mono 16-bit WAV: speech-like sound (or digital silence) from reconciler.audio.sample when present,
    else plain noise, which the review's loudness check treats alike."""
    try:
        from reconciler.audio import sample as sample_audio
    except ImportError:
        sample_audio = None  # type: ignore[assignment]
    if sample_audio is not None:
        if silent:
            sample_audio.write_silence_wav(str(path), seconds, sample_rate=rate)
        else:
            sample_audio.write_sample_wav(str(path), seconds=seconds, sample_rate=rate, seed=seed)
        return path
    rng = random.Random(seed)
    n = int(seconds * rate)
    pcm = array("h", bytes(2 * n)) if silent else array("h", (rng.randint(-8000, 8000) for _ in range(n)))
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.tobytes())
    return path


def passes(path: str, model: ModelInfo) -> list[str]:
    return []


class ScriptedReviewer:
    """Review findings chosen by object key (the voice name is in it), so the provider's handling is tested apart from audio.py."""

    def __init__(self, findings: dict[str, list[str]]):
        self.findings = findings
        self.seen: list[tuple[str, str]] = []

    def __call__(self, path: str, model: ModelInfo) -> list[str]:
        self.seen.append((os.path.basename(path), model.name))
        return next((f for marker, f in self.findings.items() if marker in path), [])


# -------------------------------------------------------------------------------------------- fixtures


def make_desired(base: Path, *, quota: int = 30, prefix: str = "acme", backend: str = "local") -> Desired:
    return Desired(
        path=str(base / "voices.yaml"),
        base_dir=str(base),
        file_sha256="0" * 64,
        account=AccountSpec(quota=quota, prefix=prefix, state=StateSpec(backend=backend)),
        voices=(),
        bindings=(),
    )


def open_provider(base: Path, *, quota: int = 30, reviewer=passes, **env: str) -> Provider:
    environment = {"VOICECTL_LOCAL_REVIEW_DELAY": str(DELAY), **env}
    return open_local(make_desired(base, quota=quota), environment, reviewer=reviewer)


@pytest.fixture
def provider(tmp_path: Path) -> Iterator[Provider]:
    p = open_provider(tmp_path)
    yield p
    p.close()


@pytest.fixture
def account(tmp_path: Path) -> Iterator[LocalAccount]:
    with LocalAccount(str(tmp_path)) as acc:
        yield acc


def upload(p: Provider, path: Path, name: str = "v") -> tuple[str, str]:
    """(signed url, key) of `path` in the provider's audio store."""
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    key = f"voicectl/audio/{name}/{sha}.wav"
    p.audio.ensure_uploaded(path=str(path), key=key, sha256=sha, content_type="audio/wav")
    return p.audio.signed_url(key, 3600), key


def create(p: Provider, tmp_path: Path, name: str = "v", model: str = COSY, **wav: object) -> str:
    rate = 24000 if model.startswith("qwen") else 16000
    path = write_wav(tmp_path / f"{name}.wav", rate=rate, **wav)  # type: ignore[arg-type]
    url, key = upload(p, path, name)
    return p.voices.create_voice(
        name=name, model=model, prefix="acme", audio_url=url, audio_key=key, options=CloneOptions()
    ).voice_id


def wait_status(p: Provider, voice_id: str, status: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while p.voices.query_voice(voice_id).status != status:
        assert time.monotonic() < deadline, f"{voice_id} never reached {status}"
        time.sleep(0.05)


# ---------------------------------------------------------------------------------------------- opening


def test_open_local_implements_the_ports(provider: Provider, tmp_path: Path) -> None:
    assert provider.name == "local"
    assert isinstance(provider.voices, VoiceService)
    assert isinstance(provider.audio, AudioStore)
    assert isinstance(provider.binder, Binder)
    assert isinstance(provider.state, StateStore) and isinstance(provider.state, LocalStateStore)
    assert provider.state.location == str(tmp_path / ".voicectl" / "state.json")
    assert len(provider.notes) == 1 and "simulation" in provider.notes[0]
    # Opening and reading create nothing (plan writes nothing anywhere); the first write creates the account.
    assert provider.voices.list_voices() == []
    assert not (tmp_path / ".voicectl").exists()
    provider.binder.unbind(agent="a", node="tts", instances=())
    assert (tmp_path / ".voicectl" / "local" / "account.db").exists()


def test_oss_state_backend_needs_aliyun(tmp_path: Path) -> None:
    with pytest.raises(VoicectlError, match=r"oss.*needs provider 'aliyun'"):
        open_local(make_desired(tmp_path, backend="oss"), {})


def test_bad_review_delay_is_reported(tmp_path: Path) -> None:
    with pytest.raises(VoicectlError, match="VOICECTL_LOCAL_REVIEW_DELAY"):
        open_local(make_desired(tmp_path), {"VOICECTL_LOCAL_REVIEW_DELAY": "soon"})


def test_close_is_idempotent(tmp_path: Path) -> None:
    p = open_provider(tmp_path)
    p.close()
    p.close()


# ------------------------------------------------------------------------------------------ ids, prefix


def test_cosyvoice_id_and_prefix(provider: Provider, tmp_path: Path) -> None:
    voice_id = create(provider, tmp_path, model="cosyvoice-v3.5-flash")
    assert re.fullmatch(r"cosyvoice-v3\.5-flash-acme-[0-9a-f]{32}", voice_id)
    live = provider.voices.query_voice(voice_id)
    assert (live.prefix, live.model, live.display_name) == ("acme", "cosyvoice-v3.5-flash", None)


def test_qwen_id_display_name_and_no_review(provider: Provider, tmp_path: Path) -> None:
    voice_id = create(provider, tmp_path, name="support-en", model=QWEN)
    preferred = qwen_preferred_name("acme", "support-en")
    assert re.fullmatch(rf"qwen-tts-vc-{preferred}-voice-\d{{17}}-[0-9a-f]{{4}}", voice_id)
    live = provider.voices.query_voice(voice_id)
    assert (live.prefix, live.display_name, live.status) == ("acme", preferred, "OK")


@pytest.mark.parametrize(
    ("voice_id", "prefix"),
    [
        ("cosyvoice-v2-acme-" + "a" * 32, "acme"),
        ("cosyvoice-v3.5-plus-x9-" + "0" * 32, "x9"),
        ("qwen-tts-vc-acme_supporte1a2-voice-20260101120000123-ab12", "acme"),
        ("qwen-tts-vc-nounderscore-voice-20260101120000123-ab12", None),
        ("my-handmade-voice", None),
        ("cosyvoice-v1-acme-" + "a" * 32, None),  # not a model voicectl knows: not owned
    ],
)
def test_prefix_parsing(voice_id: str, prefix: str | None) -> None:
    assert prefix_of(voice_id) == prefix


def test_invalid_prefix_and_model_are_refused(provider: Provider, tmp_path: Path) -> None:
    url, key = upload(provider, write_wav(tmp_path / "a.wav"))
    with pytest.raises(ProviderError, match="invalid prefix"):
        provider.voices.create_voice(
            name="a", model=COSY, prefix="ACME", audio_url=url, audio_key=key, options=CloneOptions()
        )
    with pytest.raises(ProviderError, match="unknown target_model"):
        provider.voices.create_voice(
            name="a", model="tts-1", prefix="acme", audio_url=url, audio_key=key, options=CloneOptions()
        )


# ---------------------------------------------------------------------------------------------- review


def test_review_goes_deploying_then_ok(provider: Provider, tmp_path: Path) -> None:
    voice_id = create(provider, tmp_path)
    assert provider.voices.query_voice(voice_id).status == "DEPLOYING"
    assert [v.status for v in provider.voices.list_voices()] == ["DEPLOYING"]
    time.sleep(DELAY + 0.05)
    live = provider.voices.query_voice(voice_id)
    assert live.status == "OK"
    assert live.created and live.created.endswith("Z")


def test_resource_link_is_the_url_and_matches_the_key(provider: Provider, tmp_path: Path) -> None:
    url, key = upload(provider, write_wav(tmp_path / "a.wav"), "a")
    voice_id = provider.voices.create_voice(
        name="a", model=COSY, prefix="acme", audio_url=url, audio_key=key, options=CloneOptions("en")
    ).voice_id
    link = provider.voices.query_voice(voice_id).resource_link
    assert link == url
    assert resource_link_matches(link, key)
    assert provider.voices.list_voices()[0].resource_link is None  # like the cloud's list


def test_fail_next_review(provider: Provider, account: LocalAccount, tmp_path: Path) -> None:
    account.fail_next_review()
    failed = create(provider, tmp_path, name="one")
    passed = create(provider, tmp_path, name="two", seed=1)
    time.sleep(DELAY + 0.05)
    assert provider.voices.query_voice(failed).status == "UNDEPLOYED"
    assert provider.voices.query_voice(passed).status == "OK"
    assert "AudioSilentError" in (account.review_error(failed) or "")


@pytest.mark.parametrize(
    "finding",
    [
        "Audio.AudioShortError: audio is 3.0 s long",
        "Audio.DecoderError: cannot decode",
        "Audio.FileSizeExceed: 12 MB",
        "Audio.AudioRateError: 8000 Hz",
        "BadRequest.UnsupportedFileFormat: ogg",
    ],
)
def test_format_failures_are_rejected_at_once(tmp_path: Path, finding: str) -> None:
    p = open_provider(tmp_path, reviewer=ScriptedReviewer({"bad": [finding]}))
    try:
        with pytest.raises(AudioRejected) as err:
            create(p, tmp_path, name="bad")
        assert err.value.code == finding.split(":")[0]
        assert finding in str(err.value)
        assert p.voices.list_voices() == []
    finally:
        p.close()


def test_silent_audio_scripted_undeployed_and_qwen_rejected(tmp_path: Path) -> None:
    p = open_provider(tmp_path, reviewer=ScriptedReviewer({"quiet": ["Audio.AudioSilentError: silent"]}))
    try:
        voice_id = create(p, tmp_path, name="quiet")
        assert p.voices.query_voice(voice_id).status == "DEPLOYING"
        wait_status(p, voice_id, "UNDEPLOYED")
        # Qwen has no asynchronous review: the same finding is a synchronous refusal.
        with pytest.raises(AudioRejected, match="AudioSilentError"):
            create(p, tmp_path, name="quiet", model=QWEN)
    finally:
        p.close()


def test_real_review_silent_audio_ends_undeployed(tmp_path: Path) -> None:
    pytest.importorskip("reconciler.audio.probe")
    p = open_local(make_desired(tmp_path), {"VOICECTL_LOCAL_REVIEW_DELAY": str(DELAY)})
    try:
        good = create(p, tmp_path, name="good")
        silent = create(p, tmp_path, name="silent", silent=True)
        wait_status(p, good, "OK")
        wait_status(p, silent, "UNDEPLOYED")
        with LocalAccount(str(tmp_path)) as acc:
            assert "Audio.AudioSilentError" in (acc.review_error(silent) or "")
    finally:
        p.close()


def test_real_review_rejects_short_and_undecodable_audio(tmp_path: Path) -> None:
    pytest.importorskip("reconciler.audio.probe")
    p = open_local(make_desired(tmp_path), {"VOICECTL_LOCAL_REVIEW_DELAY": str(DELAY)})
    try:
        with pytest.raises(AudioRejected) as err:
            create(p, tmp_path, name="short", seconds=3.0)
        assert err.value.code == "Audio.AudioShortError"
        junk = tmp_path / "junk.wav"
        junk.write_bytes(os.urandom(40_000))
        url, key = upload(p, junk, "junk")
        with pytest.raises(AudioRejected):
            p.voices.create_voice(
                name="junk", model=COSY, prefix="acme", audio_url=url, audio_key=key, options=CloneOptions()
            )
        assert p.voices.list_voices() == []
    finally:
        p.close()


# ------------------------------------------------------------------------------------ quota, update, delete


def test_quota_counts_every_voice(tmp_path: Path, account: LocalAccount) -> None:
    account.add_voice("someone-elses-voice", COSY)
    p = open_provider(tmp_path, quota=3)
    try:
        create(p, tmp_path, name="a")
        create(p, tmp_path, name="b", seed=1)
        with pytest.raises(QuotaExceeded) as err:
            create(p, tmp_path, name="c", seed=2)
        assert err.value.code == "Throttling.AllocationQuota"
        assert "quota is 3" in str(err.value)
        assert len(p.voices.list_voices()) == 3
    finally:
        p.close()


def test_update_keeps_id_and_reviews_again(provider: Provider, tmp_path: Path) -> None:
    voice_id = create(provider, tmp_path)
    wait_status(provider, voice_id, "OK")
    url, _ = upload(provider, write_wav(tmp_path / "new.wav", seed=5), "v")
    provider.voices.update_voice(voice_id, audio_url=url)
    live = provider.voices.query_voice(voice_id)
    assert (live.voice_id, live.status, live.resource_link) == (voice_id, "DEPLOYING", url)
    wait_status(provider, voice_id, "OK")
    assert [v.voice_id for v in provider.voices.list_voices()] == [voice_id]


def test_update_refusals(tmp_path: Path) -> None:
    p = open_provider(tmp_path, reviewer=ScriptedReviewer({"bad": ["Audio.DecoderError: no"]}))
    try:
        voice_id = create(p, tmp_path)
        before = p.voices.query_voice(voice_id)
        bad_url, _ = upload(p, write_wav(tmp_path / "bad.wav", seed=3), "bad")
        with pytest.raises(AudioRejected):
            p.voices.update_voice(voice_id, audio_url=bad_url)
        after = p.voices.query_voice(voice_id)
        assert (after.resource_link, after.modified) == (before.resource_link, before.modified)  # status may advance
        with pytest.raises(VoiceNotFound):
            p.voices.update_voice("cosyvoice-v2-acme-" + "0" * 32, audio_url=bad_url)
        qwen_id = create(p, tmp_path, name="q", model=QWEN)
        good_url, _ = upload(p, write_wav(tmp_path / "q2.wav", rate=24000, seed=4), "q")
        with pytest.raises(ProviderError, match="cannot be updated"):
            p.voices.update_voice(qwen_id, audio_url=good_url)
    finally:
        p.close()


def test_delete_is_idempotent_and_query_missing_raises(provider: Provider, tmp_path: Path) -> None:
    voice_id = create(provider, tmp_path)
    provider.voices.delete_voice(voice_id)
    provider.voices.delete_voice(voice_id)
    assert provider.voices.list_voices() == []
    with pytest.raises(VoiceNotFound) as err:
        provider.voices.query_voice(voice_id)
    assert err.value.code == "BadRequest.ResourceNotExist"


def test_unmanaged_and_foreign_voices_are_listed(provider: Provider, account: LocalAccount, tmp_path: Path) -> None:
    account.add_voice("cosyvoice-v2-other-" + "1" * 32, COSY)
    account.add_voice("handmade", "cosyvoice-v1", status="UNDEPLOYED")
    mine = create(provider, tmp_path)
    listed = {v.voice_id: v for v in provider.voices.list_voices()}
    assert set(listed) == {"cosyvoice-v2-other-" + "1" * 32, "handmade", mine}
    assert listed["handmade"].prefix is None and listed["handmade"].status == "UNDEPLOYED"
    assert listed["cosyvoice-v2-other-" + "1" * 32].prefix == "other"
    assert account.remove_voice("handmade") is True
    assert "handmade" not in {v.voice_id for v in provider.voices.list_voices()}
    account.set_status(mine, "UNDEPLOYED")
    assert provider.voices.query_voice(mine).status == "UNDEPLOYED"
    with pytest.raises(VoicectlError, match="already exists"):
        account.add_voice(mine, COSY)


# ------------------------------------------------------------------------------------------- audio store


def test_audio_store_uploads_once_and_signs(provider: Provider, tmp_path: Path) -> None:
    path = write_wav(tmp_path / "a.wav")
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    key = f"voicectl/audio/a b/{sha}.wav"
    assert provider.audio.ensure_uploaded(path=str(path), key=key, sha256=sha, content_type="audio/wav")
    assert not provider.audio.ensure_uploaded(path=str(path), key=key, sha256=sha, content_type="audio/wav")
    stored = tmp_path / ".voicectl" / "local" / "objects" / "voicectl" / "audio" / "a b" / f"{sha}.wav"
    assert stored.read_bytes() == path.read_bytes()
    url = provider.audio.signed_url(key, 60)
    assert re.fullmatch(r"voicectl-local://objects/voicectl%2Faudio%2Fa%20b%2F[0-9a-f]{64}\.wav\?expires=\d+", url)
    assert resolve_audio_url(str(tmp_path / ".voicectl/local/objects"), url) == str(stored)


def test_audio_store_refuses_changed_content_and_bad_keys(provider: Provider, tmp_path: Path) -> None:
    path = write_wav(tmp_path / "a.wav")
    with pytest.raises(ProviderError, match="changed while uploading"):
        provider.audio.ensure_uploaded(path=str(path), key="k/x.wav", sha256="0" * 64, content_type="audio/wav")
    with pytest.raises(ProviderError, match="invalid object key"):
        provider.audio.signed_url("../escape.wav", 60)


@pytest.mark.parametrize("kind", ["expired", "missing", "https", "garbled"])
def test_unreachable_audio_url(provider: Provider, tmp_path: Path, kind: str) -> None:
    url, key = upload(provider, write_wav(tmp_path / "a.wav"))
    url = {
        "expired": provider.audio.signed_url(key, -10),
        "missing": provider.audio.signed_url("voicectl/audio/v/none.wav", 60),
        "https": "https://example.com/a.wav",
        "garbled": url.split("?")[0],
    }[kind]
    with pytest.raises(ProviderError, match="audio url not reachable") as err:
        provider.voices.create_voice(
            name="v", model=COSY, prefix="acme", audio_url=url, audio_key=key, options=CloneOptions()
        )
    assert err.value.code == "InternalError"


@pytest.mark.parametrize("ref", ["oss://bucket/key.wav", "https://example.com/a.wav"])
def test_remote_audio_refs_need_aliyun(provider: Provider, ref: str) -> None:
    with pytest.raises(VoicectlError, match="use a local file with provider local"):
        provider.audio.url_for(ref, 60)


# ------------------------------------------------------------------------------------------------ binder


def ok_voice(account: LocalAccount, n: int = 1) -> str:
    voice_id = f"{COSY}-acme-{n:032x}"
    account.add_voice(voice_id, COSY)
    return voice_id


def test_bind_refuses_missing_and_unready_voices(provider: Provider, account: LocalAccount, tmp_path: Path) -> None:
    with pytest.raises(ProviderError, match="does not exist"):
        provider.binder.bind(agent="ag", node="tts", voice_id="nope", instances=())
    deploying = create(provider, tmp_path)
    account.set_status(deploying, "DEPLOYING")  # held, so a slow machine cannot finish the review first
    with pytest.raises(ProviderError, match="DEPLOYING"):
        provider.binder.bind(agent="ag", node="tts", voice_id=deploying, instances=())
    account.set_status(deploying, "UNDEPLOYED")
    with pytest.raises(ProviderError, match="UNDEPLOYED"):
        provider.binder.bind(agent="ag", node="tts", voice_id=deploying, instances=())
    assert account.node_voice("ag") is None


def test_bind_points_node_and_instances(provider: Provider, account: LocalAccount) -> None:
    v1, v2 = ok_voice(account, 1), ok_voice(account, 2)
    account.add_instance("i-1", "ag")
    account.add_instance("i-2", "ag", voice_id=v1)
    account.add_instance("i-other", "ag")
    provider.binder.bind(agent="ag", node="tts", voice_id=v2, instances=("i-1", "i-2"))
    assert account.node_voice("ag", "tts") == v2
    assert (account.instance_voice("i-1"), account.instance_voice("i-2")) == (v2, v2)
    assert account.instance_voice("i-other") is None  # not listed: untouched
    with pytest.raises(ProviderError, match="instance i-gone not found"):
        provider.binder.bind(agent="ag", node="tts", voice_id=v1, instances=("i-1", "i-gone"))
    assert account.node_voice("ag") == v2 and account.instance_voice("i-1") == v2  # nothing half-done
    provider.binder.unbind(agent="ag", node="tts", instances=("i-1",))
    assert account.node_voice("ag") is None
    assert account.instance_voice("i-1") == v2  # unbind leaves instances alone


def test_read_bindings_reports_targets_state_and_drift(provider: Provider, account: LocalAccount) -> None:
    v1, v2 = ok_voice(account, 1), ok_voice(account, 2)
    account.add_instance("i-1", "ag")
    account.add_instance("i-2", "ag")
    provider.binder.bind(agent="ag", node="tts", voice_id=v1, instances=("i-1", "i-2"))
    account.set_instance_voice("i-2", v2)  # someone re-pointed a running instance
    targets = [BindingSpec(agent="ag", voice="a", model=COSY, instances=("i-1", "i-2", "i-ended"))]
    state = StateDoc(
        bindings={
            "binding.old.tts": BindingRecord(agent="old", node="tts", voice="b", voice_id=v2, model=COSY),
        }
    )
    live = provider.binder.read_bindings(targets, state)
    assert live == [
        LiveBinding(agent="ag", node="tts", voice_id=v1, drifted_instances=("i-2", "i-ended")),
        LiveBinding(agent="old", node="tts", voice_id=None),
    ]
    account.set_node_voice("old", "tts", v2)
    assert provider.binder.read_bindings([], state)[0].voice_id == v2


# ------------------------------------------------------------------------------------------- concurrency


def test_ten_threads_create_at_once(tmp_path: Path) -> None:
    setup = open_provider(tmp_path)
    paths = [upload(setup, write_wav(tmp_path / f"t{i}.wav", seed=i), f"t{i}") for i in range(10)]
    setup.close()
    # Latency widens the window between the quota count and the insert, where a race would show.
    p = open_provider(tmp_path, quota=7, VOICECTL_LOCAL_LATENCY="0.05")
    ids: list[str] = []
    refused: list[Exception] = []
    barrier = threading.Barrier(10)

    def worker(i: int) -> None:
        barrier.wait()
        url, key = paths[i]
        try:
            ids.append(
                p.voices.create_voice(
                    name=f"t{i}", model=COSY, prefix="acme", audio_url=url, audio_key=key, options=CloneOptions()
                ).voice_id
            )
        except QuotaExceeded as exc:
            refused.append(exc)

    try:
        threads = [threading.Thread(target=worker, args=(i,)) for i in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(ids) == 7 == len(set(ids)) and len(refused) == 3
        assert {v.voice_id for v in p.voices.list_voices()} == set(ids)
    finally:
        p.close()


CREATOR = """
import json, sys
from reconciler.errors import QuotaExceeded
from reconciler.model import AccountSpec, CloneOptions, Desired
from reconciler.providers.local import open_local

base, tag, url, key = sys.argv[1:5]
desired = Desired(path=base + "/voices.yaml", base_dir=base, file_sha256="", account=AccountSpec(quota=6),
                  voices=(), bindings=())
p = open_local(desired, {"VOICECTL_LOCAL_LATENCY": "0.02"}, reviewer=lambda path, model: [])
made, refused = 0, 0
for i in range(5):
    try:
        p.voices.create_voice(name=f"{tag}{i}", model="cosyvoice-v2", prefix="vc", audio_url=url, audio_key=key,
                              options=CloneOptions())
        made += 1
    except QuotaExceeded:
        refused += 1
p.close()
print(json.dumps({"made": made, "refused": refused}))
"""


def test_two_processes_share_the_account_and_its_quota(tmp_path: Path) -> None:
    p = open_provider(tmp_path)
    url, key = upload(p, write_wav(tmp_path / "shared.wav"))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CREATOR, str(tmp_path), tag, url, key], stdout=subprocess.PIPE, text=True, env=env
        )
        for tag in ("a", "b")
    ]
    results = [json.loads(proc.communicate(timeout=60)[0]) for proc in procs]
    assert all(proc.returncode == 0 for proc in procs)
    assert sum(r["made"] for r in results) == 6 and sum(r["refused"] for r in results) == 4
    assert len(p.voices.list_voices()) == 6
    p.close()


def test_latency_is_added_to_calls(tmp_path: Path) -> None:
    p = open_provider(tmp_path, VOICECTL_LOCAL_LATENCY="0.2")
    try:
        started = time.monotonic()
        p.voices.list_voices()
        assert time.monotonic() - started >= 0.2
    finally:
        p.close()
