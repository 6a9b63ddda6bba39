"""Cloud fidelity, round 2 (issue 10): one test per divergence between the adapters and the real services.

Each runs the real SDKs through our adapters against the loopback emulator, which answers as the service
does on that point (region-bound keys, per-family rate limits, capped pages, Qwen's own not-found code...).
"""

# The `emu` fixture is imported from the support module; test arguments named after it are not redefinitions.
# ruff: noqa: F811

from __future__ import annotations

import dataclasses
import hashlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.catalog import MODELS, dashscope_endpoints
from reconciler.errors import AudioRejected, AuthError, ProviderError, QuotaExceeded
from reconciler.model import CloneOptions
from reconciler.naming import audio_key, endpoint_region, enrollment_family
from reconciler.providers.aliyun import dashscope_http
from reconciler.providers.aliyun.audio_store import OssAudioStore
from reconciler.providers.aliyun.dashscope_http import DashScopeHttp
from reconciler.providers.aliyun.oss import OssAccount
from reconciler.providers.aliyun.voices import AliyunVoiceService
from tests.audio_fixtures import write_wav
from tests.emulator import Emulator
from tests.test_aliyun_support import (
    AK_ID,
    AK_SECRET,
    API_KEY,
    FAST,
    binder,
    emu,  # noqa: F401  (the fixture)
    state_store,
    upload,
    voice_service,
)

QWEN = "qwen3-tts-vc-2026-01-22"
SG_KEY = "sk-SECRET-singapore-0002"


def create(service: AliyunVoiceService, url: str, model: str = "cosyvoice-v2", **options: Any) -> str:
    return service.create_voice(
        name="support", model=model, prefix="acme", audio_url=url, audio_key=None, options=CloneOptions("en", **options)
    ).voice_id


# ------------------------------------------------------------------------------------------------ 1
def test_qwen_delete_of_a_missing_voice_is_done(emu: Emulator, tmp_path: Path) -> None:
    service = voice_service(emu.env())
    up = upload(emu.env(), tmp_path, rate=24000)
    voice_id = create(service, up.url, QWEN)
    emu.remove_voice(voice_id)  # gone already (deleted elsewhere, or our first delete's answer was lost)

    service.delete_voice(voice_id)

    [answer] = [c for c in emu.calls if c.action == "delete"]
    assert answer.status == 400  # the service said BadRequest.VoiceNotFound, which means "done"


# ------------------------------------------------------------------------------------------------ 2
def test_region_and_workspace_pick_the_dashscope_host() -> None:
    beijing, singapore = dashscope_endpoints("cn-beijing"), dashscope_endpoints("ap-southeast-1")
    assert (beijing.http, beijing.websocket) == (
        "https://dashscope.aliyuncs.com/api/v1",
        "wss://dashscope.aliyuncs.com/api-ws/v1/inference",
    )
    assert (singapore.http, singapore.websocket) == (
        "https://dashscope-intl.aliyuncs.com/api/v1",
        "wss://dashscope-intl.aliyuncs.com/api-ws/v1/inference",
    )
    workspace = dashscope_endpoints("ap-southeast-1", "ws-123")
    assert workspace.http == "https://ws-123.ap-southeast-1.maas.aliyuncs.com/api/v1"
    assert workspace.websocket == "wss://ws-123.ap-southeast-1.maas.aliyuncs.com/api-ws/v1/inference"
    assert workspace.realtime == "wss://ws-123.ap-southeast-1.maas.aliyuncs.com/api-ws/v1/realtime"
    assert DashScopeHttp({}, region="ap-southeast-1").base_url == singapore.http
    with pytest.raises(ProviderError, match="cn-beijing, ap-southeast-1"):
        DashScopeHttp({}, region="cn-shanghai")


@pytest.fixture
def two_regions(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    """An emulator serving Beijing and Singapore, with the adapter's region table pointed at it."""
    with Emulator(
        api_key=API_KEY,
        access_key_id=AK_ID,
        access_key_secret=AK_SECRET,
        regions=("ap-southeast-1",),
        api_keys={SG_KEY: "ap-southeast-1"},
        review_delay=0.05,
    ) as emulator:
        real = dashscope_endpoints

        def local(region: str, workspace: str | None = None):  # type: ignore[no-untyped-def]
            return dataclasses.replace(real(region, workspace), http=emulator.dashscope_base_url_for(region))

        monkeypatch.setattr(dashscope_http, "dashscope_endpoints", local)
        yield emulator


def test_account_region_moves_dashscope(two_regions: Emulator) -> None:
    emu = two_regions
    emu.add_voice("cosyvoice-v3-plus-acme-" + "1" * 32, "cosyvoice-v3-plus", region="ap-southeast-1")
    emu.add_voice("cosyvoice-v2-acme-" + "2" * 32, "cosyvoice-v2")  # Beijing
    env = {"DASHSCOPE_API_KEY": SG_KEY}  # no DASHSCOPE_HTTP_BASE_URL: the region decides

    singapore = AliyunVoiceService(DashScopeHttp(env, region="ap-southeast-1"), FAST)
    assert [v.voice_id for v in singapore.list_voices()] == ["cosyvoice-v3-plus-acme-" + "1" * 32]

    # A Singapore key sent to Beijing is unknown there: 401, with the fix.
    beijing = AliyunVoiceService(DashScopeHttp(env, region="cn-beijing"), FAST)
    with pytest.raises(AuthError, match=r"belongs to one region[\s\S]*account.region") as err:
        beijing.list_voices()
    assert err.value.code == "InvalidApiKey" and SG_KEY not in str(err.value)


def test_workspace_header_is_sent_and_a_foreign_workspace_is_named(emu: Emulator, tmp_path: Path) -> None:
    emu.workspaces = {"ws-mine": API_KEY, "ws-theirs": "sk-someone-else"}
    env = emu.env()
    mine = AliyunVoiceService(DashScopeHttp(env, workspace="ws-mine"), FAST)
    assert mine.list_voices() == []  # both families' calls carried the header (a wrong one is refused)
    up = upload(env, tmp_path, rate=24000)
    assert create(mine, up.url, QWEN).startswith("qwen-tts-vc-acme_")

    theirs = AliyunVoiceService(DashScopeHttp(env, workspace="ws-theirs"), FAST)
    with pytest.raises(AuthError, match=r"workspace ws-theirs[\s\S]*account.workspace") as err:
        theirs.list_voices()
    assert err.value.code == "Workspace.AccessDenied"


# ------------------------------------------------------------------------------------------------ 3
def test_oss_signs_for_the_buckets_region_not_the_accounts(tmp_path: Path) -> None:
    assert endpoint_region("https://oss-ap-southeast-1-internal.aliyuncs.com") == "ap-southeast-1"
    assert endpoint_region("https://voices.oss-cn-hangzhou.aliyuncs.com") == "cn-hangzhou"
    assert endpoint_region("http://127.0.0.1:8001") is None
    with Emulator(
        access_key_id=AK_ID, access_key_secret=AK_SECRET, buckets=(), bucket_regions={"sg-voices": "ap-southeast-1"}
    ) as emu:
        # The account is in Beijing; its bucket is in Singapore, as the configured endpoint says.
        oss = OssAccount(
            emu.env(), region="cn-beijing", endpoint="https://oss-ap-southeast-1.aliyuncs.com", policy=FAST
        )
        store = OssAudioStore(oss, "sg-voices")
        path = write_wav(tmp_path / "a.wav", seconds=11.0)
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        key = audio_key("voicectl/audio/", "a", sha, "wav")
        assert store.ensure_uploaded(path=str(path), key=key, sha256=sha, content_type="audio/wav")
        import requests

        assert requests.get(store.signed_url(key, 60), timeout=5).content == path.read_bytes()


def test_audio_urls_are_never_signed_for_an_internal_endpoint() -> None:
    env = {"ALIBABA_CLOUD_ACCESS_KEY_ID": AK_ID, "ALIBABA_CLOUD_ACCESS_KEY_SECRET": AK_SECRET}
    internal = "https://oss-cn-beijing-internal.aliyuncs.com"
    # Uploading through the internal endpoint (from inside the VPC) is fine; Model Studio fetches from outside.
    oss = OssAccount(
        env, region="cn-beijing", endpoint="https://oss-cn-beijing.aliyuncs.com", upload_endpoint=internal, policy=FAST
    )
    assert oss.endpoint == internal
    url = OssAudioStore(oss, "voices").signed_url("voicectl/audio/a/x.wav", 60)
    assert url.startswith("https://voices.oss-cn-beijing.aliyuncs.com/") and "-internal" not in url
    # Even when the only endpoint configured is the internal one.
    only_internal = OssAccount(env, region="cn-beijing", endpoint=internal, policy=FAST)
    url = OssAudioStore(only_internal, "voices").url_for("oss://voices/k.wav", 60)
    assert url.startswith("https://voices.oss-cn-beijing.aliyuncs.com/") and "-internal" not in url


# ------------------------------------------------------------------------------------------------ 4
def test_ice_request_level_not_found_is_an_error_not_a_gone_instance(emu: Emulator) -> None:
    emu.add_instance("live", "agent1", {"TtsConfig": {"VoiceId": "old"}})
    b = binder(emu.env())
    emu.inject("ice", "UpdateAIAgentInstance", ("error", 404, "InvalidAction.NotFound", "Specified api is not found."))
    with pytest.raises(ProviderError, match=r"InvalidAction\.NotFound"):
        b.bind(agent="agent1", node="tts", voice_id="new", instances=("live",))
    emu.inject("ice", "UpdateAIAgentInstance", ("error", 404, "InvalidRegionId.NotFound", "The region is not found."))
    with pytest.raises(ProviderError, match=r"InvalidRegionId\.NotFound"):
        b.bind(agent="agent1", node="tts", voice_id="new", instances=("live",))
    assert emu.instance("live")["AgentConfig"]["TtsConfig"]["VoiceId"] == "old"
    # An instance that really is gone is still skipped.
    b.bind(agent="agent1", node="tts", voice_id="new", instances=("never-existed", "live"))
    assert emu.instance("live")["AgentConfig"]["TtsConfig"]["VoiceId"] == "new"


# ------------------------------------------------------------------------------------------------ 5
def test_rate_limits_are_per_family_and_bursts_never_reach_the_server() -> None:
    with Emulator(api_key=API_KEY, rate_limit=10, qwen_rate_limit=180) as emu:
        env = emu.env()
        services = [AliyunVoiceService(DashScopeHttp(env), FAST) for _ in range(2)]
        errors: list[BaseException] = []

        def run(fn: object) -> None:
            try:
                fn()  # type: ignore[operator]
            except BaseException as exc:
                errors.append(exc)

        jobs = [lambda s=services[i % 2]: s.cosyvoice.list_all() for i in range(10)]
        jobs += [lambda s=services[i % 2]: s.qwen.list_all() for i in range(6)]
        threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
        start = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        took = time.monotonic() - start
        assert not errors
        # Qwen's 180/min is also 3 per second: six calls take two windows, and the server refused none.
        assert [c.status for c in emu.calls] == [200] * 16
        assert emu.max_rate("dashscope", family="qwen") <= 3
        assert emu.max_rate("dashscope", family="cosyvoice") <= 10
        # The ten CosyVoice calls did not wait behind Qwen's: each family has its own budget, so the last of them
        # arrives before Qwen's second window opens (an order, not a wall time: it holds on a loaded machine).
        cosy = sorted(c.at for c in emu.calls if c.params.get("model") == "voice-enrollment")
        qwen = sorted(c.at for c in emu.calls if c.params.get("model") == "qwen-voice-enrollment")
        assert cosy[-1] < qwen[-1] and qwen[-1] - qwen[0] >= 0.9
        assert took >= 0.9  # Qwen's six calls needed two windows


# ------------------------------------------------------------------------------------------------ 6
def test_voice_ids_route_by_enrollment_family(emu: Emulator) -> None:
    qwen_audio = "qwen-audio-3.0-tts-acme-" + "a" * 32  # cloned through voice-enrollment, like CosyVoice
    assert enrollment_family(qwen_audio) == "cosyvoice"
    assert enrollment_family("qwen-tts-vc-acme_bot1a2b-voice-20260101000000000-abcd") == "qwen"
    assert enrollment_family("cosyvoice-v2-acme-" + "b" * 32) == "cosyvoice"
    emu.add_voice(qwen_audio, "qwen-audio-3.0-tts", resource_link="https://x/a.wav")
    service = voice_service(emu.env())

    assert service.query_voice(qwen_audio).model == "qwen-audio-3.0-tts"
    service.delete_voice(qwen_audio)
    assert emu.voices() == []
    assert emu.count("dashscope", "list") == 0  # the Qwen API was never asked about it


# ------------------------------------------------------------------------------------------------ 8
def test_audio_preprocess_failure_is_reported_not_recreated(emu: Emulator, tmp_path: Path) -> None:
    service = voice_service(emu.env())
    up = upload(emu.env(), tmp_path)
    preprocess = ("error", 500, "InternalError", "Audio preprocess failed: no valid speech segment found.")
    emu.inject("dashscope", "create_voice", preprocess, times=3)
    with pytest.raises(AudioRejected, match=r"preprocess the audio[\s\S]*one speaker"):
        create(service, up.url)
    assert emu.count("dashscope", "create_voice") == 1
    assert emu.voices() == []


# ------------------------------------------------------------------------------------------------ 9
def test_listing_reads_past_short_pages_until_empty_or_total() -> None:
    with Emulator(api_key=API_KEY, max_page_size=30, rate_limit=None) as emu:
        for i in range(70):
            emu.add_voice(f"cosyvoice-v2-acme-{i:032x}", "cosyvoice-v2")
            emu.add_voice(f"qwen-tts-vc-acme_v{i:02d}-voice-20260101000000{i:03d}-abcd", QWEN)
        service = voice_service(emu.env())

        voices = service.list_voices()

        assert len({v.voice_id for v in voices}) == 140
        assert emu.count("dashscope", "list_voice") == 4  # 30 + 30 + 10 + the empty page
        assert emu.count("dashscope", "list") == 3  # 30 + 30 + 10 = total_count
        # The review sweep stops as soon as it has seen every voice it waits for.
        emu.clear_calls()
        newest = [v.voice_id for v in voices if v.model == "cosyvoice-v2"][:2]
        assert {v.voice_id for v in service.list_for_review(newest)} >= set(newest)
        assert emu.count("dashscope", "list_voice") == 1


# ------------------------------------------------------------------------------------------------ 10
def test_errors_are_mapped_to_messages_with_the_fix(emu: Emulator, tmp_path: Path) -> None:
    service = voice_service(emu.env())
    up = upload(emu.env(), tmp_path)

    # AllocationQuota is two things: the request quota (recovers; retried) ...
    token = ("error", 400, "Throttling.AllocationQuota", "Allocated quota exceeded, please increase your quota limit.")
    emu.inject("dashscope", "list_voice", token, times=2)
    assert service.list_voices() == []
    # ... or the voice limit (final until voices are deleted).
    emu.voice_limit = 0
    with pytest.raises(QuotaExceeded, match=r"voice limit[\s\S]*voicectl voices --all"):
        create(service, up.url)
    emu.voice_limit = 1000

    emu.inject("dashscope", "create_voice", ("error", 400, "Audio.DurationLimitError", "Audio duration exceeds."))
    with pytest.raises(AudioRejected, match="60 s or less"):
        create(service, up.url)

    emu.deny_model("cosyvoice-v3-plus")
    with pytest.raises(ProviderError, match=r"Activate the model[\s\S]*Model Studio console") as err:
        create(service, up.url, "cosyvoice-v3-plus")
    assert err.value.code == "Model.AccessDenied" and not isinstance(err.value, AuthError)
    assert emu.count("dashscope", "create_voice") == 3  # none of these was sent twice


# ------------------------------------------------------------------------------------------------ 11
def test_qwen_fallback_mode_is_surfaced_as_a_warning(emu: Emulator, tmp_path: Path) -> None:
    service = voice_service(emu.env())
    up = upload(emu.env(), tmp_path, rate=24000)
    plain = service.create_voice(
        name="a",
        model=QWEN,
        prefix="acme",
        audio_url=up.url,
        audio_key=None,
        options=CloneOptions("en", text="Hello there."),
    )
    assert plain.warning is None
    [sent] = [c.params for c in emu.calls if c.action == "create"]
    assert (sent["text"], sent["language"]) == ("Hello there.", "en")

    emu.degrade_next_qwen_create("no_valid_asr_segments")
    degraded = service.create_voice(
        name="b", model=QWEN, prefix="acme", audio_url=up.url, audio_key=None, options=CloneOptions()
    )
    assert degraded.warning and "fallback mode (no_valid_asr_segments)" in degraded.warning


# ------------------------------------------------------------------------------------------------ 12
def test_missing_get_bucket_versioning_permission_names_the_ram_action(emu: Emulator) -> None:
    emu.deny_oss_action("GetBucketVersioning")
    store = state_store(emu.env())
    assert store.read().serial == 0  # reads need no versioning check
    with pytest.raises(AuthError, match="oss:GetBucketVersioning") as err:
        store.acquire_lock("apply")
    assert "voices" in str(err.value) and AK_SECRET not in str(err.value)
    assert emu.objects("voices") == {}  # nothing written before the check


# ------------------------------------------------------------------------------------------------ options
def test_cosyvoice_create_options_reach_the_service_only_for_models_that_take_them(
    emu: Emulator, tmp_path: Path
) -> None:
    service = voice_service(emu.env())
    up = upload(emu.env(), tmp_path)
    create(service, up.url, "cosyvoice-v3.5-flash", max_prompt_audio_length=12.5, enable_preprocess=True)
    [sent] = [c.params for c in emu.calls if c.action == "create_voice"]
    assert (sent["max_prompt_audio_length"], sent["enable_preprocess"]) == (12.5, True)
    assert sent["language_hints"] == ["en"]
    assert MODELS["cosyvoice-v3.5-flash"].options >= {"max_prompt_audio_length", "enable_preprocess"}
    # The service refuses an option on a model that does not take it (validate catches this offline).
    with pytest.raises(ProviderError, match="max_prompt_audio_length is not supported"):
        create(service, up.url, "cosyvoice-v2", max_prompt_audio_length=10)
