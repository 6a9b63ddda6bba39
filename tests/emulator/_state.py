"""The emulator's in-memory account: voices, buckets and objects, agent instances, fault rules."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

SERVICES = ("dashscope", "oss", "ice")
FAULTS = ("429", "500", "drop_after_commit", "drop_before_commit")
COSYVOICE_MODELS = (
    "cosyvoice-v2",
    "cosyvoice-v3-flash",
    "cosyvoice-v3-plus",
    "cosyvoice-v3.5-flash",
    "cosyvoice-v3.5-plus",
    # voice-enrollment also clones for Qwen-Audio targets; voicectl does not target it, but meets its
    # `qwen-audio-3.0-tts-{prefix}-{uid}` ids in an account.
    "qwen-audio-3.0-tts",
)
QWEN_MODELS = ("qwen3-tts-vc-realtime-2026-01-15", "qwen3-tts-vc-2026-01-22", "qwen3-tts-vc-realtime-2025-11-27")
# Where each cloning target is offered (the international API lists only the v3 CosyVoice models).
BEIJING, SINGAPORE = "cn-beijing", "ap-southeast-1"
MODEL_REGIONS: dict[str, tuple[str, ...]] = {
    **{m: (BEIJING,) for m in COSYVOICE_MODELS},
    "cosyvoice-v3-flash": (BEIJING, SINGAPORE),
    "cosyvoice-v3-plus": (BEIJING, SINGAPORE),
    **{m: (BEIJING, SINGAPORE) for m in QWEN_MODELS},
}
# CosyVoice create options and the targets that take them.
PROMPT_LENGTH_MODELS = ("cosyvoice-v3-flash", "cosyvoice-v3.5-flash", "cosyvoice-v3.5-plus")
PREPROCESS_MODELS = ("cosyvoice-v3-flash", "cosyvoice-v3-plus", "cosyvoice-v3.5-flash", "cosyvoice-v3.5-plus")
# The service reports times in Beijing time without a zone ("2024-12-11 13:38:02").
SERVICE_TZ = timezone(timedelta(hours=8))

# "429" | "500" | "drop_*" | ("latency", seconds) | ("error", status, code, message)
Fault = str | tuple[str, float] | tuple[str, int, str, str]


@dataclass(frozen=True)
class Call:
    """One request as the emulator received it. `status` is 0 when the connection was dropped."""

    service: str
    action: str
    params: dict[str, Any]
    status: int
    at: float  # time.time() of arrival
    fault: str | None = None  # the injected fault that shaped the answer, if any


@dataclass
class _Fault:
    service: str
    action: str
    kind: str  # one of FAULTS, "latency" or "error"
    seconds: float
    times: int
    after: int
    error: tuple[int, str, str] | None = None  # (status, code, message) of an "error" fault


@dataclass
class _Voice:
    voice_id: str
    family: str  # "cosyvoice" | "qwen"
    target_model: str
    prefix: str | None
    preferred_name: str | None
    resource_link: str | None
    language: str | None
    created: datetime
    modified: datetime
    seq: int
    region: str = BEIJING
    ready_at: float = 0.0  # time.monotonic() when the review ends
    review_fails: bool = False
    review_reasons: list[str] = field(default_factory=list)

    def status(self, now: float) -> str:
        if self.family == "qwen":
            return "OK"  # no review: usable at once
        if now < self.ready_at:
            return "DEPLOYING"
        return "UNDEPLOYED" if self.review_fails else "OK"


@dataclass
class _ReviewFailRule:
    match: Callable[[str], bool]
    single: bool  # a voice-id rule is spent after one review; a predicate applies once per voice
    spent_on: set[str] = field(default_factory=set)


@dataclass
class _Object:
    data: bytes
    content_type: str
    meta: dict[str, str]
    etag: str
    crc64: int
    last_modified: datetime
    acl: str = "default"


@dataclass
class _Bucket:
    name: str
    region: str = BEIJING  # V4 signatures must be scoped to it
    versioning: str | None = None  # None (never enabled) | "Enabled" | "Suspended"
    objects: dict[str, _Object] = field(default_factory=dict)


@dataclass
class _Instance:
    instance_id: str
    agent_id: str
    agent_config: dict[str, Any]
    status: str = "Executing"
    template_config: dict[str, Any] = field(default_factory=dict)
    runtime_config: dict[str, Any] = field(default_factory=dict)
    user_data: str | None = None
    session_id: str | None = None
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    modified: datetime = field(default_factory=lambda: datetime.now(UTC))


def cosyvoice_prefix(voice_id: str) -> str | None:
    parts = voice_id.rsplit("-", 2)
    return parts[1] if len(parts) == 3 and parts[0] in COSYVOICE_MODELS else None
