"""The service's published rules for source audio, held against a probed file: user-facing errors and
warnings, each with the measured value and the fix (WAV 16-bit, MP3 or M4A; >= 16 kHz, 24 kHz mono for Qwen;
<= 10 MB; 10-60 s, at least 20 s for a live recording). What the audio contains is `reconciler.audio.lint`'s.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

from reconciler.audio.probe import (
    CODEC_NAMES,
    CONTAINER_NAMES,
    FORMAT,
    RATE,
    SHORT,
    SIZE,
    AudioInfo,
    AudioProbeError,
    probe_audio,
)
from reconciler.catalog import AUDIO_CONTENT_TYPES, ModelInfo

MAX_BYTES = 10 * 1024 * 1024
MIN_SECONDS = 10.0
MIN_RECORDED_SECONDS = 20.0
MAX_SECONDS = 60.0  # the documented maximum

_EXTENSIONS = {"wav": {"wav", "wave"}, "mp3": {"mp3"}, "m4a": {"m4a", "mp4"}}
_ACCEPTED_CODEC = {"wav": "pcm_s16le", "mp3": "mp3", "m4a": "aac"}
_FIX_FORMAT = "convert it to 16-bit PCM WAV, MP3 or M4A (AAC)"


@dataclass(frozen=True)
class AudioReport:
    info: AudioInfo | None  # None when the file could not be probed at all
    errors: list[str] = field(default_factory=list)  # the documented rules: the service refuses such a file
    warnings: list[str] = field(default_factory=list)
    # The lint's predictions about the content (no speech, long pauses, ...): errors for audio that is sent.
    lint_errors: list[str] = field(default_factory=list)
    # The lint's metrics summary (audio.lint.metrics_summary's items); () when the content was not linted.
    metrics: tuple[tuple[str, float | None], ...] = ()

    @property
    def ok(self) -> bool:
        return not self.errors and not self.lint_errors


@dataclass(frozen=True)
class Finding:
    code: str  # the service's error code for it (what the simulated review answers)
    message: str
    error: bool  # False: a warning
    check: str = "format"  # which check: format, channels, sample_rate, size, duration, or a lint check


def check_audio(info: AudioInfo, *, model: ModelInfo, recorded: bool) -> tuple[list[str], list[str]]:
    """(errors, warnings) for a probed file; each message says what is wrong, with numbers, and the fix."""
    found = findings(info, model=model, recorded=recorded)
    return [f.message for f in found if f.error], [f.message for f in found if not f.error]


def inspect_audio(path: str, *, model: ModelInfo, recorded: bool, sha256: str | None = None) -> AudioReport:
    """Probe and check one file without decoding it; probe failures become errors."""
    try:
        info = probe_audio(path, sha256=sha256)
    except AudioProbeError as exc:
        return AudioReport(None, [str(exc)], [])
    errors, warnings = check_audio(info, model=model, recorded=recorded)
    return AudioReport(info, errors, warnings)


def findings(info: AudioInfo, *, model: ModelInfo, recorded: bool) -> list[Finding]:
    return _format_findings(info, model) + _layout_findings(info, model) + _length_findings(info, recorded)


def _format_findings(info: AudioInfo, model: ModelInfo) -> list[Finding]:
    found: list[Finding] = []
    ext = os.path.splitext(info.path)[1].lower().lstrip(".")
    what = _describe(info)
    if info.format not in _ACCEPTED_CODEC:
        if ext and ext in set().union(*_EXTENSIONS.values()) and ext not in _own_extensions(info.format):
            msg = f"named .{ext} but contains {what}, which is not WAV/MP3/M4A; {_FIX_FORMAT}"
        else:
            msg = f"audio is {what}, not WAV/MP3/M4A; {_FIX_FORMAT}"
        found.append(Finding(FORMAT, f"{msg}, e.g. {_ffmpeg_hint(info, model)}", True))
    elif info.codec != _ACCEPTED_CODEC[info.format]:
        found.append(Finding(FORMAT, _codec_message(info, model), True))
    elif ext and ext not in _EXTENSIONS[info.format]:
        found.append(
            Finding(
                FORMAT,
                f"named .{ext} but contains {CONTAINER_NAMES[info.format]}; voicectl goes by the content "
                f"and uploads it as {AUDIO_CONTENT_TYPES[info.format]}, but other tools may not: "
                f"rename it to .{info.format}",
                False,
            )
        )
    return found


def _layout_findings(info: AudioInfo, model: ModelInfo) -> list[Finding]:
    """Channels, rate and size."""
    found: list[Finding] = []
    if info.channels > 2:
        found.append(
            Finding(
                FORMAT,
                f"audio has {info.channels} channels; the service takes mono or stereo: downmix to mono",
                True,
                "channels",
            )
        )
    elif info.channels == 2 and model.mono_only:
        found.append(
            Finding(FORMAT, f"audio is stereo (2 channels); {model.name} needs mono: downmix to mono", True, "channels")
        )

    if info.sample_rate < model.min_sample_rate:
        khz = model.min_sample_rate // 1000
        found.append(
            Finding(
                RATE,
                f"sample rate is {info.sample_rate} Hz; {model.name} needs at least {model.min_sample_rate} "
                f"Hz: resample to {khz} kHz or more",
                True,
                "sample_rate",
            )
        )

    if info.size > MAX_BYTES:
        found.append(
            Finding(
                SIZE,
                f"file is {info.size / (1024 * 1024):.1f} MB ({info.size} bytes); the service accepts "
                f"at most 10 MB ({MAX_BYTES} bytes): trim or compress it "
                "(MP3 at 128 kbps keeps 60 s under 1 MB)",
                True,
                "size",
            )
        )
    return found


def _length_findings(info: AudioInfo, recorded: bool) -> list[Finding]:
    found: list[Finding] = []
    need = MIN_RECORDED_SECONDS if recorded else MIN_SECONDS
    if info.duration < need:
        # Round down: "9.96 s long; needs at least 10 s" must not print as "10.0 s".
        shown = math.floor(info.duration * 10) / 10
        who = "a live recording (recorded: true) needs" if recorded else "cloning needs"
        fix = (
            f"record at least {need:.0f} s of clear speech"
            if recorded
            else f"record or trim to at least {need:.0f} s (10-20 s recommended)"
        )
        found.append(
            Finding(SHORT, f"audio is {shown:.1f} s long; {who} at least {need:.0f} s: {fix}", True, "duration")
        )
    elif info.duration > MAX_SECONDS:
        shown = math.ceil(info.duration * 10) / 10
        found.append(
            Finding(
                SHORT,
                f"audio is {shown:.1f} s long; the service takes at most {MAX_SECONDS:.0f} s: "
                "trim it to 10-20 s of clear speech",
                True,
                "duration",
            )
        )
    return found


def _own_extensions(fmt: str) -> set[str]:
    return _EXTENSIONS.get(fmt, {fmt})


def _describe(info: AudioInfo) -> str:
    """ "OGG Vorbis", "FLAC", "WAV with 24-bit PCM": what the file really is, in words."""
    container = CONTAINER_NAMES.get(info.format, info.format.upper())
    codec = _codec_words(info)
    if codec.lower() == container.lower() or (info.format == "aac" and info.codec == "aac"):
        return container
    return f"{container} {codec}"


def _codec_words(info: AudioInfo) -> str:
    if info.codec.startswith("pcm_"):
        kind = "float" if info.codec.startswith("pcm_f") else "PCM"
        if info.codec in ("pcm_alaw", "pcm_mulaw"):
            return CODEC_NAMES[info.codec]
        if info.bits_per_sample:
            return f"{info.bits_per_sample}-bit {kind}" if kind == "PCM" else f"{info.bits_per_sample}-bit float"
    return CODEC_NAMES.get(info.codec, info.codec)


def _codec_message(info: AudioInfo, model: ModelInfo) -> str:
    if info.format == "wav":
        if info.codec.startswith("pcm_f"):
            wrong = f"{info.bits_per_sample}-bit float PCM" if info.bits_per_sample else "float PCM"
        elif info.codec.startswith("pcm_") and info.bits_per_sample and info.codec not in ("pcm_alaw", "pcm_mulaw"):
            wrong = f"{info.bits_per_sample}-bit PCM"
        else:
            wrong = f"encoded as {_codec_words(info)}"
        return (
            f"WAV audio is {wrong}; the service reads only 16-bit PCM WAV: re-export as 16-bit PCM WAV, "
            f"e.g. {_ffmpeg_hint(info, model)}"
        )
    container = CONTAINER_NAMES[info.format]
    expected = CODEC_NAMES[_ACCEPTED_CODEC[info.format]]
    return (
        f"{container} file contains {_codec_words(info)} audio, not {expected}: {_FIX_FORMAT}, "
        f"e.g. {_ffmpeg_hint(info, model)}"
    )


def _ffmpeg_hint(info: AudioInfo, model: ModelInfo) -> str:
    """A concrete conversion command that fixes format, channels and rate in one go."""
    args = ["ffmpeg -i INPUT"]
    if model.mono_only or info.channels > 2:
        args.append("-ac 1")
    if info.sample_rate < model.min_sample_rate:
        args.append(f"-ar {model.min_sample_rate}")
    args.append("-c:a pcm_s16le OUTPUT.wav")
    return f"`{' '.join(args)}`"
