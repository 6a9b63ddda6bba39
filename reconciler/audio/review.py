"""What the simulated service review decides (local provider, cloud emulator): the service's rules, then
a decode of the first 60 s and a frame-energy check for silence.

Limits of the content check, on purpose: it measures loudness, not speech. Music, noise or a second speaker
pass it; the real review may still reject those (see REVIEW_CHECKLIST, shown to users when a review fails).
"""

from __future__ import annotations

import math
from array import array
from operator import mul

import av
import av.error

from reconciler.audio.probe import DECODER, SILENT, AudioInfo, AudioProbeError, ffmpeg_reason, probe_fields
from reconciler.audio.rules import MAX_USED_SECONDS, MIN_SPEECH_SECONDS, findings
from reconciler.catalog import ModelInfo

# Frame-energy silence check used by review_audio. 50 ms frames are short enough to see the gaps between
# words; -40 dBFS sits well above a quiet room's noise floor (about -60 dBFS) and well below speech at a
# normal recording level (-30 to -15 dBFS RMS).
SILENCE_DBFS = -40.0
FRAME_SECONDS = 0.05
_ANALYSIS_RATE = 8000  # loudness needs no more bandwidth than this, and it keeps the Python loop short


def review_audio(path: str, *, model: ModelInfo, recorded: bool = False) -> list[str]:
    """Failure reasons of a simulated service review, "Code: message"; an empty list passes.

    Like the service, it stops at the file's declared properties when those already fail, and decodes
    the audio only when they pass. The content check decodes the first 60 s (all the service uses) of
    the first channel (the one it uses), resampled to 8 kHz, and measures the RMS level of 50 ms frames:
    frames above SILENCE_DBFS count as signal, and at least MIN_SPEECH_SECONDS of them are needed."""
    try:
        info = AudioInfo(**probe_fields(path), sha256="")  # the review needs no hash
    except AudioProbeError as exc:
        return [f"{exc.code}: {exc}"]
    failures = [f"{f.code}: {f.message}" for f in findings(info, model=model, recorded=recorded) if f.error]
    if failures:
        return failures
    try:
        levels = _frame_levels(path)
    except av.error.FFmpegError as exc:
        return [f"{DECODER}: audio cannot be decoded ({ffmpeg_reason(exc)}); export or copy the file again"]
    loud = sum(1 for db in levels if db >= SILENCE_DBFS)
    signal = loud * FRAME_SECONDS
    if loud == 0:
        peak = max(levels, default=-math.inf)
        level = "digital silence" if peak == -math.inf else f"loudest 50 ms at {peak:.0f} dBFS"
        return [
            f"{SILENT}: audio is silent ({level}; speech needs frames above {SILENCE_DBFS:.0f} dBFS); "
            "record again with the microphone close to the speaker"
        ]
    if signal < MIN_SPEECH_SECONDS:
        return [
            f"{SILENT}: audio has only {signal:.1f} s of non-silent signal (50 ms frames above "
            f"{SILENCE_DBFS:.0f} dBFS); the service needs at least {MIN_SPEECH_SECONDS:.0f} s of continuous "
            "clear speech: record again with more speech and less silence"
        ]
    return []


def _frame_levels(path: str) -> list[float]:
    """RMS level in dBFS of each 50 ms frame of the first channel, over the first 60 s."""
    limit = int(MAX_USED_SECONDS * _ANALYSIS_RATE)
    samples = bytearray()
    with av.open(path, "r") as container:
        stream = container.streams.audio[0]
        # Planar output so plane 0 is exactly the first channel, which is the one the service listens to.
        resampler = av.AudioResampler(format="s16p", rate=_ANALYSIS_RATE)
        done = False
        for frame in container.decode(stream):
            for out in resampler.resample(frame):
                samples += bytes(out.planes[0])[: 2 * out.samples]
            if len(samples) >= 2 * limit:
                done = True
                break
        if not done:
            for out in resampler.resample(None):
                samples += bytes(out.planes[0])[: 2 * out.samples]
    pcm = array("h")  # s16 planes are native-endian, as array reads them
    pcm.frombytes(bytes(samples[: 2 * limit]))
    step = int(FRAME_SECONDS * _ANALYSIS_RATE)
    levels = []
    for start in range(0, len(pcm) - step + 1, step):
        frame = pcm[start : start + step]
        energy = sum(map(mul, frame, frame)) / step
        levels.append(10.0 * math.log10(energy / (32768.0 * 32768.0)) if energy > 0 else -math.inf)
    return levels
