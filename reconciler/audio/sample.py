"""Sample speech for `voicectl init`, the committed examples and the tests: short clean readings.

`reconciler/audio/data/` holds three espeak-ng readings of 12-14 s (English, two voices, and Mandarin),
made once by `scripts/make_speech_fixtures.py` and shipped as package data (Ogg Vorbis, about 270 kB in
all). They are real speech to the lint (voice activity, pauses, SNR, loudness), so the starter project and
the examples pass it the way a good recording does, where a synthetic tone would not. `speech_pcm` strings
readings together at a level and in an order chosen by the seed, so every seed gives different bytes (tests
need many distinct files) and any length can be had.
"""

from __future__ import annotations

import io
import os
import random
import wave
from array import array
from functools import lru_cache

import av
import numpy as np

DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
READINGS = ("en-male", "en-female", "zh")
_SENTENCE_GAP = 0.35  # seconds between two readings: a breath, well under the lint's 0.7 s gap closing
_LEAD_IN = 0.15  # seconds of silence before the first word, as in any real recording


def reading_path(name: str) -> str:
    return os.path.join(DATA_DIR, f"{name}.ogg")


@lru_cache(maxsize=16)
def reading(name: str, sample_rate: int) -> np.ndarray:
    """One shipped reading as mono float32 at `sample_rate` (decoded and resampled by FFmpeg)."""
    parts: list[np.ndarray] = []
    with av.open(reading_path(name)) as container:
        resampler = av.AudioResampler(format="fltp", layout="mono", rate=sample_rate)
        for frame in container.decode(audio=0):
            parts += [out.to_ndarray()[0] for out in resampler.resample(frame)]
        parts += [out.to_ndarray()[0] for out in resampler.resample(None)]
    samples = np.concatenate(parts)
    samples.flags.writeable = False  # shared by every caller through the cache
    return samples


def speech_float(*, seconds: float = 12.0, sample_rate: int = 16000, seed: int = 0) -> np.ndarray:
    """`seconds` of clean speech as float32 in [-1, 1], deterministic for `seed`."""
    rng = random.Random(seed)
    first = seed % len(READINGS)
    order = READINGS[first:] + READINGS[:first]
    total = int(seconds * sample_rate)
    pieces = [np.zeros(int(_LEAD_IN * sample_rate), dtype=np.float32)]
    got = len(pieces[0])
    gap = np.zeros(int(_SENTENCE_GAP * sample_rate), dtype=np.float32)
    i = 0
    while got < total:
        speech = reading(order[i % len(order)], sample_rate)
        pieces += [speech, gap]
        got += len(speech) + len(gap)
        i += 1
    out = np.concatenate(pieces)[:total]
    # Peak between -5 and -1 dBFS: a level a careful recording has, and a different one for every seed.
    peak = float(np.max(np.abs(out))) or 1.0
    out = out * (10 ** (rng.uniform(-5.0, -1.0) / 20) / peak)
    fade = min(total, int(0.02 * sample_rate))  # a cut mid-word must not end in a click
    if fade:
        out[total - fade :] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    return out.astype(np.float32)


def speech_pcm(*, seconds: float = 12.0, sample_rate: int = 16000, seed: int = 0) -> array[int]:
    """Mono signed 16-bit samples of clean speech, `seconds` long, deterministic for `seed`."""
    samples = np.round(speech_float(seconds=seconds, sample_rate=sample_rate, seed=seed) * 32767.0)
    pcm = array("h")
    pcm.frombytes(samples.astype(np.int16).tobytes())  # native order, as array reads it
    return pcm


def _write_wav(path: str, pcm: array[int], sample_rate: int) -> None:
    if pcm.itemsize != 2:
        raise ValueError("16-bit samples expected")
    data = pcm if array("h", [1]).tobytes() == b"\x01\x00" else _byteswapped(pcm)  # WAV is little-endian
    with wave.open(path, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(data.tobytes())


def pcm16(samples: np.ndarray) -> bytes:
    """Float samples in [-1, 1] as 16-bit little-endian PCM (saturating like a converter)."""
    return np.clip(np.round(np.asarray(samples, dtype=np.float64) * 32767.0), -32768, 32767).astype("<i2").tobytes()


def pcm16_wav(pcm: bytes, sample_rate: int) -> bytes:
    """Mono 16-bit PCM (what the synthesis APIs stream) as the bytes of a WAV file."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(pcm)
    return buffer.getvalue()


def wav_bytes(samples: np.ndarray, sample_rate: int) -> bytes:
    """Float samples in [-1, 1] as the bytes of a mono 16-bit PCM WAV file."""
    return pcm16_wav(pcm16(samples), sample_rate)


def _byteswapped(pcm: array[int]) -> array[int]:
    copy = array("h", pcm)
    copy.byteswap()
    return copy


def write_sample_wav(path: str, *, seconds: float = 12.0, sample_rate: int = 16000, seed: int = 0) -> None:
    """Write a mono 16-bit PCM WAV of clean speech (see the module docstring)."""
    _write_wav(path, speech_pcm(seconds=seconds, sample_rate=sample_rate, seed=seed), sample_rate)


def write_silence_wav(path: str, seconds: float, sample_rate: int = 16000) -> None:
    """Write a mono 16-bit PCM WAV of digital silence: well-formed, and bound to fail the review."""
    _write_wav(path, array("h", bytes(2 * int(seconds * sample_rate))), sample_rate)
