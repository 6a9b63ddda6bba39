"""Shared fixtures for the aliyun adapter tests (no tests here): the emulator, ports built with a fast
retry policy, and uploaded sample audio. Everything runs the real SDKs against the loopback emulator."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from reconciler.model import AccountSpec, Desired, OssSpec, StateSpec
from reconciler.naming import audio_key
from reconciler.providers.aliyun.audio_store import OssAudioStore
from reconciler.providers.aliyun.binder import IceBinder
from reconciler.providers.aliyun.dashscope_http import DashScopeHttp
from reconciler.providers.aliyun.oss import OssAccount
from reconciler.providers.aliyun.ratelimit import RetryPolicy
from reconciler.providers.aliyun.state_oss import OssStateStore
from reconciler.providers.aliyun.voices import AliyunVoiceService
from tests.audio_fixtures import write_wav
from tests.emulator import Emulator

# Distinctive secrets, so that a test can search logs and messages for them.
API_KEY = "sk-SECRET-dashscope-0001"
AK_ID = "LTAIsecretid0001"
AK_SECRET = "SECRET-ak-secret-0001"
STS_TOKEN = "SECRET-sts-token-0001"
SECRETS = (API_KEY, AK_SECRET, STS_TOKEN)

FAST = RetryPolicy(attempts=6, base=0.01, cap=0.05)
BUCKET = "voices"
REGION = "cn-beijing"


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(
        api_key=API_KEY,
        access_key_id=AK_ID,
        access_key_secret=AK_SECRET,
        buckets=(BUCKET, "other"),
        region=REGION,
        review_delay=0.05,
    ) as emulator:
        yield emulator


def desired(tmp_path: Path, emu: Emulator, *, backend: str = "oss") -> Desired:
    return Desired(
        path=str(tmp_path / "voices.yaml"),
        base_dir=str(tmp_path),
        file_sha256="x",
        account=AccountSpec(
            provider="aliyun",
            prefix="acme",
            region=REGION,
            oss=OssSpec(bucket=BUCKET, endpoint=emu.oss_endpoint),
            state=StateSpec(backend=backend, key="voicectl/state"),
        ),
        voices=(),
        bindings=(),
    )


def voice_service(env: dict[str, str]) -> AliyunVoiceService:
    return AliyunVoiceService(DashScopeHttp(env), FAST)


def oss_account(env: dict[str, str]) -> OssAccount:
    return OssAccount(env, region=REGION, endpoint=None, policy=FAST)


def audio_store(env: dict[str, str]) -> OssAudioStore:
    return OssAudioStore(oss_account(env), BUCKET)


def state_store(env: dict[str, str], *, poll: float = 0.05) -> OssStateStore:
    return OssStateStore(oss_account(env), BUCKET, "voicectl/state", poll_interval=poll)


def binder(env: dict[str, str]) -> IceBinder:
    return IceBinder(env, region=REGION, policy=FAST)


@dataclass(frozen=True)
class Uploaded:
    path: Path
    key: str
    sha256: str
    url: str


def upload(
    env: dict[str, str], tmp_path: Path, name: str = "support", *, seconds: float = 12.0, rate: int = 16000
) -> Uploaded:
    """A speech-like WAV uploaded content-addressed, with a signed URL the emulator's cloner can fetch."""
    path = write_wav(tmp_path / f"{name}-{rate}-{seconds}.wav", seconds=seconds, sample_rate=rate)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    key = audio_key("voicectl/audio/", name, sha, "wav")
    store = audio_store(env)
    store.ensure_uploaded(path=str(path), key=key, sha256=sha, content_type="audio/wav")
    return Uploaded(path, key, sha, store.signed_url(key, 600))
