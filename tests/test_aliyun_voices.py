"""VoiceService on DashScope (CosyVoice through the SDK's HTTP call, Qwen over HTTP) against the emulator."""

# The `emu` fixture is imported from the support module; test arguments named after it are not redefinitions.
# ruff: noqa: F811

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest

from reconciler.errors import AudioRejected, AuthError, ProviderError, QuotaExceeded, VoiceNotFound
from reconciler.model import CloneOptions
from reconciler.naming import qwen_preferred_name, resource_link_matches
from reconciler.providers.aliyun import NOTES, open_aliyun
from reconciler.providers.aliyun.dashscope_http import DashScopeHttp
from reconciler.providers.aliyun.state_oss import OssStateStore
from reconciler.providers.aliyun.voices import AliyunVoiceService
from tests.emulator import Emulator
from tests.test_aliyun_support import (
    API_KEY,
    FAST,
    SECRETS,
    desired,
    emu,  # noqa: F401  (the fixture)
    upload,
    voice_service,
)

QWEN = "qwen3-tts-vc-2026-01-22"


def wait_status(service, voice_id: str, status: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if service.query_voice(voice_id).status == status:
            return
        time.sleep(0.05)
    raise AssertionError(f"{voice_id} never reached {status}")


def create(service, up, *, name: str = "support", model: str = "cosyvoice-v2") -> str:
    return service.create_voice(
        name=name, model=model, prefix="acme", audio_url=up.url, audio_key=up.key, options=CloneOptions("en")
    ).voice_id


def test_cosyvoice_lifecycle(emu: Emulator, tmp_path: Path) -> None:
    service = voice_service(emu.env())
    up = upload(emu.env(), tmp_path)
    voice_id = create(service, up)
    assert voice_id.startswith("cosyvoice-v2-acme-")

    [live] = service.list_voices()
    assert (live.voice_id, live.model, live.prefix, live.status) == (voice_id, "cosyvoice-v2", "acme", "DEPLOYING")
    detail = service.query_voice(voice_id)
    assert resource_link_matches(detail.resource_link, up.key)
    assert "?" not in (detail.resource_link or "")  # the signature never leaves the adapter
    wait_status(service, voice_id, "OK")

    up2 = upload(emu.env(), tmp_path, seconds=13.0)
    service.update_voice(voice_id, audio_url=up2.url)
    assert service.query_voice(voice_id).status == "DEPLOYING"
    assert resource_link_matches(service.query_voice(voice_id).resource_link, up2.key)

    service.delete_voice(voice_id)
    assert service.list_voices() == []
    service.delete_voice(voice_id)  # already gone: done, not an error
    with pytest.raises(VoiceNotFound, match=voice_id):
        service.query_voice(voice_id)


def test_list_pages_past_100_and_counts_both_families(emu: Emulator) -> None:
    for i in range(230):
        prefix = "acme" if i % 2 else "other"
        emu.add_voice(f"cosyvoice-v2-{prefix}-{i:032x}", "cosyvoice-v2")
    for i in range(3):
        emu.add_voice(f"qwen-tts-vc-zz_unmanaged{i}-voice-2026010100000{i}-abcd", QWEN)
    emu.clear_calls()

    voices = voice_service(emu.env()).list_voices()

    assert len(voices) == 233
    assert len({v.voice_id for v in voices}) == 233
    assert sum(v.prefix == "acme" for v in voices) == 115
    # 100 asked, 50 served per page (a short page is not the end): 4 x 50 + 30, then the empty page that ends it.
    assert emu.count("dashscope", "list_voice") == 6
    assert emu.count("dashscope", "list") == 1
    qwen = [v for v in voices if v.model == QWEN]
    assert {v.prefix for v in qwen} == {"zz"} and all(v.status == "OK" for v in qwen)


def test_qwen_create_list_delete(emu: Emulator, tmp_path: Path) -> None:
    service = voice_service(emu.env())
    up = upload(emu.env(), tmp_path, rate=24000)
    voice_id = service.create_voice(
        name="support-en", model=QWEN, prefix="acme", audio_url=up.url, audio_key=up.key, options=CloneOptions("en")
    ).voice_id
    preferred = qwen_preferred_name("acme", "support-en")
    [live] = service.list_voices()
    assert (live.voice_id, live.model, live.status, live.prefix, live.display_name) == (
        voice_id,
        QWEN,
        "OK",
        "acme",
        preferred,
    )
    assert service.query_voice(voice_id).display_name == preferred
    with pytest.raises(ProviderError, match="replace"):
        service.update_voice(voice_id, audio_url=up.url)
    service.delete_voice(voice_id)
    service.delete_voice(voice_id)
    assert service.list_voices() == []
    with pytest.raises(VoiceNotFound):
        service.query_voice(voice_id)


def test_error_mapping(emu: Emulator, tmp_path: Path) -> None:
    env = emu.env()
    service = voice_service(env)
    up = upload(env, tmp_path)

    bad_key = voice_service({**env, "DASHSCOPE_API_KEY": "sk-wrong-key-123"})
    with pytest.raises(AuthError, match="DASHSCOPE_API_KEY") as auth:
        bad_key.list_voices()
    assert "sk-wrong-key-123" not in str(auth.value)

    missing = voice_service({k: v for k, v in env.items() if k != "DASHSCOPE_API_KEY"})
    with pytest.raises(AuthError, match="DASHSCOPE_API_KEY"):
        missing.list_voices()
    assert emu.count("dashscope", "list_voice") == 1  # the missing key never reached the wire

    short = upload(env, tmp_path, name="short", seconds=3.0)
    with pytest.raises(AudioRejected, match=r"too short[\s\S]*one speaker") as rejected:
        create(service, short)
    assert rejected.value.code == "Audio.AudioShortError"
    assert "x-oss-signature" not in str(rejected.value)

    with pytest.raises(VoiceNotFound, match="cosyvoice-v2-acme-nope"):
        service.query_voice("cosyvoice-v2-acme-nope")
    with pytest.raises(VoiceNotFound):
        service.update_voice("cosyvoice-v2-acme-nope", audio_url=up.url)

    emu.voice_limit = 1
    emu.add_voice("cosyvoice-v2-other-0001", "cosyvoice-v2")
    with pytest.raises(QuotaExceeded, match="voice limit"):
        create(service, up)


def test_unreachable_audio_is_reported_not_cloned_twice(emu: Emulator, tmp_path: Path) -> None:
    service = voice_service(emu.env())
    up = upload(emu.env(), tmp_path)
    # No answer from the audio's host: a 500 that may have cloned, so each retry comes after a lookup.
    unreachable = "http://127.0.0.1:9/voicectl/audio/x.wav?x-oss-signature=abc"
    with pytest.raises(ProviderError, match="fetch the audio URL") as err:
        service.create_voice(
            name="x", model="cosyvoice-v2", prefix="acme", audio_url=unreachable, audio_key=None, options=CloneOptions()
        )
    assert "x-oss-signature" not in str(err.value) and "abc" not in str(err.value)
    assert emu.voices() == []
    assert emu.count("dashscope", "create_voice") == 3  # each retry only after the lookup found nothing

    # The host answered 404: the download failed, which no retry mends.
    emu.clear_calls()
    gone = up.url.replace(up.key.rsplit("/", 1)[-1], "missing.wav")
    with pytest.raises(ProviderError, match=r"could not download the audio[\s\S]*url_ttl") as err:
        service.create_voice(
            name="x", model="cosyvoice-v2", prefix="acme", audio_url=gone, audio_key=None, options=CloneOptions()
        )
    assert err.value.code == "BadRequest.InputDownloadFailed" and not err.value.retryable
    assert "x-oss-signature" not in str(err.value)
    assert emu.count("dashscope", "create_voice") == 1


def test_429_bursts_converge(emu: Emulator, tmp_path: Path) -> None:
    service = voice_service(emu.env())
    up = upload(emu.env(), tmp_path)
    emu.inject("dashscope", "list_voice", "429", times=3)
    emu.inject("dashscope", "create_voice", "429", times=2)
    emu.inject("dashscope", "delete_voice", "500", times=2)
    assert service.list_voices() == []
    voice_id = create(service, up)  # a 429 is a refusal, not an ambiguity: retried without a lookup
    assert [v["voice_id"] for v in emu.voices()] == [voice_id]
    assert emu.count("dashscope", "query_voice") == 0
    service.delete_voice(voice_id)
    assert emu.voices() == []


def test_limiter_keeps_each_family_under_its_rate(emu: Emulator) -> None:
    env = emu.env()
    # Two ports on one account (8 threads in all, CosyVoice and Qwen lists mixed) share each family's budget.
    services = (voice_service(env), voice_service(env))
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            services[i % 2].list_voices()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert emu.count("dashscope") == 16
    assert emu.max_rate("dashscope", family="cosyvoice") <= 10
    assert emu.max_rate("dashscope", family="qwen") <= 3
    assert all(c.status == 200 for c in emu.calls)  # never throttled: the limiter ran ahead of the server


def test_create_with_drop_after_commit_returns_the_one_voice(emu: Emulator, tmp_path: Path) -> None:
    service = voice_service(emu.env())
    up = upload(emu.env(), tmp_path)
    # A voice of the same prefix and model cloned from other audio must not be mistaken for ours.
    other = upload(emu.env(), tmp_path, name="other", seconds=14.0)
    emu.add_voice("cosyvoice-v2-acme-older", "cosyvoice-v2", resource_link=other.url)
    emu.inject("dashscope", "create_voice", "drop_after_commit")

    voice_id = create(service, up)

    mine = [v for v in emu.voices() if v["voice_id"] != "cosyvoice-v2-acme-older"]
    assert [v["voice_id"] for v in mine] == [voice_id]
    assert emu.count("dashscope", "create_voice") == 1  # found by lookup, never re-sent


def test_create_with_drop_before_commit_creates_after_lookup(emu: Emulator, tmp_path: Path) -> None:
    service = voice_service(emu.env())
    up = upload(emu.env(), tmp_path)
    emu.inject("dashscope", "create_voice", "drop_before_commit")
    voice_id = create(service, up)
    assert [v["voice_id"] for v in emu.voices()] == [voice_id]
    assert emu.count("dashscope", "create_voice") == 2
    assert emu.count("dashscope", "list_voice") >= 1  # looked before cloning again


def test_create_with_500_after_timeout_like_failure_is_looked_up(emu: Emulator, tmp_path: Path) -> None:
    service = voice_service(emu.env())
    up = upload(emu.env(), tmp_path)
    emu.inject("dashscope", "create_voice", "500")
    voice_id = create(service, up)
    assert [v["voice_id"] for v in emu.voices()] == [voice_id]
    emu.fail_review(voice_id)  # the status is passed through as the service reports it
    wait_status(service, voice_id, "UNDEPLOYED")


def test_create_that_times_out_is_found_once_the_server_finishes(emu: Emulator, tmp_path: Path) -> None:
    up = upload(emu.env(), tmp_path)
    # The answer takes longer than the client waits; the server still clones the voice afterwards.
    service = AliyunVoiceService(DashScopeHttp(emu.env(), timeout=(2.0, 0.3)), FAST, settle=(1.0, 2.0))
    emu.inject("dashscope", "create_voice", ("latency", 0.6))
    voice_id = create(service, up)
    time.sleep(1.0)  # let any create still in flight land, so that a duplicate would show
    assert [v["voice_id"] for v in emu.voices()] == [voice_id]
    assert emu.count("dashscope", "create_voice") == 1


def test_qwen_create_after_drop_is_not_confused_with_the_replaced_voice(emu: Emulator, tmp_path: Path) -> None:
    service = voice_service(emu.env())
    up = upload(emu.env(), tmp_path, rate=24000)
    old = service.create_voice(
        name="bot", model=QWEN, prefix="acme", audio_url=up.url, audio_key=None, options=CloneOptions()
    ).voice_id
    up2 = upload(emu.env(), tmp_path, rate=24000, seconds=13.0)
    emu.inject("dashscope", "create", "drop_after_commit")

    new = service.create_voice(
        name="bot", model=QWEN, prefix="acme", audio_url=up2.url, audio_key=None, options=CloneOptions()
    ).voice_id

    assert new != old
    assert sorted(v["voice_id"] for v in emu.voices()) == sorted([old, new])
    assert emu.count("dashscope", "create") == 2


def test_qwen_create_after_drop_before_commit(emu: Emulator, tmp_path: Path) -> None:
    service = voice_service(emu.env())
    up = upload(emu.env(), tmp_path, rate=24000)
    emu.inject("dashscope", "create", "drop_before_commit")
    voice_id = service.create_voice(
        name="bot", model=QWEN, prefix="acme", audio_url=up.url, audio_key=None, options=CloneOptions()
    ).voice_id
    assert [v["voice_id"] for v in emu.voices()] == [voice_id]


def test_open_aliyun_wires_ports_lazily(emu: Emulator, tmp_path: Path) -> None:
    provider = open_aliyun(desired(tmp_path, emu), {})  # no credentials: opening needs none
    assert provider.name == "aliyun"
    assert provider.notes == NOTES and "outside the API" in NOTES[0] and "agent-config" in NOTES[0]
    assert isinstance(provider.state, OssStateStore) and provider.state.location == "oss://voices/voicectl/state"
    with pytest.raises(AuthError, match="DASHSCOPE_API_KEY"):
        provider.voices.list_voices()
    with pytest.raises(AuthError, match="ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET"):
        provider.state.read()
    with pytest.raises(AuthError, match="ALIBABA_CLOUD_ACCESS_KEY_ID"):
        provider.binder.bind(agent="a", node="tts", voice_id="v", instances=("i1",))
    provider.close()

    live = open_aliyun(desired(tmp_path, emu), emu.env())
    assert live.voices.list_voices() == []
    assert live.state.read().serial == 0
    live.close()


def test_open_aliyun_with_local_state(emu: Emulator, tmp_path: Path) -> None:
    from reconciler.state.local import LocalStateStore

    provider = open_aliyun(desired(tmp_path, emu, backend="local"), emu.env())
    assert isinstance(provider.state, LocalStateStore)
    assert provider.state.location == str(tmp_path / ".voicectl" / "state.json")


def test_secrets_never_logged_or_raised(emu: Emulator, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    env = emu.env()
    service = voice_service(env)
    up = upload(env, tmp_path)
    emu.inject("dashscope", "create_voice", "drop_after_commit")
    voice_id = create(service, up)
    service.query_voice(voice_id)
    messages: list[str] = []
    for bad in (
        lambda: voice_service({**env, "DASHSCOPE_API_KEY": API_KEY + "x"}).list_voices(),
        lambda: create(service, upload(env, tmp_path, name="short", seconds=2.0)),
    ):
        with pytest.raises(ProviderError) as err:
            bad()
        messages.append(str(err.value))
    text = caplog.text + "\n".join(messages)
    assert "dashscope create_voice" in caplog.text  # the adapter does log, at debug
    for secret in SECRETS:
        assert secret not in text
    assert "x-oss-signature" not in text


def test_a_qwen_create_found_by_the_lookup_keeps_a_fallback_warning(emu: Emulator, tmp_path: Path) -> None:
    """The fallback-mode flag comes only in the create's answer: when that answer is lost and the lookup
    finds the voice, the warning says the fallback state is unknown instead of vanishing."""
    service = voice_service(emu.env())
    up = upload(emu.env(), tmp_path, rate=24000)
    emu.degrade_next_qwen_create("no_valid_asr_segments")
    emu.inject("dashscope", "create", "drop_after_commit")

    created = service.create_voice(
        name="bot", model=QWEN, prefix="acme", audio_url=up.url, audio_key=None, options=CloneOptions()
    )

    assert emu.count("dashscope", "create") == 1  # found, not created twice
    assert created.warning is not None and "fallback mode" in created.warning and "unknown" in created.warning
