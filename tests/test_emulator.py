"""The loopback emulator, driven only through the real SDKs (dashscope, oss2, alibabacloud-ice20201109).

These tests pin down that the SDKs work against the emulator unmodified and that the emulator is strict where
an adapter could go wrong (signatures, digests, overwrite protection, public ACLs, review states, faults).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import math
import random
import re
import struct
import subprocess
import sys
import threading
import time
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dashscope
import oss2
import pytest
import requests
from alibabacloud_ice20201109 import models as ice_models
from alibabacloud_ice20201109.client import Client as IceClient
from alibabacloud_tea_openapi.exceptions import ClientException
from alibabacloud_tea_openapi.utils_models import Config, OpenApiRequest, Params
from darabonba.runtime import RuntimeOptions
from dashscope.audio.tts_v2 import VoiceEnrollmentService
from dashscope.audio.tts_v2.enrollment import VoiceEnrollmentException

from tests.emulator import Emulator
from tests.emulator import _audio as emulator_audio

REPO = Path(__file__).resolve().parents[1]
AUDIO_KEY = "voicectl/audio/support-en/0123abcd.wav"


def make_wav(seconds: float = 12.0, rate: int = 16_000, seed: int = 7) -> bytes:
    """A voiced-sounding signal: a wobbling tone with harmonics, syllable-like bursts and a little noise.

    One second is synthesised and repeated (every component is periodic over it) to keep fixtures fast."""
    rnd = random.Random(seed)
    second = bytearray()
    for i in range(rate):
        t = i / rate
        phase = 2 * math.pi * (140 * t - 30 / (2 * math.pi) * math.cos(2 * math.pi * t))  # 110-170 Hz
        envelope = 0.55 + 0.45 * math.sin(2 * math.pi * 3.0 * t) ** 2
        tone = math.sin(phase) + math.sin(2 * phase) / 2 + math.sin(3 * phase) / 3
        value = 0.25 * envelope * tone + 0.02 * rnd.uniform(-1, 1)
        second += struct.pack("<h", max(-32768, min(32767, int(value * 32767))))
    whole, part = divmod(int(seconds * rate), rate)
    frames = bytes(second) * whole + bytes(second[: 2 * part])
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(frames)
    return buf.getvalue()


@pytest.fixture(scope="module")
def wav16k() -> bytes:
    return make_wav()


@pytest.fixture(scope="module")
def wav24k(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    # A real reading: the synthetic tone above is too steady at 24 kHz for the lint's voice gate (rightly).
    from reconciler.audio.sample import write_sample_wav

    path = tmp_path_factory.mktemp("wav24k") / "speech.wav"
    write_sample_wav(str(path), seconds=12.0, sample_rate=24_000, seed=11)
    return path.read_bytes()


@pytest.fixture
def emu(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    # No rate limit here: these tests poll freely; test_rate_limit_* checks the limit on its own emulator.
    with Emulator(review_delay=0.3, rate_limit=None) as emulator:
        # dashscope reads DASHSCOPE_HTTP_BASE_URL at import; the module attribute is what it uses per call.
        monkeypatch.setattr(dashscope, "base_http_api_url", emulator.dashscope_base_url)
        yield emulator


def bucket_for(emu: Emulator, secret: str | None = None, name: str = "voices") -> oss2.Bucket:
    auth = oss2.AuthV4(emu.access_key_id, secret or emu.access_key_secret)
    return oss2.Bucket(auth, emu.oss_endpoint, name, region="cn-beijing")


def upload(emu: Emulator, data: bytes, key: str = AUDIO_KEY) -> str:
    """Put the audio and return a signed GET URL for it, the way voicectl hands audio to the cloning API."""
    bucket = bucket_for(emu)
    bucket.put_object(key, data)
    return bucket.sign_url("GET", key, 600)


def ice_client(emu: Emulator, secret: str | None = None, key_id: str | None = None) -> IceClient:
    return IceClient(
        Config(
            endpoint=emu.ice_endpoint,
            protocol="http",
            access_key_id=key_id or emu.access_key_id,
            access_key_secret=secret or emu.access_key_secret,
            region_id="cn-beijing",
        )
    )


def enrollment(emu: Emulator) -> VoiceEnrollmentService:
    return VoiceEnrollmentService(api_key=emu.api_key)


def qwen(emu: Emulator, payload: dict[str, Any], key: str | None = None) -> requests.Response:
    return requests.post(
        emu.dashscope_base_url + "/services/audio/tts/customization",
        headers={"Authorization": f"Bearer {key or emu.api_key}"},
        json={"model": "qwen-voice-enrollment", "input": payload},
        timeout=10,
    )


def wait_status(svc: VoiceEnrollmentService, voice_id: str, timeout: float = 5.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        status = svc.query_voice(voice_id)["status"]
        if status != "DEPLOYING" or time.monotonic() > deadline:
            return status
        time.sleep(0.15)  # well under the 10 requests per second the account allows


def error_code(exc: VoiceEnrollmentException) -> tuple[int, str]:
    return exc._status_code, exc._code


# ================================================================================================ DashScope


def test_cosyvoice_lifecycle_through_the_sdk(emu: Emulator, wav16k: bytes) -> None:
    svc = enrollment(emu)
    url = upload(emu, wav16k)
    voice_id = svc.create_voice("cosyvoice-v3.5-plus", "acme", url, language_hints=["en"])
    assert re.fullmatch(r"cosyvoice-v3\.5-plus-acme-[0-9a-f]{32}", voice_id)
    assert voice_id.rsplit("-", 2)[1] == "acme"

    info = svc.query_voice(voice_id)
    assert info["status"] == "DEPLOYING"
    assert info["resource_link"] == url
    assert info["target_model"] == "cosyvoice-v3.5-plus"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", info["gmt_create"])
    # The service fetched the signed URL itself, through OSS.
    fetches = [c for c in emu.calls if c.service == "oss" and c.action == "GetObject"]
    assert fetches and fetches[-1].params["presigned"] and fetches[-1].status == 200
    assert wait_status(svc, voice_id) == "OK"

    url2 = upload(emu, wav16k, "voicectl/audio/support-en/4567ef.wav")
    assert svc.update_voice(voice_id, url2) is None
    assert svc.query_voice(voice_id)["status"] == "DEPLOYING"
    assert svc.query_voice(voice_id)["resource_link"] == url2
    assert wait_status(svc, voice_id) == "OK"

    svc.delete_voice(voice_id)
    with pytest.raises(VoiceEnrollmentException) as exc:
        svc.query_voice(voice_id)
    assert error_code(exc.value) == (400, "BadRequest.ResourceNotExist")
    with pytest.raises(VoiceEnrollmentException) as exc:
        svc.delete_voice(voice_id)
    assert error_code(exc.value) == (400, "BadRequest.ResourceNotExist")


def test_list_filters_by_prefix_pages_from_zero_newest_first(emu: Emulator, wav16k: bytes) -> None:
    svc = enrollment(emu)
    url = upload(emu, wav16k)
    created = [svc.create_voice("cosyvoice-v2", "acme", url) for _ in range(3)]
    emu.add_voice("cosyvoice-v2-other-" + "0" * 32, "cosyvoice-v2")
    everything = svc.list_voices(page_size=100)
    assert len(everything) == 4
    mine = svc.list_voices(prefix="acme", page_index=0, page_size=2)
    assert [v["voice_id"] for v in mine] == created[::-1][:2]
    assert set(mine[0]) == {"voice_id", "gmt_create", "gmt_modified", "status"}
    assert [v["voice_id"] for v in svc.list_voices(prefix="acme", page_index=1, page_size=2)] == [created[0]]
    assert svc.list_voices(prefix="acme", page_index=2, page_size=2) == []
    assert emu.count("dashscope", "list_voice") == 4


def test_auth_and_parameter_errors(emu: Emulator, wav16k: bytes) -> None:
    url = upload(emu, wav16k)
    with pytest.raises(VoiceEnrollmentException) as exc:
        VoiceEnrollmentService(api_key="sk-wrong").list_voices()
    assert error_code(exc.value) == (401, "InvalidApiKey")
    svc = enrollment(emu)
    for model, prefix in (("cosyvoice-v2", "Acme"), ("cosyvoice-v2", "toolongprefix"), ("cosyvoice-v1", "acme")):
        with pytest.raises(VoiceEnrollmentException) as exc:
            svc.create_voice(model, prefix, url)
        assert error_code(exc.value) == (400, "InvalidParameter")
    assert emu.voices() == []


def test_audio_that_cannot_be_downloaded_or_reached(emu: Emulator, wav16k: bytes) -> None:
    url = upload(emu, wav16k)
    svc = enrollment(emu)
    tampered = re.sub(r"x-oss-signature=[0-9a-f]{4}", "x-oss-signature=0000", url)
    # The audio's host answered with an error (bad signature, missing object): the download failed.
    for bad in (tampered, url.replace("support-en", "missing")):
        with pytest.raises(VoiceEnrollmentException) as exc:
            svc.create_voice("cosyvoice-v2", "acme", bad)
        assert error_code(exc.value) == (400, "BadRequest.InputDownloadFailed")
    # No answer at all: nothing listens there, or an -internal endpoint only a VPC in the region resolves.
    internal = "https://voices.oss-cn-beijing-internal.aliyuncs.com/a.wav?x-oss-signature=1"
    for bad in ("http://127.0.0.1:9/nothing.wav", internal):
        with pytest.raises(VoiceEnrollmentException) as exc:
            svc.create_voice("cosyvoice-v2", "acme", bad)
        assert error_code(exc.value) == (500, "InternalError")
        assert "audio url not reachable" in exc.value._error_message
    assert emu.voices() == []


def test_voice_quota(wav16k: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    with Emulator(voice_limit=2, review_delay=0) as emu:
        monkeypatch.setattr(dashscope, "base_http_api_url", emu.dashscope_base_url)
        url = upload(emu, wav16k)
        svc = enrollment(emu)
        emu.add_voice("cosyvoice-v2-unmanaged-" + "1" * 32, "cosyvoice-v2")
        svc.create_voice("cosyvoice-v2", "acme", url)
        with pytest.raises(VoiceEnrollmentException) as exc:
            svc.create_voice("cosyvoice-v2", "acme", url)
        assert error_code(exc.value) == (400, "Throttling.AllocationQuota")
        assert len(emu.voices()) == 2


def test_review_delay_then_ok_and_fail_review(emu: Emulator, wav16k: bytes) -> None:
    svc = enrollment(emu)
    url = upload(emu, wav16k)
    emu.review_delay = 1.0
    ok = svc.create_voice("cosyvoice-v2", "acme", url)
    failing = svc.create_voice("cosyvoice-v2", "acme", url)
    emu.fail_review(failing)  # under review now: this review fails
    emu.fail_review(lambda vid: vid.startswith("cosyvoice-v3-flash-bad-"))  # future voices
    later = svc.create_voice("cosyvoice-v3-flash", "bad", url)
    emu.review_delay = 0.3  # applies to later creates and updates only
    assert {v["voice_id"]: v["status"] for v in svc.list_voices(page_size=100)} == {
        ok: "DEPLOYING",
        failing: "DEPLOYING",
        later: "DEPLOYING",
    }
    assert wait_status(svc, ok) == "OK"
    assert wait_status(svc, failing) == "UNDEPLOYED"
    assert wait_status(svc, later) == "UNDEPLOYED"
    # "next review" only: new audio for the failed voice gets a fresh review.
    svc.update_voice(failing, url)
    assert wait_status(svc, failing) == "OK"
    seeded = "cosyvoice-v2-acme-" + "a" * 32
    emu.add_voice(seeded, "cosyvoice-v2", status="UNDEPLOYED", resource_link="https://x/y.wav")
    assert svc.query_voice(seeded)["status"] == "UNDEPLOYED"
    emu.remove_voice(seeded)
    assert seeded not in {v["voice_id"] for v in emu.voices()}


@pytest.mark.skipif(not emulator_audio.review_available(), reason="reconciler.audio.review_audio not there yet")
def test_audio_content_checks(emu: Emulator, wav16k: bytes) -> None:
    svc = enrollment(emu)
    with pytest.raises(VoiceEnrollmentException) as exc:
        svc.create_voice("cosyvoice-v2", "acme", upload(emu, make_wav(seconds=4), "short.wav"))
    assert error_code(exc.value) == (400, "Audio.AudioShortError")
    silent = io.BytesIO()
    with wave.open(silent, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16_000)
        w.writeframes(b"\x00\x00" * 16_000 * 12)
    voice_id = svc.create_voice("cosyvoice-v2", "acme", upload(emu, silent.getvalue(), "silent.wav"))
    assert wait_status(svc, voice_id) == "UNDEPLOYED"
    assert wait_status(svc, svc.create_voice("cosyvoice-v2", "acme", upload(emu, wav16k))) == "OK"


def test_qwen_create_list_delete_over_raw_http(emu: Emulator, wav24k: bytes) -> None:
    data_uri = "data:audio/wav;base64," + base64.b64encode(wav24k).decode()
    model = "qwen3-tts-vc-realtime-2026-01-15"
    r1 = qwen(
        emu, {"action": "create", "target_model": model, "preferred_name": "acme_sup1a2b", "audio": {"data": data_uri}}
    )
    assert r1.status_code == 200, r1.text
    voice = r1.json()["output"]["voice"]
    assert re.fullmatch(r"qwen-tts-vc-acme_sup1a2b-voice-\d{17}-[0-9a-f]{4}", voice)
    url = upload(emu, wav24k, "q.wav")
    r2 = qwen(emu, {"action": "create", "target_model": model, "preferred_name": "other", "audio": {"data": url}})
    assert r2.status_code == 200, r2.text

    listed = qwen(emu, {"action": "list", "page_index": 0, "page_size": 1}).json()["output"]
    assert listed["total_count"] == 2
    assert listed["voice_list"][0]["voice"] == r2.json()["output"]["voice"]
    assert set(listed["voice_list"][0]) == {"voice", "target_model", "language", "gmt_create", "gmt_modified"}
    assert {v["status"] for v in emu.voices()} == {"OK"}

    bad = qwen(emu, {"action": "create", "target_model": model, "preferred_name": "no-dash", "audio": {"data": url}})
    assert (bad.status_code, bad.json()["code"]) == (400, "InvalidParameter")
    assert set(bad.json()) == {"request_id", "code", "message"}
    assert qwen(emu, {"action": "list"}, key="nope").status_code == 401

    assert qwen(emu, {"action": "delete", "voice": voice}).status_code == 200
    gone = qwen(emu, {"action": "delete", "voice": voice})
    # Not CosyVoice's BadRequest.ResourceNotExist: the Qwen API has its own code for a missing voice.
    assert (gone.status_code, gone.json()["code"]) == (400, "BadRequest.VoiceNotFound")
    assert qwen(emu, {"action": "list", "page_index": 0, "page_size": 10}).json()["output"]["total_count"] == 1
    # CosyVoice and Qwen voices live in separate lists.
    assert enrollment(emu).list_voices() == []


# ================================================================================================ OSS


def test_oss_object_calls_through_oss2(emu: Emulator, wav16k: bytes) -> None:
    bucket = bucket_for(emu)
    md5 = base64.b64encode(hashlib.md5(wav16k).digest()).decode()
    key = "voicectl/audio/a b/x+y.wav"  # a space and a plus: both must survive escaping and signing
    result = bucket.put_object(
        key, wav16k, headers={"Content-MD5": md5, "x-oss-meta-sha256": "abc", "x-oss-forbid-overwrite": "true"}
    )
    assert result.status == 200
    assert result.etag == hashlib.md5(wav16k).hexdigest().upper()
    assert result.crc is not None  # and oss2 verified it against its own CRC-64
    assert emu.objects("voices") == {key: wav16k}
    assert emu.object_info("voices", key)["meta"] == {"sha256": "abc"}
    assert emu.calls[-1].params["headers"]["content-md5"] == md5

    head = bucket.head_object(key)
    assert (head.content_length, head.etag, head.headers["x-oss-meta-sha256"]) == (len(wav16k), result.etag, "abc")
    assert bucket.get_object(key).read() == wav16k
    assert bucket.object_exists(key) and not bucket.object_exists("nope")

    with pytest.raises(oss2.exceptions.ServerError) as exc:
        bucket.put_object(key, b"other", headers={"x-oss-forbid-overwrite": "true"})
    assert (exc.value.status, exc.value.code) == (409, "FileAlreadyExists")
    with pytest.raises(oss2.exceptions.ServerError) as exc:
        bucket.put_object("k2", b"data", headers={"Content-MD5": md5})
    assert (exc.value.status, exc.value.code) == (400, "InvalidDigest")
    with pytest.raises(oss2.exceptions.NotFound) as exc:
        bucket.head_object("nope")  # error carried in x-oss-err, no body
    assert exc.value.code == "NoSuchKey"

    for name in ("voicectl/state/0001", "voicectl/state/0002", "voicectl/state/0003", "voicectl/lock"):
        bucket.put_object(name, b"{}")
    page1 = bucket.list_objects_v2(prefix="voicectl/state/", max_keys=2)
    assert [o.key for o in page1.object_list] == ["voicectl/state/0001", "voicectl/state/0002"]
    assert page1.is_truncated
    page2 = bucket.list_objects_v2(
        prefix="voicectl/state/", max_keys=2, continuation_token=page1.next_continuation_token
    )
    assert [o.key for o in page2.object_list] == ["voicectl/state/0003"] and not page2.is_truncated
    rolled = bucket.list_objects_v2(prefix="voicectl/", delimiter="/")
    assert rolled.prefix_list == ["voicectl/audio/", "voicectl/state/"]
    assert [o.key for o in rolled.object_list] == ["voicectl/lock"]

    assert bucket.delete_object("voicectl/lock").status == 204
    assert bucket.delete_object("voicectl/lock").status == 204  # absent: still 204
    assert bucket.get_bucket_versioning().status is None


def test_oss_versioning_ignores_forbid_overwrite(emu: Emulator) -> None:
    bucket = bucket_for(emu)
    bucket.put_object("lock", b"one", headers={"x-oss-forbid-overwrite": "true"})
    emu.set_versioning("voices", "Suspended")
    assert bucket.get_bucket_versioning().status == "Suspended"
    bucket.put_object("lock", b"two", headers={"x-oss-forbid-overwrite": "true"})
    assert emu.objects("voices")["lock"] == b"two"


def test_oss_signed_urls_and_signature_checks(emu: Emulator, wav16k: bytes) -> None:
    bucket = bucket_for(emu)
    bucket.put_object(AUDIO_KEY, wav16k)
    url = bucket.sign_url("GET", AUDIO_KEY, 60)
    assert "x-oss-signature=" in url and "%2F" in url
    assert requests.get(url, timeout=5).content == wav16k

    tampered = requests.get(re.sub(r"x-oss-signature=[0-9a-f]{4}", "x-oss-signature=0000", url), timeout=5)
    assert tampered.status_code == 403 and "<Code>SignatureDoesNotMatch</Code>" in tampered.text
    other_key = requests.get(url.replace("0123abcd", "0123abce"), timeout=5)
    assert other_key.status_code == 403 and "<Code>SignatureDoesNotMatch</Code>" in other_key.text
    anonymous = requests.get(url.split("?")[0], timeout=5)
    assert anonymous.status_code == 403 and "<Code>AccessDenied</Code>" in anonymous.text

    with pytest.raises(oss2.exceptions.ServerError) as exc:
        bucket_for(emu, secret="wrong").get_object(AUDIO_KEY)
    assert (exc.value.status, exc.value.code) == (403, "SignatureDoesNotMatch")
    with pytest.raises(oss2.exceptions.ServerError) as exc:
        oss2.Bucket(oss2.Auth(emu.access_key_id, emu.access_key_secret), emu.oss_endpoint, "voices").get_object(
            AUDIO_KEY
        )
    assert (exc.value.status, exc.value.code) == (403, "AccessDenied")  # V1 signing is refused
    with pytest.raises(oss2.exceptions.NoSuchBucket):
        bucket_for(emu, name="elsewhere").get_object(AUDIO_KEY)

    short = bucket.sign_url("GET", AUDIO_KEY, 1)
    time.sleep(2.1)  # x-oss-date has one-second resolution
    expired = requests.get(short, timeout=5)
    assert expired.status_code == 403
    assert "<Code>AccessDenied</Code>" in expired.text and "Request has expired" in expired.text


def test_oss_never_public(emu: Emulator) -> None:
    bucket = bucket_for(emu)
    with pytest.raises(oss2.exceptions.ServerError) as exc:
        bucket.put_object("a.wav", b"x", headers={"x-oss-object-acl": "public-read"})
    assert (exc.value.status, exc.value.code) == (403, "AccessDenied")
    bucket.put_object("a.wav", b"x")
    with pytest.raises(oss2.exceptions.ServerError):
        bucket.put_object_acl("a.wav", oss2.OBJECT_ACL_PUBLIC_READ_WRITE)
    bucket.put_object_acl("a.wav", oss2.OBJECT_ACL_PRIVATE)
    assert emu.public_acl_attempts == 2
    assert emu.object_info("voices", "a.wav")["acl"] == "private"


# ================================================================================================ ICE


def test_ice_describe_and_update_with_call_api(emu: Emulator) -> None:
    emu.add_instance(
        "inst-1",
        "agent-1",
        {"TtsConfig": {"VoiceId": "old", "PronunciationRules": [{"Word": "ICE", "Pronunciation": "ai si"}]}},
    )
    client = ice_client(emu)
    described = client.describe_aiagent_instance(ice_models.DescribeAIAgentInstanceRequest(instance_id="inst-1"))
    assert described.body.instance.status == "Executing"
    assert described.body.instance.agent_config.tts_config.voice_id == "old"

    params = Params(
        action="UpdateAIAgentInstance",
        version="2020-11-09",
        protocol="HTTP",
        method="POST",
        auth_type="AK",
        style="RPC",
        pathname="/",
        req_body_type="formData",
        body_type="json",
    )
    agent_config = {"TtsConfig": {"VoiceId": "cosyvoice-v2-acme-" + "b" * 32}}
    query = {"InstanceId": "inst-1", "AgentConfig": json.dumps(agent_config, separators=(",", ":"))}
    response = client.call_api(params, OpenApiRequest(query=query), RuntimeOptions())
    assert response["statusCode"] == 200 and response["body"]["RequestId"]
    call = emu.calls[-1]
    assert (call.action, call.params) == (
        "UpdateAIAgentInstance",
        {"InstanceId": "inst-1", "AgentConfig": agent_config},
    )
    tts = emu.instance("inst-1")["AgentConfig"]["TtsConfig"]
    assert tts["VoiceId"] == agent_config["TtsConfig"]["VoiceId"]
    assert tts["PronunciationRules"] == [{"Word": "ICE", "Pronunciation": "ai si"}]  # merged, not replaced

    # The typed request sends empty lists, and a list given replaces the stored one: the hazard adapters avoid.
    typed = ice_models.UpdateAIAgentInstanceRequest(
        instance_id="inst-1",
        agent_config=ice_models.AIAgentConfig(tts_config=ice_models.AIAgentConfigTtsConfig(voice_id="v2")),
    )
    client.update_aiagent_instance(typed)
    assert emu.instance("inst-1")["AgentConfig"]["TtsConfig"]["PronunciationRules"] == []


def test_ice_errors_and_start_stop(emu: Emulator) -> None:
    request = ice_models.DescribeAIAgentInstanceRequest(instance_id="inst-1")
    with pytest.raises(ClientException) as exc:
        ice_client(emu, secret="wrong").describe_aiagent_instance(request)
    assert (exc.value.status_code, exc.value.code) == (400, "SignatureDoesNotMatch")
    with pytest.raises(ClientException) as exc:
        ice_client(emu, key_id="LTAIunknown").describe_aiagent_instance(request)
    assert (exc.value.status_code, exc.value.code) == (404, "InvalidAccessKeyId.NotFound")
    with pytest.raises(ClientException) as exc:
        ice_client(emu).describe_aiagent_instance(request)
    assert (exc.value.status_code, exc.value.code) == (404, "InvalidInstanceId.NotFound")

    client = ice_client(emu)
    started = client.start_aiagent_instance(
        ice_models.StartAIAgentInstanceRequest(
            aiagent_id="agent-9",
            agent_config=ice_models.AIAgentConfig(tts_config=ice_models.AIAgentConfigTtsConfig(voice_id="v")),
            runtime_config=ice_models.AIAgentRuntimeConfig(),
        )
    )
    instance_id = started.body.instance_id
    assert emu.instance(instance_id)["AIAgentId"] == "agent-9"
    assert emu.instance(instance_id)["AgentConfig"]["TtsConfig"]["VoiceId"] == "v"
    client.stop_aiagent_instance(ice_models.StopAIAgentInstanceRequest(instance_id=instance_id))
    assert emu.instance(instance_id)["Status"] == "Finished"
    assert emu.count("ice") == 5 and emu.count("ice", "StartAIAgentInstance") == 1


# ================================================================================================ faults


def test_injected_429_burst_and_500(emu: Emulator) -> None:
    svc = enrollment(emu)
    emu.inject("dashscope", "list_voice", "429", times=3)
    for _ in range(3):
        with pytest.raises(VoiceEnrollmentException) as exc:
            svc.list_voices()
        assert error_code(exc.value) == (429, "Throttling.RateQuota")
    assert svc.list_voices() == []

    emu.inject("oss", "PutObject", "500")
    with pytest.raises(oss2.exceptions.ServerError) as oss_exc:
        bucket_for(emu).put_object("a", b"x")
    assert (oss_exc.value.status, oss_exc.value.code) == (500, "InternalError")
    assert emu.objects("voices") == {}

    emu.inject("ice", "*", "500", after=1)
    emu.add_instance("i", "a", {})
    client = ice_client(emu)
    request = ice_models.DescribeAIAgentInstanceRequest(instance_id="i")
    client.describe_aiagent_instance(request)
    with pytest.raises(Exception) as ice_exc:  # 5xx: the SDK's ServerException
        client.describe_aiagent_instance(request)
    assert getattr(ice_exc.value, "code", None) == "InternalError"
    assert [c.status for c in emu.calls if c.service == "ice"] == [200, 500]


def test_drop_after_commit_leaves_the_voice(emu: Emulator, wav16k: bytes) -> None:
    url = upload(emu, wav16k)
    body = {
        "model": "voice-enrollment",
        "input": {"action": "create_voice", "target_model": "cosyvoice-v2", "prefix": "acme", "url": url},
    }
    emu.inject("dashscope", "create_voice", "drop_after_commit")
    with pytest.raises(requests.ConnectionError):
        requests.post(
            emu.dashscope_base_url + "/services/audio/tts/customization",
            headers={"Authorization": f"Bearer {emu.api_key}"},
            json=body,
            timeout=10,
        )
    assert [v["prefix"] for v in emu.voices()] == ["acme"]
    assert emu.calls[-1].status == 0 and emu.calls[-1].fault == "drop_after_commit"

    # The SDK resends a request whose connection dropped, once, silently: a second voice appears.
    emu.inject("dashscope", "create_voice", "drop_after_commit")
    returned = enrollment(emu).create_voice("cosyvoice-v2", "acme", url)
    assert len(emu.voices()) == 3 and returned in {v["voice_id"] for v in emu.voices()}
    assert emu.count("dashscope", "create_voice") == 3


def test_drop_before_commit_and_latency(emu: Emulator) -> None:
    bucket = bucket_for(emu)
    emu.inject("oss", "PutObject", "drop_before_commit", times=2)
    with pytest.raises(oss2.exceptions.RequestError):
        bucket.put_object("a", b"x")
    assert emu.objects("voices") == {}
    emu.inject("oss", "HeadObject", ("latency", 0.3))
    start = time.monotonic()
    with pytest.raises(oss2.exceptions.NotFound):
        bucket.head_object("a")
    assert time.monotonic() - start >= 0.3
    emu.latency = 0.1
    start = time.monotonic()
    assert enrollment(emu).list_voices() == []
    assert time.monotonic() - start >= 0.1


def cosyvoice_list(emu: Emulator) -> requests.Response:
    return requests.post(
        emu.dashscope_base_url + "/services/audio/tts/customization",
        headers={"Authorization": f"Bearer {emu.api_key}"},
        json={"model": "voice-enrollment", "input": {"action": "list_voice"}},
        timeout=10,
    )


def burst(call: Any, n: int) -> list[tuple[int, str | None]]:
    results: list[tuple[int, str | None]] = []

    def one() -> None:
        response = call()
        results.append((response.status_code, response.json().get("code")))

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sorted(results, key=lambda r: (r[0], r[1] or ""))


def test_rate_limits_are_per_family_sliding_windows() -> None:
    with Emulator(rate_limit=10, qwen_rate_limit=180) as emu:
        # CosyVoice: 10 per second across its versions; the 11th in the window is refused.
        assert burst(lambda: cosyvoice_list(emu), 13) == [(200, None)] * 10 + [(429, "Throttling.RateQuota")] * 3
        # Qwen is counted apart (the CosyVoice window is full) and allows 180/min, at most 3 in one second.
        assert (
            burst(lambda: qwen(emu, {"action": "list"}), 5) == [(200, None)] * 3 + [(429, "Throttling.BurstRate")] * 2
        )
        assert emu.max_rate("dashscope", family="cosyvoice") == 13
        assert emu.max_rate("dashscope", family="qwen") == 5
        time.sleep(1.05)
        assert cosyvoice_list(emu).status_code == 200
        assert qwen(emu, {"action": "list"}).status_code == 200

        emu.qwen_rate_limit = 4  # the per-minute total: 4 went through this minute, so even a slow client waits
        time.sleep(1.05)
        assert qwen(emu, {"action": "list"}).json()["code"] == "Throttling.RateQuota"

        emu.rate_limit = None
        assert all(qwen(emu, {"action": "list"}).status_code == 200 for _ in range(15))


def test_foreground_cli_prints_env_and_ready_line() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.emulator", "--bucket", "voices", "--review-delay", "0.1"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(8)]
        exports = dict(line[len("export ") :].strip().split("=", 1) for line in lines[:7])
        assert set(exports) == {
            "DASHSCOPE_API_KEY",
            "DASHSCOPE_HTTP_BASE_URL",
            "VOICECTL_OSS_ENDPOINT",
            "VOICECTL_ICE_ENDPOINT",
            "ALIBABA_CLOUD_ACCESS_KEY_ID",
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
            "DASHSCOPE_WEBSOCKET_BASE_URL",  # speech synthesis (audition)
        }
        assert "ready" in lines[7]
        ping = requests.post(
            exports["DASHSCOPE_HTTP_BASE_URL"] + "/services/audio/tts/customization",
            headers={"Authorization": "Bearer " + exports["DASHSCOPE_API_KEY"]},
            json={"model": "voice-enrollment", "input": {"action": "list_voice"}},
            timeout=5,
        )
        assert ping.json()["output"] == {"voice_list": []}
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0


def test_security_tokens_are_checked_when_configured() -> None:
    with Emulator(security_token="sts-token") as emu:
        assert emu.env()["ALIBABA_CLOUD_SECURITY_TOKEN"] == "sts-token"
        sts = oss2.StsAuth(emu.access_key_id, emu.access_key_secret, "sts-token", auth_version=oss2.AUTH_VERSION_4)
        bucket = oss2.Bucket(sts, emu.oss_endpoint, "voices", region="cn-beijing")
        bucket.put_object("a.wav", b"x")
        assert requests.get(bucket.sign_url("GET", "a.wav", 60), timeout=5).content == b"x"
        with pytest.raises(oss2.exceptions.ServerError) as exc:
            bucket_for(emu).get_object("a.wav")  # no token
        assert (exc.value.status, exc.value.code) == (403, "InvalidAccessKeyId")

        emu.add_instance("i", "a", {})
        config = Config(
            endpoint=emu.ice_endpoint,
            protocol="http",
            access_key_id=emu.access_key_id,
            access_key_secret=emu.access_key_secret,
            security_token="sts-token",
            region_id="cn-beijing",
        )
        request = ice_models.DescribeAIAgentInstanceRequest(instance_id="i")
        assert IceClient(config).describe_aiagent_instance(request).body.instance.status == "Executing"
        with pytest.raises(ClientException):
            ice_client(emu).describe_aiagent_instance(request)


# -- speech synthesis over WebSocket: the protocol's order, as the real service enforces it ---------------


def _speech_socket(emu: Emulator, path: str, headers: dict[str, str] | None = None) -> Any:
    import websocket  # websocket-client, the dashscope SDK's own WebSocket library

    base = emu.env()["DASHSCOPE_WEBSOCKET_BASE_URL"].removesuffix("/api-ws/v1/inference")
    auth = {"Authorization": f"Bearer {emu.api_key}", **(headers or {})}
    return websocket.create_connection(base + path, header=[f"{k}: {v}" for k, v in auth.items()], timeout=5)


def test_inference_endpoint_refuses_text_before_the_task_started(emu: Emulator) -> None:
    emu.add_voice("cosyvoice-v2-acme-0001", "cosyvoice-v2")
    ws = _speech_socket(emu, "/api-ws/v1/inference")
    ws.send(json.dumps({"header": {"action": "continue-task", "task_id": "t1"}, "payload": {"input": {"text": "Hi"}}}))
    event = json.loads(ws.recv())["header"]
    assert (event["event"], event["error_code"]) == ("task-failed", "InvalidParameter")
    assert "before task-started" in event["error_message"]


def test_inference_endpoint_refuses_a_voice_of_another_model_and_an_unknown_workspace(emu: Emulator) -> None:
    import websocket

    emu.add_voice("cosyvoice-v2-acme-0001", "cosyvoice-v2")
    ws = _speech_socket(emu, "/api-ws/v1/inference")
    run = {"action": "run-task", "task_id": "t1"}
    params = {"voice": "cosyvoice-v2-acme-0001", "format": "pcm", "sample_rate": 24000}
    ws.send(json.dumps({"header": run, "payload": {"model": "cosyvoice-v3-flash", "parameters": params}}))
    event = json.loads(ws.recv())["header"]
    assert event["event"] == "task-failed" and "belongs to cosyvoice-v2" in event["error_message"]
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        _speech_socket(emu, "/api-ws/v1/inference", {"X-DashScope-WorkSpace": "ws-not-mine"})
    assert refused.value.status_code == 403


def test_realtime_endpoint_wants_the_voice_before_text_and_a_realtime_model(emu: Emulator) -> None:
    emu.add_voice("qwen-tts-vc-host-voice-1", "qwen3-tts-vc-realtime-2026-01-15")
    ws = _speech_socket(emu, "/api-ws/v1/realtime?model=qwen3-tts-vc-realtime-2026-01-15")
    assert json.loads(ws.recv())["type"] == "session.created"
    ws.send(json.dumps({"event_id": "e1", "type": "input_text_buffer.append", "text": "Hello."}))
    error = json.loads(ws.recv())
    assert error["type"] == "error" and "before session.updated" in error["error"]["message"]

    ws = _speech_socket(emu, "/api-ws/v1/realtime?model=qwen3-tts-vc-2026-01-22")
    error = json.loads(ws.recv())
    assert error["type"] == "error" and "does not speak through the realtime API" in error["error"]["message"]


def test_synthesis_rate_refuses_a_task_over_it(emu: Emulator) -> None:
    emu.add_voice("cosyvoice-v2-acme-0001", "cosyvoice-v2")
    emu.synthesis_rate = 1
    run = {"header": {"action": "run-task", "task_id": "t1"}, "payload": {"model": "cosyvoice-v2", "parameters": {
        "voice": "cosyvoice-v2-acme-0001", "format": "pcm", "sample_rate": 24000}}}  # fmt: skip
    first, second = _speech_socket(emu, "/api-ws/v1/inference"), _speech_socket(emu, "/api-ws/v1/inference")
    first.send(json.dumps(run))
    assert json.loads(first.recv())["header"]["event"] == "task-started"
    second.send(json.dumps(run))
    refused = json.loads(second.recv())["header"]
    assert (refused["event"], refused["error_code"]) == ("task-failed", "Throttling.RateQuota")
