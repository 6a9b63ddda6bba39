"""Voice activity detection for the lint: which frames of 16 kHz mono audio hold speech.

Two detectors, chosen by `VOICECTL_VAD`:

- `webrtc` (default): webrtcvad, the WebRTC GMM detector, 30 ms frames. A C library of 200 kB, about 2 ms
  for 20 s. Mode 1 of 0-3: on the fixtures every mode gives the same findings; the lower ones keep quiet
  word endings as speech, so they raise no false "pause" errors.
- `silero`: Silero VAD (a small neural network) through onnxruntime, 32 ms frames, speech where its
  probability reaches 0.5. An optional extra: `pip install onnxruntime && pip install --no-deps silero-vad`
  (the ONNX file ships inside the silero-vad wheel; --no-deps keeps its torch requirement out, since only
  the file is used; nothing is downloaded at run time). It costs about 40 ms for 20 s, and it hears speech
  under noise: with a noise or music bed at 5 dB SNR or less, webrtcvad calls everything speech and misses
  a 4 s pause or short runs of speech, Silero finds them (tests/test_lint_silero.py).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import numpy as np

from reconciler.errors import VoicectlError

RATE = 16_000
ENV = "VOICECTL_VAD"
WEBRTC_FRAME = 480  # 30 ms, the longest frame webrtcvad takes (fewer calls, steadier decisions)
WEBRTC_MODE = 1
SILERO_FRAME = 512  # 32 ms: the window the 16 kHz model is trained on
_SILERO_CONTEXT = 64  # samples of the previous window the model sees before each new one
SILERO_THRESHOLD = 0.5


def detector_name(env: dict[str, str] | None = None) -> str:
    name = (os.environ if env is None else env).get(ENV, "webrtc").strip().lower() or "webrtc"
    if name not in ("webrtc", "silero"):
        raise VoicectlError(f"{ENV}={name!r}: use webrtc (the default) or silero")
    return name


def speech_frames(pcm: np.ndarray, name: str | None = None) -> tuple[np.ndarray, int]:
    """(one bool per frame: speech?, frame length in samples) for float samples at 16 kHz."""
    detectors: dict[str, Callable[[np.ndarray], np.ndarray]] = {"webrtc": _webrtc, "silero": _silero}
    chosen = name or detector_name()
    return detectors[chosen](pcm), WEBRTC_FRAME if chosen == "webrtc" else SILERO_FRAME


def _webrtc(pcm: np.ndarray) -> np.ndarray:
    import webrtcvad  # imported here: only commands that lint pay for it

    vad = webrtcvad.Vad(WEBRTC_MODE)
    n = len(pcm) // WEBRTC_FRAME
    # webrtcvad's energy gate is absolute, so a clean but quiet recording would read as silence; lift the
    # level to a -3 dBFS peak first (bounded at +40 dB so near-silence is not turned into "speech").
    peak = float(np.max(np.abs(pcm[: n * WEBRTC_FRAME]))) if n else 0.0
    gain = min(10 ** (40 / 20), 0.7 / peak) if peak > 0 else 1.0
    data = np.clip(pcm[: n * WEBRTC_FRAME] * (gain * 32767.0), -32768, 32767).astype("<i2").tobytes()
    step = 2 * WEBRTC_FRAME
    flags = np.fromiter((vad.is_speech(data[i * step : (i + 1) * step], RATE) for i in range(n)), dtype=bool, count=n)
    return voice_gate(pcm[: n * WEBRTC_FRAME], flags, WEBRTC_FRAME)


# webrtcvad tells sound from silence, not a voice from other sound: after the level lift, quiet white noise
# and steady tones read as speech throughout. Each second of what it flags is therefore held against two
# properties of a voice, measured on its flagged frames (fixture figures from bench/bench_lint.py):
# - spectral flatness (geometric over arithmetic mean of the 100-4000 Hz power spectrum): speech has formants
#   and harmonics, 0.006-0.05 clean, up to 0.3-0.4 under white noise at 0-5 dB SNR; white noise is 0.54-0.60;
#   sine tones and synthetic chords are below 0.001;
# - the spread of frame energy: syllables rise and fall by several dB (5-15 dB clean, 4 dB or more under a
#   10 dB noise or music bed); steady noise, a held chord or a vibrato tone varies by less than 1 dB.
# A second that fails either does not sound like a voice. When most seconds fail (NOT_VOICE_SHARE), the file
# holds no voice (a noise recording, a ringtone, hold music: the wrong file) and nothing in it is speech. A
# file with a voice keeps the detector's frames as they are: judged per second, the seconds of a noise or
# music bed between phrases fail too, which would cut real speech under a loud bed into short runs. Seconds
# with fewer than GATE_MIN_FRAMES flagged frames are not judged.
GATE_BLOCK = 33  # frames of 30 ms: about a second
GATE_MIN_FRAMES = 5
NOT_VOICE_SHARE = 0.8
NOISE_FLATNESS = 0.45
TONE_FLATNESS = 0.003
STEADY_DB = 1.0


def voice_gate(pcm: np.ndarray, flags: np.ndarray, frame: int) -> np.ndarray:
    """`flags`, or none at all when most of what they flag sounds like noise or steady tones, not a voice."""
    if not flags.any():
        return flags
    frames = pcm[: len(flags) * frame].reshape(len(flags), frame).astype(np.float64)
    power = np.abs(np.fft.rfft(frames * np.hanning(frame), axis=1)) ** 2
    freqs = np.fft.rfftfreq(frame, 1.0 / RATE)
    band = power[:, (freqs >= 100.0) & (freqs <= 4000.0)] + 1e-12
    flatness = np.exp(np.mean(np.log(band), axis=1)) / np.mean(band, axis=1)
    energy_db = 10.0 * np.log10(np.mean(frames**2, axis=1) + 1e-12)
    judged = not_voice = 0
    for start in range(0, len(flags), GATE_BLOCK):
        mine = flags[start : start + GATE_BLOCK]
        if np.count_nonzero(mine) < GATE_MIN_FRAMES:
            continue
        judged += 1
        flat = float(np.median(flatness[start : start + GATE_BLOCK][mine]))
        spread = float(np.std(energy_db[start : start + GATE_BLOCK][mine]))
        not_voice += flat > NOISE_FLATNESS or flat < TONE_FLATNESS or spread < STEADY_DB
    if judged and not_voice >= NOT_VOICE_SHARE * judged:
        return np.zeros_like(flags)
    return flags


@lru_cache(maxsize=1)
def _silero_session() -> Any:
    try:
        import onnxruntime
    except ImportError:
        raise VoicectlError(
            f"{ENV}=silero needs the optional Silero VAD: pip install onnxruntime && pip install --no-deps silero-vad"
        ) from None
    # Locate the package without importing it: its __init__ imports torch, which is not installed.
    spec = importlib.util.find_spec("silero_vad")
    locations = list(spec.submodule_search_locations or []) if spec else []
    model = next((os.path.join(d, "data", "silero_vad.onnx") for d in locations), None)
    if model is None or not os.path.exists(model):
        raise VoicectlError(f"{ENV}=silero: silero_vad.onnx not found; pip install --no-deps silero-vad")
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1  # one file's frames are sequential (the model is recurrent)
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def _silero(pcm: np.ndarray) -> np.ndarray:
    session = _silero_session()
    n = len(pcm) // SILERO_FRAME
    state = np.zeros((2, 1, 128), dtype=np.float32)
    context = np.zeros(_SILERO_CONTEXT, dtype=np.float32)
    rate = np.array(RATE, dtype=np.int64)
    flags = np.zeros(n, dtype=bool)
    samples = pcm.astype(np.float32, copy=False)
    for i in range(n):
        chunk = samples[i * SILERO_FRAME : (i + 1) * SILERO_FRAME]
        prob, state = session.run(
            None, {"input": np.concatenate([context, chunk])[None, :], "state": state, "sr": rate}
        )
        context = chunk[-_SILERO_CONTEXT:]
        flags[i] = prob[0, 0] >= SILERO_THRESHOLD
    return flags
