"""Measuring what a source recording contains: speech, pauses, noise, clipping, loudness, bandwidth.

`measure_audio` decodes the first 60 s (all the service uses) of a file's first channel (the one it uses)
with PyAV and returns `Metrics`, which `reconciler.audio.lint` holds against the limits. Everything here
is vectorised numpy or a C library, so a 20 s file costs tens of milliseconds:

- speech activity: webrtcvad (the WebRTC GMM voice activity detector), or Silero VAD (`reconciler.audio.vad`);
- loudness: FFmpeg's ebur128 filter through PyAV, i.e. ITU-R BS.1770-4 (K-weighting, 400 ms blocks with
  75 % overlap, absolute gate at -70 LUFS, relative gate at -10 LU). pyloudnorm does the same in numpy, but
  it needs scipy (about 140 MB installed and 0.7-0.9 s to import on the development machine, more than
  `voicectl validate` takes in all), while FFmpeg is already here for decoding;
- SNR: WADA-SNR (`reconciler.audio.wada`), exact zeros excluded;
- clipping: the share of samples within 0.1 % of full scale, at the file's own rate;
- bandwidth: the speech frames' energy above 4 kHz relative to the telephone band, which tells an 8 kHz
  (telephone) recording upsampled to 16 kHz or more from a wideband one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import av
import av.error
import numpy as np

ANALYSED_SECONDS = 60.0  # the service uses at most the first minute
RATE = 16_000  # analysis rate: the VADs', and wide enough to see the band above telephone speech
GAP_CLOSE = 0.7  # seconds: shorter gaps between speech (breaths, stops) do not break continuous speech
CLIP_LEVEL = 0.999  # of full scale
SILENCE_PEAK = 10 ** (-70 / 20)  # a channel whose peak stays below -70 dBFS holds nothing audible
LOUDNESS_FLOOR = -70.0  # BS.1770's absolute gate: quieter blocks do not count, so nothing is quieter
_LOW_BAND = (300.0, 3400.0)  # Hz: the telephone band
_HIGH_BAND = (4300.0, 7000.0)  # Hz: above it, below the lowpass of low-bit-rate encoders at 16 kHz
_FFT = 512


@dataclass(frozen=True)
class Metrics:
    """What one file's first channel contains (over its first 60 s). Times in seconds, levels in dB."""

    analysed: float  # seconds of audio looked at
    channels: int
    peak_dbfs: float  # -inf for digital silence
    speech_seconds: float
    speech_ratio: float  # speech / analysed
    longest_speech: float  # longest run of speech after closing gaps under GAP_CLOSE
    longest_pause: float  # longest run without speech, leading and trailing silence included
    pause_start: float  # where that pause starts
    snr_db: float | None  # WADA-SNR; None without a non-zero sample, or when it cannot judge (see _wada)
    clipping: float  # share of samples at full scale
    lufs: float  # integrated loudness, LOUDNESS_FLOOR when nothing passes the gate
    high_band_db: float | None  # energy 4.3-7 kHz relative to 0.3-3.4 kHz in speech; None without speech
    other_peak_dbfs: float | None  # stereo: peak of the other channel(s); None for mono
    vad: str = "webrtc"  # the detector that found the speech

    @property
    def digital_silence(self) -> bool:
        return self.peak_dbfs == -np.inf

    def to_json(self) -> dict[str, Any]:
        return {k: _finite(v) for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Metrics:
        fields = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        for key in ("peak_dbfs", "other_peak_dbfs"):
            if fields[key] == "-inf":
                fields[key] = -np.inf
        return cls(**fields)


def _finite(value: Any) -> Any:
    """JSON has no infinities; -inf dBFS (digital silence) travels as the string "-inf"."""
    if isinstance(value, float) and value == -np.inf:
        return "-inf"
    return value  # full precision: a cached entry reads back as the very value measured


def measure_audio(path: str, vad: str | None = None) -> Metrics:
    """Decode and measure `path` (`vad`: the detector, default VOICECTL_VAD's). Raises av.error.FFmpegError
    when the file cannot be decoded."""
    from reconciler.audio.vad import detector_name, speech_frames

    vad = vad or detector_name()
    native, rate, others = _decode_first_channel(path)
    analysed = len(native) / rate if rate else 0.0
    peak = float(np.max(np.abs(native))) if native.size else 0.0
    other_peak = None if others is None else _dbfs(others)
    if peak == 0.0:
        return Metrics(analysed, 1 if others is None else 2, -np.inf, 0.0, 0.0, 0.0, analysed, 0.0, None, 0.0,
                       LOUDNESS_FLOOR, None, other_peak, vad)  # fmt: skip
    clipping = float(np.count_nonzero(np.abs(native) >= CLIP_LEVEL)) / native.size
    pcm = native if rate == RATE else _resample(native, rate)
    speech, frame = speech_frames(pcm, vad)
    if peak < SILENCE_PEAK:  # nothing audible: whatever a detector makes of the dither is not speech
        speech = np.zeros_like(speech)
    frame_s = frame / RATE
    longest_speech = _longest_run(_close_gaps(speech, round(GAP_CLOSE / frame_s))) * frame_s
    pause_frames, pause_at = _longest_run_at(~speech)
    return Metrics(
        analysed=analysed,
        channels=1 if others is None else 2,
        peak_dbfs=20.0 * float(np.log10(peak)),
        speech_seconds=float(np.count_nonzero(speech)) * frame_s,
        speech_ratio=float(np.count_nonzero(speech)) / max(1, len(speech)),
        longest_speech=longest_speech,
        longest_pause=pause_frames * frame_s,
        pause_start=pause_at * frame_s,
        snr_db=_wada(native if rate > 24_000 else pcm),
        clipping=clipping,
        lufs=_loudness(pcm),
        high_band_db=_high_band(pcm, speech, frame),
        other_peak_dbfs=other_peak,
        vad=vad,
    )


def read_first_channel(path: str) -> tuple[np.ndarray, int]:
    """The first channel of `path` (its first 60 s) as float32 samples, and its sample rate."""
    samples, rate, _ = _decode_first_channel(path)
    return samples, rate


def _dbfs(samples: np.ndarray) -> float:
    peak = float(np.max(np.abs(samples))) if samples.size else 0.0
    return 20.0 * float(np.log10(peak)) if peak > 0 else -np.inf


def _decode_first_channel(path: str) -> tuple[np.ndarray, int, np.ndarray | None]:
    """(first channel as float32 at the file's rate, that rate, the other channels or None for mono)."""
    with av.open(path, "r") as container:
        stream = container.streams.audio[0]
        rate = int(stream.codec_context.sample_rate or 0)
        limit = int(ANALYSED_SECONDS * rate)
        # Planar float at the file's own rate: a format conversion only, so plane 0 is exactly the first
        # channel and clipped samples keep their value.
        resampler = av.AudioResampler(format="fltp", rate=rate)
        first: list[np.ndarray] = []
        rest: list[np.ndarray] = []
        got = 0
        for frame in container.decode(stream):
            for out in resampler.resample(frame):
                planes = out.to_ndarray()
                first.append(planes[0])
                if planes.shape[0] > 1:
                    rest.append(planes[1:])
                got += planes.shape[1]
            if got >= limit:
                break
        else:
            for out in resampler.resample(None):
                planes = out.to_ndarray()
                first.append(planes[0])
                if planes.shape[0] > 1:
                    rest.append(planes[1:])
    native = np.concatenate(first)[:limit] if first else np.zeros(0, dtype=np.float32)
    others = np.concatenate(rest, axis=1)[:, :limit] if rest else None
    return native, rate, others


def _resample(samples: np.ndarray, rate: int) -> np.ndarray:
    """`samples` (mono float32 at `rate`) at 16 kHz, by FFmpeg's resampler in one call."""
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[None, :]), format="fltp", layout="mono")
    frame.sample_rate = rate
    resampler = av.AudioResampler(format="fltp", layout="mono", rate=RATE)
    parts = [out.to_ndarray()[0] for out in resampler.resample(frame)]
    parts += [out.to_ndarray()[0] for out in resampler.resample(None)]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)


def _close_gaps(speech: np.ndarray, max_gap: int) -> np.ndarray:
    """Speech flags with every non-speech run shorter than `max_gap` frames between two speech runs filled."""
    closed = speech.copy()
    starts, lengths = _runs(~speech)
    for start, length in zip(starts, lengths, strict=True):
        if length < max_gap and start > 0 and start + length < len(speech):
            closed[start : start + length] = True
    return closed


def _runs(flags: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start indices and lengths of the runs of True in `flags`."""
    if flags.size == 0:
        return np.zeros(0, dtype=int), np.zeros(0, dtype=int)
    edges = np.diff(np.concatenate(([0], flags.astype(np.int8), [0])))
    starts = np.flatnonzero(edges == 1)
    return starts, np.flatnonzero(edges == -1) - starts


def _longest_run(flags: np.ndarray) -> int:
    return _longest_run_at(flags)[0]


def _longest_run_at(flags: np.ndarray) -> tuple[int, int]:
    starts, lengths = _runs(flags)
    if lengths.size == 0:
        return 0, 0
    i = int(np.argmax(lengths))
    return int(lengths[i]), int(starts[i])


# Above this WADA-SNR cannot tell one SNR from another: the amplitude distribution is already the clean-speech
# prior, and small departures from it (a lossy codec zeroing its quietest samples: the 32 kbps example MP3
# read 98 dB, clean AAC 40-47 dB) send the estimate to the top of its table. Such a reading is reported as
# "cannot judge" (None), never as a number; no SNR warning can follow from it.
WADA_JUDGE_MAX = 40.0


def _wada(samples: np.ndarray) -> float | None:
    """WADA-SNR of the first channel. Files above 24 kHz are measured at their own rate: resampled to 16 kHz,
    two thirds of a 48 kHz file's white noise (above 8 kHz) would be cut away and the estimate read 5 dB too
    high. Files at 24 kHz or less are measured at 16 kHz, as the fixtures were calibrated: the resampler's
    float interpolation also hides the 16-bit steps that a quiet file's native samples show (which would read
    as noise), and a 24 kHz file loses only the 8-12 kHz band (about 2 dB)."""
    from reconciler.audio.wada import wada_snr

    estimate = wada_snr(samples)
    return None if estimate is None or estimate > WADA_JUDGE_MAX else estimate


def _loudness(pcm: np.ndarray) -> float:
    """Integrated loudness (LUFS) by FFmpeg's ebur128 filter, which reports it as frame metadata."""
    from av.filter import Graph

    graph = Graph()
    source = graph.add_abuffer(format="fltp", sample_rate=RATE, layout="mono")
    meter = graph.add("ebur128", "metadata=1")
    sink = graph.add("abuffersink")
    source.link_to(meter)
    meter.link_to(sink)
    graph.configure()
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(pcm[None, :]), format="fltp", layout="mono")
    frame.sample_rate = RATE
    frame.pts = 0
    value = None
    for pushed in (frame, None):
        graph.push(pushed)
        while True:
            try:
                out = graph.pull()
            except (av.error.BlockingIOError, av.error.EOFError):
                break
            value = out.metadata.get("lavfi.r128.I", value)
    if value is None:
        return LOUDNESS_FLOOR
    return max(LOUDNESS_FLOOR, float(value))


def _high_band(pcm: np.ndarray, speech: np.ndarray, frame: int) -> float | None:
    """Mean power 4.3-7 kHz over mean power 0.3-3.4 kHz, in dB, over the frames webrtcvad calls speech."""
    frames = np.flatnonzero(speech)
    if frames.size == 0:
        return None
    # Each VAD frame gives one 512-point spectrum (Hann window); averaging them is Welch's method.
    starts = frames * frame
    starts = starts[starts + _FFT <= len(pcm)]
    if starts.size == 0:
        return None
    blocks = pcm[starts[:, None] + np.arange(_FFT)] * np.hanning(_FFT)
    power = np.mean(np.abs(np.fft.rfft(blocks, axis=1)) ** 2, axis=0)
    freqs = np.fft.rfftfreq(_FFT, 1.0 / RATE)
    low = power[(freqs >= _LOW_BAND[0]) & (freqs <= _LOW_BAND[1])].mean()
    high = power[(freqs >= _HIGH_BAND[0]) & (freqs <= _HIGH_BAND[1])].mean()
    if low <= 0:
        return None
    return 10.0 * float(np.log10(max(high, 1e-30) / low))
