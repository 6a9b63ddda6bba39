"""Binder on IMS (alibabacloud-ice20201109 through call_api) against the emulator."""

# The `emu` fixture is imported from the support module; test arguments named after it are not redefinitions.
# ruff: noqa: F811

from __future__ import annotations

import logging

import pytest

from reconciler.errors import AuthError, ProviderError
from reconciler.model import BindingRecord, BindingSpec, LiveBinding, StateDoc
from reconciler.providers.aliyun.binder import parse_endpoint
from tests.emulator import Emulator
from tests.test_aliyun_support import (
    SECRETS,
    binder,
    emu,  # noqa: F401  (the fixture)
)

RICH_CONFIG = {
    "TtsConfig": {"VoiceId": "old-voice", "SpeechRate": 1.2, "PronunciationRules": [{"Word": "a", "Pron": "b"}]},
    "AsrConfig": {"MaxSilence": 400},
}


def updates(emu: Emulator) -> list[dict]:
    return [c.params for c in emu.calls if c.service == "ice" and c.action == "UpdateAIAgentInstance"]


def test_bind_sends_only_the_voice_id(emu: Emulator) -> None:
    emu.add_instance("i1", "agent1", RICH_CONFIG)
    emu.add_instance("i2", "agent1", {})
    binder(emu.env()).bind(agent="agent1", node="tts", voice_id="cosyvoice-v2-acme-new", instances=("i1", "i2"))

    sent = updates(emu)
    assert [p["InstanceId"] for p in sent] == ["i1", "i2"]
    for params in sent:
        assert params["AgentConfig"] == {"TtsConfig": {"VoiceId": "cosyvoice-v2-acme-new"}}
        assert set(params) == {"InstanceId", "AgentConfig"}
    # The server merged our one field: nothing else of the running instance's config was touched.
    tts = emu.instance("i1")["AgentConfig"]["TtsConfig"]
    assert tts == {**RICH_CONFIG["TtsConfig"], "VoiceId": "cosyvoice-v2-acme-new"}
    assert emu.instance("i1")["AgentConfig"]["AsrConfig"] == RICH_CONFIG["AsrConfig"]


def test_bind_skips_ended_and_missing_instances_and_retries_throttling(emu: Emulator) -> None:
    emu.add_instance("live", "agent1", RICH_CONFIG)
    emu.add_instance("ended", "agent1", RICH_CONFIG)
    b = binder(emu.env())
    b._call("StopAIAgentInstance", {"InstanceId": "ended"}, subject="ended")  # the emulator's own stop action
    emu.inject("ice", "UpdateAIAgentInstance", "429", times=2)
    emu.inject("ice", "UpdateAIAgentInstance", "500", after=3)

    b.bind(agent="agent1", node="tts", voice_id="v2", instances=("gone", "ended", "live"))

    assert emu.instance("live")["AgentConfig"]["TtsConfig"]["VoiceId"] == "v2"
    assert emu.instance("ended")["AgentConfig"]["TtsConfig"]["VoiceId"] == "old-voice"


def test_unbind_calls_nothing(emu: Emulator) -> None:
    emu.add_instance("i1", "agent1", RICH_CONFIG)
    binder(emu.env()).unbind(agent="agent1", node="tts", instances=("i1",))
    assert emu.count("ice") == 0


def test_read_bindings_reports_drifted_instances(emu: Emulator) -> None:
    emu.add_instance("same", "agent1", {"TtsConfig": {"VoiceId": "v1"}})
    emu.add_instance("other", "agent1", {"TtsConfig": {"VoiceId": "someone-elses"}})
    emu.add_instance("none", "agent1", {})
    state = StateDoc(
        bindings={
            "binding.agent1.tts": BindingRecord("agent1", "tts", "support", "v1", "cosyvoice-v2"),
            "binding.agent9.tts": BindingRecord("agent9", "tts", "sales", "v9", "cosyvoice-v2"),
        }
    )
    targets = [
        BindingSpec(agent="agent1", voice="support", model="cosyvoice-v2", instances=("same", "other", "none", "gone")),
        BindingSpec(agent="agent2", voice="support", model="cosyvoice-v2", instances=("same",)),
    ]
    emu.inject("ice", "DescribeAIAgentInstance", "500")

    live = binder(emu.env()).read_bindings(targets, state)

    assert live == [
        LiveBinding("agent1", "tts", "v1", ("other", "none")),
        LiveBinding("agent9", "tts", "v9", ()),
        LiveBinding("agent2", "tts", None, ()),  # never bound by voicectl: the console default
    ]
    described = [c.params["InstanceId"] for c in emu.calls if c.action == "DescribeAIAgentInstance"]
    assert sorted(set(described)) == ["gone", "none", "other", "same"]  # nothing for targets not in state


def test_credentials(emu: Emulator, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    emu.add_instance("i1", "agent1", {})
    env = emu.env()
    missing = binder({k: v for k, v in env.items() if k != "ALIBABA_CLOUD_ACCESS_KEY_SECRET"})
    with pytest.raises(AuthError, match="ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET"):
        missing.bind(agent="a", node="tts", voice_id="v", instances=("i1",))
    wrong = binder({**env, "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "SECRET-wrong-0002"})
    with pytest.raises(AuthError, match="ALIBABA_CLOUD_ACCESS_KEY_SECRET") as err:
        wrong.bind(agent="a", node="tts", voice_id="v", instances=("i1",))
    unknown = binder({**env, "ALIBABA_CLOUD_ACCESS_KEY_ID": "LTAIunknown"})
    with pytest.raises(AuthError):  # InvalidAccessKeyId.NotFound must not pass for a missing instance
        unknown.bind(agent="a", node="tts", voice_id="v", instances=("i1",))
    text = caplog.text + str(err.value)
    for secret in (*SECRETS, "SECRET-wrong-0002"):
        assert secret not in text


def test_other_errors_surface(emu: Emulator) -> None:
    emu.inject("ice", "UpdateAIAgentInstance", "500", times=10)
    emu.add_instance("i1", "agent1", {})
    with pytest.raises(ProviderError, match="UpdateAIAgentInstance i1") as err:
        binder(emu.env()).bind(agent="a", node="tts", voice_id="v", instances=("i1",))
    assert err.value.code == "InternalError"


def test_parse_endpoint() -> None:
    assert parse_endpoint("http://127.0.0.1:8002") == ("http", "127.0.0.1:8002")
    assert parse_endpoint("https://ice.cn-beijing.aliyuncs.com/") == ("https", "ice.cn-beijing.aliyuncs.com")
    assert parse_endpoint("ice-vpc.cn-shanghai.aliyuncs.com") == ("https", "ice-vpc.cn-shanghai.aliyuncs.com")
