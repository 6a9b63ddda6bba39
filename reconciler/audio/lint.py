"""Audio quality lint: predict a review failure offline, from what the recording contains.

Most failed clones fail on their source audio, and a failed review costs a round trip, a quota slot and
minutes of waiting. `lint_file` measures a file (`reconciler.audio.analysis`, cached by content sha256 in
`reconciler.audio.cache`) and holds the metrics against the limits of the voice's model family:

errors, which the service documents and a review fails on:
  no speech at all (digital silence, or nothing the voice activity detector takes for speech); a stereo file
  whose first channel, the one CosyVoice listens to, is silent; continuous speech shorter than 5 s
  (CosyVoice) or 3 s (Qwen), after closing gaps under 0.7 s; any pause over 2 s;
warnings, which make a poor clone or a likely rejection but are no published limit:
  an estimated SNR under 20 dB (WADA-SNR), clipping on more than 0.1 % of the samples, integrated loudness
  under -30 LUFS (ITU-R BS.1770), band-limited (upsampled telephone) audio, and a length outside 10-20 s.

The file's declared properties (format, rate, mono for Qwen, size, 10-60 s) are `reconciler.audio.rules`'s;
`lint_file` reports those too, so `voicectl lint` shows everything in one place. Every message names the
measured value, the limit and the fix; callers put the file's name in front.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import av.error

from reconciler.audio.analysis import GAP_CLOSE, Metrics, measure_audio
from reconciler.audio.cache import MetricsCache, default_cache
from reconciler.audio.probe import DECODER, SILENT, AudioInfo, AudioProbeError, ffmpeg_reason, probe_audio
from reconciler.audio.rules import MIN_SECONDS, AudioReport, Finding, findings, inspect_audio
from reconciler.catalog import COSYVOICE, QWEN, ModelInfo

# voicectl's code for a content failure that the review would reject. The service itself only reports the
# voice as UNDEPLOYED; the simulated review answers with this code and the lint's message.
QUALITY = "Audio.AudioQualityError"

# Continuous speech the service needs, by model family (its documentation: 5 s for CosyVoice, 3 s for Qwen).
MIN_CONTINUOUS_SPEECH: dict[str, float] = {COSYVOICE: 5.0, QWEN: 3.0}
MAX_PAUSE = 2.0  # seconds, anywhere in the file, leading and trailing silence included
BEST_SECONDS = (MIN_SECONDS, 20.0)  # recommended length; shorter is a rules error
MIN_SNR_DB = 20.0  # below it the clone copies the noise; a quiet room with a close microphone gives 30+
MAX_CLIPPING = 0.001  # share of samples at full scale: a few isolated peaks are harmless, runs are distortion
MIN_LUFS = -30.0  # spoken word is mastered around -16 to -23 LUFS; under -30 the voice is buried in the floor
# Wideband speech carries energy 4.3-7 kHz about 15-30 dB below the telephone band; an 8 kHz recording
# upsampled has none (-50 dB and lower: only the resampler's stopband and the dither).
MIN_HIGH_BAND_DB = -40.0

CHECKS = ("no_speech", "first_channel", "continuous_speech", "pause", "length", "snr", "clipping", "loudness", "band")


@dataclass(frozen=True)
class LintReport:
    """One file's lint: its declared properties (None when it cannot be probed), what it contains (None when
    it was not decoded) and every finding, the rules' first."""

    info: AudioInfo | None
    metrics: Metrics | None
    findings: list[Finding] = field(default_factory=list)

    @property
    def errors(self) -> list[str]:
        return [f.message for f in self.findings if f.error]

    @property
    def warnings(self) -> list[str]:
        return [f.message for f in self.findings if not f.error]

    @property
    def checks(self) -> list[str]:
        return [f.check for f in self.findings]


# A lint error is a prediction: when the service is known to accept the recording, the voice can opt out.
_OPT_OUT = " (a false alarm? set `lint: false` on this voice)"


def inspect_file(path: str, *, model: ModelInfo, recorded: bool, sha256: str, lint: bool) -> AudioReport:
    """What validate, plan and apply keep of one file: the documented checks and, unless `lint` is False,
    the lint of its content with the metrics summary."""
    if not lint:
        return inspect_audio(path, model=model, recorded=recorded, sha256=sha256)
    linted = lint_file(path, model=model, recorded=recorded, sha256=sha256)
    errors = [f.message for f in linted.findings if f.error and f.check not in CHECKS]
    content = [f.message + _OPT_OUT for f in linted.findings if f.error and f.check in CHECKS]
    summary = metrics_summary(linted.metrics)
    return AudioReport(linted.info, errors, linted.warnings, content, tuple(summary.items()) if summary else ())


def lint_file(
    path: str,
    *,
    model: ModelInfo,
    recorded: bool = False,
    sha256: str | None = None,
    formats: bool = True,
    cache: MetricsCache | None = None,
) -> LintReport:
    """Probe, check and measure one file. `formats=False` skips the declared-property rules (a fixture in a
    format the service does not take). Decoding failures become findings, never exceptions."""
    try:
        info = probe_audio(path, sha256=sha256)
    except AudioProbeError as exc:
        return LintReport(None, None, [Finding(exc.code, str(exc), True)])
    found = findings(info, model=model, recorded=recorded) if formats else []
    try:
        metrics = (cache or default_cache()).get(info.sha256, lambda: measure_audio(path))
    except av.error.FFmpegError as exc:
        reason = ffmpeg_reason(exc)
        found.append(Finding(DECODER, f"audio cannot be decoded ({reason}); export or copy the file again", True))
        return LintReport(info, None, found)
    return LintReport(info, metrics, found + content_findings(metrics, model=model, duration=info.duration))


def content_findings(m: Metrics, *, model: ModelInfo, duration: float) -> list[Finding]:
    """The lint's findings on measured content. When there is no speech to measure, that is the only one:
    a silent file's SNR, loudness and pauses say nothing more."""
    silent = _silence_findings(m)
    if silent:
        return silent
    return _speech_findings(m, model) + _quality_findings(m, duration)


def _silence_findings(m: Metrics) -> list[Finding]:
    if m.other_peak_dbfs is not None and m.other_peak_dbfs > -70.0 and m.speech_seconds == 0:
        return [
            _error(
                "first_channel",
                SILENT,
                f"the first channel is {'digital silence' if m.digital_silence else 'silent'} (peak "
                f"{_db(m.peak_dbfs)}) while the other has sound (peak {m.other_peak_dbfs:.1f} dBFS); the service "
                "listens to the first channel only: downmix to mono, e.g. `ffmpeg -i INPUT -af "
                "pan=mono|c0=c1 OUTPUT.wav`, or swap the channels",
            )
        ]
    if m.digital_silence:
        return [_error("no_speech", SILENT, "audio is digital silence (every sample is 0): record it again")]
    if m.speech_seconds == 0 and m.peak_dbfs > -40.0:
        return [
            _error(
                "no_speech",
                SILENT,
                f"no speech detected: the audio has sound (peak {_db(m.peak_dbfs)}, {m.lufs:.1f} LUFS) but nothing "
                "that sounds like a voice (noise, tones or music?): check that this is the right file; the service "
                "needs clear speech by one speaker",
            )
        ]
    if m.speech_seconds == 0:
        return [
            _error(
                "no_speech",
                SILENT,
                f"no speech detected (peak {_db(m.peak_dbfs)}, {m.lufs:.1f} LUFS); the service needs clear speech by "
                "one speaker: record again with the microphone close to the speaker",
            )
        ]
    return []


def _speech_findings(m: Metrics, model: ModelInfo) -> list[Finding]:
    """Errors: too little continuous speech, too long a pause."""
    found: list[Finding] = []
    need = MIN_CONTINUOUS_SPEECH[model.family]
    if m.longest_speech < need:
        found.append(
            _error(
                "continuous_speech",
                QUALITY,
                f"longest continuous speech is {_down(m.longest_speech)} s (gaps under {GAP_CLOSE} s closed); "
                f"{model.name} needs at least {need:.0f} s: record a passage read without stopping",
            )
        )
    if m.longest_pause > MAX_PAUSE:
        end = m.pause_start + m.longest_pause
        found.append(
            _error(
                "pause",
                QUALITY,
                f"pause of {_up(m.longest_pause)} s without speech ({_span(m.pause_start, end, m.analysed)}); "
                f"pauses must stay under {MAX_PAUSE:.0f} s: cut it shorter or record again",
            )
        )
    return found


def _quality_findings(m: Metrics, duration: float) -> list[Finding]:
    """Warnings: length, noise, clipping, loudness, bandwidth."""
    found: list[Finding] = []
    lo, hi = BEST_SECONDS
    if hi < duration <= 60.0:
        found.append(
            _warning("length", f"audio is {duration:.1f} s long; {lo:.0f}-{hi:.0f} s works best: trim it to about 15 s")
        )
    if m.snr_db is not None and m.snr_db < MIN_SNR_DB:
        found.append(
            _warning(
                "snr",
                f"estimated SNR is {_down(m.snr_db)} dB (WADA-SNR); it should be at least {MIN_SNR_DB:.0f} dB: record "
                "in a quiet room without music or other voices, microphone close to the speaker",
            )
        )
    if m.clipping > MAX_CLIPPING:
        found.append(
            _warning(
                "clipping",
                f"{_up(m.clipping * 100, 2)}% of the samples are clipped (at full scale); at most {MAX_CLIPPING:.1%} is "
                "acceptable: record again with lower input gain (peaks around -6 dBFS)",
            )
        )
    if m.lufs < MIN_LUFS:
        found.append(
            _warning(
                "loudness",
                f"loudness is {_down(m.lufs)} LUFS (ITU-R BS.1770); it should be at least {MIN_LUFS:.0f} LUFS: record "
                "with more input gain or normalize, e.g. `ffmpeg -i INPUT -af loudnorm=I=-20 OUTPUT.wav`",
            )
        )
    if m.high_band_db is not None and m.high_band_db < MIN_HIGH_BAND_DB:
        found.append(
            _warning(
                "band",
                f"audio is band-limited: energy above 4.3 kHz is {m.high_band_db:.0f} dB below the 0.3-3.4 kHz "
                f"band (wideband speech: above {MIN_HIGH_BAND_DB:.0f} dB), as in telephone audio upsampled from "
                "8 kHz; use a recording made at 16 kHz or more",
            )
        )
    return found


def _error(check: str, code: str, message: str) -> Finding:
    return Finding(code, message, True, check)


def _warning(check: str, message: str) -> Finding:
    return Finding(QUALITY, message, False, check)


# A measured value shown beside its limit is rounded away from the limit, so the message never contradicts
# itself ("SNR is 20.0 dB; it should be at least 20 dB" for 19.96 dB).
def _down(value: float, decimals: int = 1) -> str:
    scale = 10**decimals
    return f"{math.floor(value * scale) / scale:.{decimals}f}"


def _up(value: float, decimals: int = 1) -> str:
    scale = 10**decimals
    return f"{math.ceil(value * scale) / scale:.{decimals}f}"


def _db(value: float) -> str:
    return "-inf dBFS" if value == float("-inf") else f"{value:.1f} dBFS"


def _span(start: float, end: float, total: float) -> str:
    if start <= 0.0:
        return f"the first {end:.1f} s"
    if end >= total - 0.05:
        return f"the last {end - start:.1f} s, from {start:.1f} s"
    return f"from {start:.1f} s to {end:.1f} s"


def metrics_summary(m: Metrics | None) -> dict[str, Any] | None:
    """The metrics users see (`voicectl lint`, state, the apply report), rounded for reading."""
    if m is None:
        return None
    return {
        "speech_ratio": round(m.speech_ratio, 2),
        "longest_speech_s": round(m.longest_speech, 1),
        "longest_pause_s": round(m.longest_pause, 1),
        "snr_db": None if m.snr_db is None else round(m.snr_db, 1),
        "clipping": round(m.clipping, 5),
        "lufs": round(m.lufs, 1),
    }


def explain(metrics: tuple[tuple[str, float | None], ...], *, model: ModelInfo) -> str:
    """The measurements behind a failed review, in words, the ones past a limit marked with "(!)"."""
    values = dict(metrics)
    if not values:
        return ""
    need = MIN_CONTINUOUS_SPEECH[model.family]
    shown: list[tuple[str, bool]] = []
    if (ratio := values.get("speech_ratio")) is not None:
        shown.append((f"speech {ratio:.0%} of the audio", ratio == 0))
    if (speech := values.get("longest_speech_s")) is not None:
        shown.append((f"longest continuous speech {speech} s (needs {need:.0f} s)", speech < need))
    if (pause := values.get("longest_pause_s")) is not None:
        shown.append((f"longest pause {pause} s (at most {MAX_PAUSE:.0f} s)", pause > MAX_PAUSE))
    if (snr := values.get("snr_db")) is not None:
        shown.append((f"SNR {snr} dB", snr < MIN_SNR_DB))
    if (clip := values.get("clipping")) is not None:
        shown.append((f"clipping {clip:.2%}", clip > MAX_CLIPPING))
    if (lufs := values.get("lufs")) is not None:
        shown.append((f"loudness {lufs} LUFS", lufs < MIN_LUFS))
    return "Audio lint measured: " + ", ".join(text + (" (!)" if bad else "") for text, bad in shown) + "."
