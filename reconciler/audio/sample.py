"""Speech-like sample audio, synthesized in pure Python (no numpy).

`voicectl init` writes a short sample so a fresh starter config validates, plans and applies on the local
provider, and `scripts/make_example_audio.py` encodes the committed examples from the same PCM. The sound
only has to look like speech to the offline checks and the simulated review: voiced syllables with a
moving pitch, formant colouring, syllable envelopes and pauses between words. It is not meant to be
intelligible, and it is no use for cloning a real voice.

How it stays cheap: a vowel is a glottal pulse train filtered by 3 formant resonators. Each resonator's
impulse response is a damped sinusoid, so one pitch period of the filtered pulse train is (to a good
approximation) the sum of the three responses, truncated at the period. That sum is computed once per
syllable; each pitch period is then one scaled slice of it, built by a list comprehension. There is no
per-sample filter recursion, so 12 s at 16 kHz takes a few tens of milliseconds.
"""

from __future__ import annotations

import math
import random
import wave
from array import array

# (F1, F2, F3) in Hz of a few vowels, roughly an adult male speaker.
_VOWELS: tuple[tuple[float, float, float], ...] = (
    (730.0, 1090.0, 2440.0),  # a
    (530.0, 1840.0, 2480.0),  # e
    (270.0, 2290.0, 3010.0),  # i
    (570.0, 840.0, 2410.0),  # o
    (300.0, 870.0, 2240.0),  # u
    (660.0, 1720.0, 2410.0),  # ae
)
_BANDWIDTHS = (80.0, 100.0, 150.0)  # Hz; wider bandwidth = faster decay of each resonance
_FORMANT_GAINS = (1.0, 0.6, 0.3)  # higher formants are weaker in voiced speech
_MIN_F0, _MAX_F0 = 100.0, 220.0
_PEAK = 0.55 * 32767  # headroom: the consonant noise is added on top of a syllable's start


def _period_response(formants: tuple[float, float, float], sample_rate: int, length: int) -> list[float]:
    """Impulse response of the formant resonators, peak-normalized to 1."""
    out = [0.0] * length
    for freq, bw, gain in zip(formants, _BANDWIDTHS, _FORMANT_GAINS, strict=True):
        if freq >= sample_rate / 2:  # a resonance above Nyquist would alias into a whistle
            continue
        decay = math.exp(-math.pi * bw / sample_rate)
        step = 2.0 * math.pi * freq / sample_rate
        amp = gain
        for n in range(length):
            out[n] += amp * math.sin(step * n)
            amp *= decay
    peak = max(abs(x) for x in out) or 1.0
    return [x / peak for x in out]


def _syllable(rng: random.Random, sample_rate: int, f0_start: float, f0_end: float, seconds: float) -> array:
    pcm = array("h")
    total = int(seconds * sample_rate)
    if rng.random() < 0.6:
        # A consonant onset: a short burst of noise, which is what makes the energy contour look like speech.
        burst = int(sample_rate * rng.uniform(0.02, 0.05))
        level = _PEAK * rng.uniform(0.08, 0.18)
        pcm.extend(int(level * (rng.random() * 2.0 - 1.0)) for _ in range(burst))
        total -= burst
    response = _period_response(rng.choice(_VOWELS), sample_rate, int(sample_rate / _MIN_F0) + 1)
    attack, release = 0.2 * total, 0.35 * total
    done = 0
    while done < total:
        frac = done / total
        f0 = min(_MAX_F0, max(_MIN_F0, f0_start + (f0_end - f0_start) * frac))
        period = int(sample_rate / f0)
        # Envelope held constant over one period: per-sample envelopes would cost a multiply per sample
        # for no audible gain at this resolution.
        if done < attack:
            env = done / attack
        elif done > total - release:
            env = (total - done) / release
        else:
            env = 1.0
        amp = _PEAK * (0.15 + 0.85 * env) * rng.uniform(0.9, 1.0)  # shimmer: real voices are never steady
        pcm.extend([int(amp * x) for x in response[:period]])
        done += period
    return pcm


def speech_pcm(*, seconds: float = 12.0, sample_rate: int = 16000, seed: int = 0) -> array:
    """Mono signed 16-bit samples of speech-like sound, `seconds` long, deterministic for `seed`."""
    rng = random.Random(seed)
    total = int(seconds * sample_rate)
    pcm = array("h", bytes(2 * int(0.15 * sample_rate)))  # a lead-in, as in any real recording
    base = rng.uniform(115.0, 150.0)  # the "speaker's" habitual pitch
    words_in_phrase = 0
    while len(pcm) < total:
        # Declination: pitch drifts down over a phrase and resets at the next one, as in read speech.
        f0 = base * (1.15 - 0.05 * words_in_phrase)
        for _ in range(rng.choice((1, 1, 2, 2, 3))):
            f0_start = f0 * rng.uniform(0.9, 1.25)
            f0_end = f0 * rng.uniform(0.8, 1.1)
            pcm.extend(_syllable(rng, sample_rate, f0_start, f0_end, rng.uniform(0.14, 0.28)))
        words_in_phrase += 1
        if words_in_phrase >= rng.choice((4, 5, 6)):
            words_in_phrase = 0
            gap = rng.uniform(0.3, 0.5)
        else:
            gap = rng.uniform(0.06, 0.18)
        pcm.extend(bytes(2 * int(gap * sample_rate)))
    del pcm[total:]
    # Fade the last 20 ms so a cut mid-syllable does not end in a click.
    fade = min(total, int(0.02 * sample_rate))
    for i in range(fade):
        pcm[total - 1 - i] = int(pcm[total - 1 - i] * i / fade)
    return pcm


def _write_wav(path: str, pcm: array, sample_rate: int) -> None:
    if pcm.itemsize != 2:
        raise ValueError("16-bit samples expected")
    data = pcm if array("h", [1]).tobytes() == b"\x01\x00" else _byteswapped(pcm)  # WAV is little-endian
    with wave.open(path, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(data.tobytes())


def _byteswapped(pcm: array) -> array:
    copy = array("h", pcm)
    copy.byteswap()
    return copy


def write_sample_wav(path: str, *, seconds: float = 12.0, sample_rate: int = 16000, seed: int = 0) -> None:
    """Write a mono 16-bit PCM WAV of speech-like sound (see the module docstring)."""
    _write_wav(path, speech_pcm(seconds=seconds, sample_rate=sample_rate, seed=seed), sample_rate)


def write_silence_wav(path: str, seconds: float, sample_rate: int = 16000) -> None:
    """Write a mono 16-bit PCM WAV of digital silence: well-formed, and bound to fail the review."""
    _write_wav(path, array("h", bytes(2 * int(seconds * sample_rate))), sample_rate)
