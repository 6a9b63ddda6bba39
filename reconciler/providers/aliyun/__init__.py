"""The aliyun provider: DashScope voice enrollment, OSS (audio and state) and IMS AI agent instances.

Opening the provider touches no network and imports no SDK. Credentials are checked by each port on first
use, so a command fails with an AuthError naming exactly the variables it needs (e.g. `voicectl plan` with
the state on a local file needs DASHSCOPE_API_KEY but no AccessKey unless bindings list instances).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from reconciler.errors import VoicectlError
from reconciler.model import Desired
from reconciler.providers.base import AudioStore, Provider, StateStore

if TYPE_CHECKING:
    from reconciler.providers.aliyun.oss import OssAccount

NOTES = (
    "The default voice of a workflow's TTS node (set in the IMS console) is outside the API: no public call "
    "reads or changes it. Bindings take effect through the published agent config (`voicectl agent-config "
    "AGENT_ID` / `reconciler.runtime.agent_config`) for new sessions, and through UpdateAIAgentInstance for "
    "the running instances a binding lists.",
)


def open_aliyun(desired: Desired, env: Mapping[str, str]) -> Provider:
    from reconciler.providers.aliyun.audio_store import OssAudioStore
    from reconciler.providers.aliyun.binder import IceBinder
    from reconciler.providers.aliyun.dashscope_http import DashScopeHttp
    from reconciler.providers.aliyun.oss import OssAccount
    from reconciler.providers.aliyun.ratelimit import RetryPolicy
    from reconciler.providers.aliyun.speech import AliyunSpeech
    from reconciler.providers.aliyun.voices import AliyunVoiceService

    account = desired.account
    policy = RetryPolicy()
    oss = OssAccount(
        env,
        region=account.region,
        endpoint=account.oss.endpoint,
        upload_endpoint=account.oss.upload_endpoint,
        policy=policy,
    )
    audio: AudioStore = OssAudioStore(oss, account.oss.bucket)
    if account.audio_delivery == "inline":
        from reconciler.providers.aliyun.inline import InlineAudioStore

        audio = InlineAudioStore()
    return Provider(
        name="aliyun",
        voices=AliyunVoiceService(DashScopeHttp(env, region=account.region, workspace=account.workspace), policy),
        audio=audio,
        binder=IceBinder(env, region=account.region, policy=policy),
        state=_open_state(desired, oss),
        notes=NOTES,
        speech=AliyunSpeech(env, region=account.region, workspace=account.workspace),
    )


def _open_state(desired: Desired, oss: OssAccount) -> StateStore:
    state = desired.account.state
    if state.backend == "oss":
        from reconciler.providers.aliyun.state_oss import OssStateStore

        return OssStateStore(oss, desired.account.oss.bucket, state.key)
    if state.backend == "local":
        from reconciler.state.local import LocalStateStore  # type: ignore[import-not-found,unused-ignore]

        return LocalStateStore(os.path.join(desired.base_dir, state.path))
    raise VoicectlError(f"unknown state backend {state.backend!r}: use local or oss")
