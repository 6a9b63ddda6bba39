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
    return np.fromiter((vad.is_speech(data[i * step : (i + 1) * step], RATE) for i in range(n)), dtype=bool, count=n)


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
