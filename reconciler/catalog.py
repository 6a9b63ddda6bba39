"""What the cloud offers that voicectl depends on: the cloning models, what each accepts, and the regions.

Pure data. Rules that depend on a model (its family, whether it has a review or an in-place update, the audio
it takes, where it is offered, the languages and options it takes) are read from here, never spelled out again
by the planner, the config checks, the audio checks or the providers.

Sources: the Model Studio CosyVoice and Qwen voice-cloning API references and the base-URL overview. Where
they disagree the narrower reading is kept (a refusal at validate changes nothing; a wrong guess fails an
apply half-way): see the README's "Shared facts" for each such choice.
"""

from __future__ import annotations

from dataclasses import dataclass

COSYVOICE = "cosyvoice"
QWEN = "qwen"

BEIJING = "cn-beijing"
SINGAPORE = "ap-southeast-1"

# Language codes each family documents for its hint (CosyVoice `language_hints[0]`, Qwen `language`).
COSYVOICE_V2_LANGUAGES = ("zh", "en")
COSYVOICE_LANGUAGES = ("zh", "en", "fr", "de", "ja", "ko", "ru")
QWEN_LANGUAGES = ("zh", "en", "de", "it", "pt", "es", "ja", "ko", "fr", "ru")

# Per-voice options and the models that take them (voices.yaml keys of the same name).
MAX_PROMPT_AUDIO_LENGTH = "max_prompt_audio_length"  # seconds of audio kept after preprocessing
ENABLE_PREPROCESS = "enable_preprocess"  # noise reduction / enhancement / volume normalisation
TEXT = "text"  # transcript of the audio (Qwen checks it against the audio)
MAX_PROMPT_AUDIO_RANGE = (3.0, 30.0)


@dataclass(frozen=True)
class ModelInfo:
    """What voicectl needs to know about a cloning model."""

    name: str
    family: str  # COSYVOICE | QWEN
    supports_update: bool  # in-place update_voice keeps the voice id (CosyVoice only)
    min_sample_rate: int
    mono_only: bool
    has_review: bool  # CosyVoice voices go DEPLOYING -> OK/UNDEPLOYED; Qwen voices are usable at once
    regions: tuple[str, ...] = (BEIJING,)  # where Model Studio clones for this target model
    languages: tuple[str, ...] = ()  # accepted language hints; empty: the model takes none
    options: frozenset[str] = frozenset()  # per-voice options the create call accepts for this model


_V3 = frozenset({MAX_PROMPT_AUDIO_LENGTH, ENABLE_PREPROCESS})


def _cosy(name: str, regions: tuple[str, ...], languages: tuple[str, ...], options: frozenset[str]) -> ModelInfo:
    return ModelInfo(name, COSYVOICE, True, 16_000, False, True, regions, languages, options)


def _qwen(name: str) -> ModelInfo:
    return ModelInfo(name, QWEN, False, 24_000, True, False, (BEIJING, SINGAPORE), QWEN_LANGUAGES, frozenset({TEXT}))


MODELS: dict[str, ModelInfo] = {
    m.name: m
    for m in (
        # The international API reference lists only the v3 models as cloning targets in Singapore; v2 and
        # v3.5 are documented for Beijing alone.
        _cosy("cosyvoice-v2", (BEIJING,), COSYVOICE_V2_LANGUAGES, frozenset()),
        _cosy("cosyvoice-v3-flash", (BEIJING, SINGAPORE), COSYVOICE_LANGUAGES, _V3),
        # max_prompt_audio_length is documented for v3-flash and v3.5 only; preprocessing for all v3+.
        _cosy("cosyvoice-v3-plus", (BEIJING, SINGAPORE), COSYVOICE_LANGUAGES, frozenset({ENABLE_PREPROCESS})),
        _cosy("cosyvoice-v3.5-flash", (BEIJING,), COSYVOICE_LANGUAGES, _V3),
        _cosy("cosyvoice-v3.5-plus", (BEIJING,), COSYVOICE_LANGUAGES, _V3),
        _qwen("qwen3-tts-vc-realtime-2026-01-15"),
        _qwen("qwen3-tts-vc-2026-01-22"),
        _qwen("qwen3-tts-vc-realtime-2025-11-27"),
    )
}


def models_in(region: str) -> list[str]:
    return [m.name for m in MODELS.values() if region in m.regions]


# --------------------------------------------------------------------------------------------------
# Regions and their DashScope hosts
# --------------------------------------------------------------------------------------------------

# The shared DashScope domain of each region where Model Studio clones voices. A key belongs to one
# region: the other region's host answers 401 InvalidApiKey. A workspace also has its own host,
# `{workspace}.{region}.maas.aliyuncs.com`, which takes only that workspace's keys.
DASHSCOPE_HOSTS: dict[str, str] = {
    BEIJING: "dashscope.aliyuncs.com",
    SINGAPORE: "dashscope-intl.aliyuncs.com",
}
REGIONS = tuple(DASHSCOPE_HOSTS)


@dataclass(frozen=True)
class DashScopeEndpoints:
    http: str  # base of the HTTP API, e.g. https://dashscope.aliyuncs.com/api/v1
    websocket: str  # CosyVoice's WebSocket synthesis, e.g. wss://.../api-ws/v1/inference
    realtime: str  # Qwen's realtime synthesis (the SDK appends ?model=...), e.g. wss://.../api-ws/v1/realtime


def dashscope_host(region: str, workspace: str | None = None) -> str:
    if region not in DASHSCOPE_HOSTS:
        raise KeyError(region)
    return f"{workspace}.{region}.maas.aliyuncs.com" if workspace else DASHSCOPE_HOSTS[region]


def dashscope_endpoints(region: str, workspace: str | None = None) -> DashScopeEndpoints:
    """The DashScope bases of `region`: the workspace's own host when a workspace is given, else the shared one."""
    host = dashscope_host(region, workspace)
    return DashScopeEndpoints(
        http=f"https://{host}/api/v1",
        websocket=f"wss://{host}/api-ws/v1/inference",
        realtime=f"wss://{host}/api-ws/v1/realtime",
    )


# --------------------------------------------------------------------------------------------------
# Speech synthesis (audition)
# --------------------------------------------------------------------------------------------------

INFERENCE, REALTIME, GENERATION = "inference", "realtime", "generation"
# Characters per request: CosyVoice takes 20,000 per continue-task (a Chinese character counting two);
# voicectl sends Qwen at most 600 at a time, over HTTP (Qwen-TTS's input limit) and over the realtime API
# (which documents none), which keeps each answer short.
SYNTHESIS_TEXT_LIMIT = {INFERENCE: 20_000, REALTIME: 600, GENERATION: 600}


def speech_api(model: str) -> str | None:
    """The API a voice of `model` speaks through: INFERENCE (CosyVoice's WebSocket), REALTIME (the Qwen realtime
    models' WebSocket), GENERATION (the other Qwen models: HTTP multimodal-generation), None (unknown)."""
    if model.startswith("cosyvoice"):
        return INFERENCE
    if model.startswith("qwen"):
        return REALTIME if "-realtime" in model else GENERATION
    return None


def billed_characters(text: str, api: str) -> int:
    """A text's length as the API counts it: CosyVoice counts a CJK ideograph as two characters."""
    if api != INFERENCE:
        return len(text)
    return sum(2 if "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf" else 1 for ch in text)


# --------------------------------------------------------------------------------------------------
# Limits
# --------------------------------------------------------------------------------------------------

# Requests per second each enrollment family allows an account, counted separately: CosyVoice 10 RPS
# across its versions; qwen-voice-enrollment 180 RPM, which the service also enforces per second (RPM/60).
ENROLLMENT_RATE: dict[str, int] = {COSYVOICE: 10, QWEN: 3}
MODEL_STUDIO_VOICE_CAP = 1000  # voices the service keeps per account
CONSOLE_VOICE_QUOTA = 30  # the IMS console's quota, which voicectl enforces (account.quota)
INLINE_AUDIO_MAX_BYTES = 10 * 1024 * 1024  # a base64 data URI must stay under 10 MB once encoded

# The content type each accepted container is uploaded with (chosen by content, never by file name).
AUDIO_CONTENT_TYPES = {"wav": "audio/wav", "mp3": "audio/mpeg", "m4a": "audio/mp4"}

# What the service's review of source audio looks for: shown when a review fails, explained by `voicectl lint`.
REVIEW_CHECKLIST: tuple[str, ...] = (
    "content: clear speech by one speaker, no music, no background voices",
    "format: WAV (16-bit PCM), MP3 or M4A, sample rate 16 kHz or more (24 kHz mono for Qwen models), at most 10 MB",
    "clarity: at least 5 s of continuous clear speech; 10-20 s of audio in total is best, 60 s at most",
    "noise: recorded in a quiet room, no echo, no clipping",
)
