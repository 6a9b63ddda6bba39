"""What the cloud offers that voicectl depends on: the cloning models and what each accepts.

Pure data. Rules that depend on a model (its family, whether it has a review or an in-place update, the audio
it takes) are read from here, never spelled out again by the planner, the audio checks or the providers.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelInfo:
    """What voicectl needs to know about a cloning model."""

    name: str
    family: str  # "cosyvoice" | "qwen"
    supports_update: bool  # in-place update_voice keeps the voice id (CosyVoice only)
    min_sample_rate: int
    mono_only: bool
    has_review: bool  # CosyVoice voices go DEPLOYING -> OK/UNDEPLOYED; Qwen voices are usable at once


def _cosy(name: str) -> ModelInfo:
    return ModelInfo(name, "cosyvoice", True, 16_000, False, True)


def _qwen(name: str) -> ModelInfo:
    return ModelInfo(name, "qwen", False, 24_000, True, False)


MODELS: dict[str, ModelInfo] = {
    m.name: m
    for m in (
        _cosy("cosyvoice-v2"),
        _cosy("cosyvoice-v3-flash"),
        _cosy("cosyvoice-v3-plus"),
        _cosy("cosyvoice-v3.5-flash"),
        _cosy("cosyvoice-v3.5-plus"),
        _qwen("qwen3-tts-vc-realtime-2026-01-15"),
        _qwen("qwen3-tts-vc-2026-01-22"),
    )
}


# The content type each accepted container is uploaded with (chosen by content, never by file name).
AUDIO_CONTENT_TYPES = {"wav": "audio/wav", "mp3": "audio/mpeg", "m4a": "audio/mp4"}

# What the service's review of source audio looks for: shown when a review fails, explained by `voicectl lint`.
REVIEW_CHECKLIST: tuple[str, ...] = (
    "content: clear speech by one speaker, no music, no background voices",
    "format: WAV (16-bit PCM), MP3 or M4A, sample rate 16 kHz or more (24 kHz mono for Qwen models), at most 10 MB",
    "clarity: at least 5 s of continuous clear speech; 10-20 s of audio in total is best, 60 s at most",
    "noise: recorded in a quiet room, no echo, no clipping",
)
