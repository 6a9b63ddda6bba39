"""The lint's real-speech fixtures, derived in the test setup from the committed espeak-ng readings.

`reconciler/audio/data/*.ogg` (made once by scripts/make_speech_fixtures.py) are clean readings; every
variant below is that reading changed in one way, written as 16-bit WAV at 24 kHz (so that both model
families accept it). No espeak-ng or sox is needed here: numpy and PyAV do the mixing and resampling.
"""

from __future__ import annotations

import wave
from pathlib import Path

import av
import numpy as np

from reconciler.audio.sample import reading

RATE = 24_000
BASE = "en-male"


def write_wav(path: Path, samples: np.ndarray, rate: int = RATE) -> Path:
    """Float samples in [-1, 1] ((n,) mono or (channels, n)) as 16-bit PCM WAV, saturating like a converter."""
    frames = np.atleast_2d(samples)
    pcm = np.clip(np.round(frames.T * 32767.0), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(frames.shape[0])
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.tobytes())
    return path


def resample(samples: np.ndarray, src: int, dst: int) -> np.ndarray:
    frame = av.AudioFrame.from_ndarray(samples[None, :].astype(np.float32), format="fltp", layout="mono")
    frame.sample_rate = src
    resampler = av.AudioResampler(format="fltp", layout="mono", rate=dst)
    out = [f.to_ndarray()[0] for f in resampler.resample(frame)] + [f.to_ndarray()[0] for f in resampler.resample(None)]
    return np.concatenate(out).astype(np.float64)


def clean(name: str = BASE) -> np.ndarray:
    return np.asarray(reading(name, RATE), dtype=np.float64)


def _quietest_point(x: np.ndarray, around: int, within: int) -> int:
    """A cut between words near `around`: the quietest 10 ms within `within` samples of it."""
    energy = np.convolve(x**2, np.ones(RATE // 100), mode="same")
    lo, hi = max(0, around - within), min(len(x), around + within)
    return lo + int(np.argmin(energy[lo:hi]))


def with_pause(x: np.ndarray, seconds: float = 4.0) -> np.ndarray:
    cut = _quietest_point(x, len(x) // 2, RATE)
    return np.concatenate([x[:cut], np.zeros(int(seconds * RATE)), x[cut:]])


def with_white_noise(x: np.ndarray, snr_db: float = 0.0, seed: int = 1) -> np.ndarray:
    """Gaussian white noise at `snr_db` relative to the reading's mean power, pauses included."""
    noise = np.random.default_rng(seed).standard_normal(len(x))
    noisy = x + noise * np.sqrt(np.mean(x**2) / 10 ** (snr_db / 10))
    return noisy * min(1.0, 0.9 / np.max(np.abs(noisy)))  # headroom, so the noise does not clip too


def with_gain(x: np.ndarray, db: float) -> np.ndarray:
    return x * 10 ** (db / 20)  # write_wav saturates what goes past full scale, as a converter clips


def speech_runs(x: np.ndarray, run_seconds: float = 4.0, gap_seconds: float = 1.5, runs: int = 3) -> np.ndarray:
    """The reading cut into runs of `run_seconds` separated by `gap_seconds` of silence: no pause is long,
    yet no stretch of continuous speech reaches 5 s."""
    n = int(run_seconds * RATE)
    pieces: list[np.ndarray] = []
    for k in range(runs):
        if pieces:
            pieces.append(np.zeros(int(gap_seconds * RATE)))
        pieces.append(x[k * n : (k + 1) * n])
    return np.concatenate(pieces)


def with_tone_bed(x: np.ndarray, relative_db: float = -6.0) -> np.ndarray:
    """A music-like bed under the speech: two alternating four-note chords with harmonics, 0.5 s each."""
    t = np.arange(len(x)) / RATE
    chords = ((220.0, 277.18, 329.63, 440.0), (246.94, 311.13, 369.99, 493.88))
    bed = np.zeros(len(x))
    step = RATE // 2
    for start in range(0, len(x), step):
        tt = t[start : start + step]
        rise = np.minimum(1.0, (tt - tt[0]) / 0.02)
        fall = np.minimum(1.0, (tt[-1] - tt + 1e-9) / 0.05)
        chord = chords[(start // step) % 2]
        bed[start : start + step] = sum(
            (np.sin(2 * np.pi * f * tt) + 0.5 * np.sin(4 * np.pi * f * tt) + 0.25 * np.sin(6 * np.pi * f * tt))
            for f in chord
        ) * np.minimum(rise, fall)
    bed *= np.sqrt(np.mean(x**2) / np.mean(bed**2)) * 10 ** (relative_db / 20)
    mixed = x + bed
    return mixed * min(1.0, 0.9 / np.max(np.abs(mixed)))


def telephone(x: np.ndarray) -> np.ndarray:
    """Through an 8 kHz telephone line and back: upsampled, nothing above 4 kHz."""
    return resample(resample(x, RATE, 8000), 8000, RATE)


def silent_first_channel(x: np.ndarray) -> np.ndarray:
    return np.stack([np.zeros_like(x), x])


# -- sound that is not a voice: what a wrong file (noise recording, ringtone, hold music) looks like ------


def _t(seconds: float = 12.0) -> np.ndarray:
    return np.arange(int(seconds * RATE)) / RATE


def white_noise(rms_dbfs: float, seconds: float = 12.0, seed: int = 7) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(int(seconds * RATE)) * 10 ** (rms_dbfs / 20)


def chord(peak_dbfs: float, freqs: tuple[float, ...] = (220.0, 277.0, 330.0), seconds: float = 12.0) -> np.ndarray:
    """Steady sine chords (A major), held for the whole file."""
    t = _t(seconds)
    x = sum(np.sin(2 * np.pi * f * t) for f in freqs)
    return np.asarray(x) / len(freqs) * 10 ** (peak_dbfs / 20)


def chord_progression(seconds: float = 12.0) -> np.ndarray:
    """A major, G, F, G, one chord a second, each struck and decaying like a piano: music-like."""
    t = _t(seconds)
    chords = ((220.0, 277.0, 330.0), (196.0, 247.0, 294.0), (175.0, 220.0, 262.0), (196.0, 247.0, 294.0))
    out = np.zeros_like(t)
    for i in range(int(np.ceil(seconds))):
        seg = (t >= i) & (t < i + 1)
        local = t[seg] - i
        envelope = np.minimum(1.0, local * 20) * np.exp(-local * 1.5)
        out[seg] = sum(np.sin(2 * np.pi * f * t[seg]) for f in chords[i % 4]) / 3 * envelope * 0.3
    return out


def vibrato_tone(seconds: float = 12.0) -> np.ndarray:
    """A 440 Hz tone with a 5.5 Hz, +-10 Hz vibrato: a singer's held note, or a ringtone."""
    t = _t(seconds)
    return 0.3 * np.sin(2 * np.pi * (440.0 * t + 10.0 / 5.5 * np.sin(2 * np.pi * 5.5 * t)))


def with_bed(x: np.ndarray, bed: np.ndarray, snr_db: float) -> np.ndarray:
    """`x` over `bed` (looped or cut to its length) at `snr_db` below the speech's mean power."""
    bed = np.resize(bed, len(x))
    scale = np.sqrt(np.mean(x**2) / np.mean(bed**2) / 10 ** (snr_db / 10))
    return x + bed * scale


NOT_A_VOICE = {
    "noise_quiet": lambda: white_noise(-50.0),
    "noise_medium": lambda: white_noise(-30.0),
    "noise_loud": lambda: white_noise(-15.0),
    "chord_quiet": lambda: chord(-40.0),
    "chord_medium": lambda: chord(-20.0),
    "chord_loud": lambda: chord(-6.0),
    "chord_progression": chord_progression,
    "vibrato_tone": vibrato_tone,
}


def build(directory: Path) -> dict[str, Path]:
    """Write every fixture into `directory`; name -> path."""
    x = clean()
    variants = {
        "clean": x,
        "pause_4s": with_pause(x),
        "noise_0db": with_white_noise(x),
        "gain_15db": with_gain(x, 15.0),
        "speech_4s_runs": speech_runs(x),
        "speech_4s_only": x[: 4 * RATE],
        "tone_bed": with_tone_bed(x),
        "gain_minus_30db": with_gain(x, -30.0),
        "telephone_8khz": telephone(x),
        "silence": np.zeros(12 * RATE),
        "stereo_silent_first": silent_first_channel(x),
        "noise_bed_10db": with_bed(x, white_noise(-20.0, seconds=len(x) / RATE), 10.0),
        "music_bed_10db": with_bed(x, chord_progression(), 10.0),
        **{name: make() for name, make in NOT_A_VOICE.items()},
    }
    return {name: write_wav(directory / f"{name}.wav", samples) for name, samples in variants.items()}
