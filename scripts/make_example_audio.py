"""Regenerate the committed example audio in examples/audio/ from the shipped espeak-ng readings.

    python scripts/make_example_audio.py [OUT_DIR]

The output is deterministic (fixed seeds, bit-exact encoder and muxer flags, so no FFmpeg version string
ends up in the files): rerunning it with the same PyAV gives byte-identical files. Every file is linted
for its model (the rules and the content checks) and must draw no finding at all before the script reports
success.
"""

from __future__ import annotations

import os
import sys
from array import array
from dataclasses import dataclass
from fractions import Fraction

import av

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:  # run as a plain script from a checkout, without installing the package
    sys.path.insert(0, ROOT)

from reconciler.audio.cache import MetricsCache
from reconciler.audio.lint import lint_file
from reconciler.audio.sample import READINGS, speech_pcm
from reconciler.catalog import MODELS

EXAMPLES_DIR = os.path.join(ROOT, "examples", "audio")


@dataclass(frozen=True)
class Example:
    filename: str
    model: str
    container: str  # FFmpeg muxer name
    codec: str
    sample_rate: int
    bit_rate: int
    seed: int  # speech_pcm's seed: which reading comes first (READINGS[seed % 3]) and at what level
    seconds: float = 12.0


# Low bit rates on purpose: these are fixtures in a repository, not voices anyone should clone.
EXAMPLES: tuple[Example, ...] = (
    Example("support-en.mp3", "cosyvoice-v2", "mp3", "libmp3lame", 16000, 32_000, seed=3),  # en-male
    Example("sales-zh.m4a", "cosyvoice-v3-flash", "ipod", "aac", 16000, 32_000, seed=2),  # zh
    Example("narrator-qwen.mp3", "qwen3-tts-vc-2026-01-22", "mp3", "libmp3lame", 24000, 40_000, seed=1),  # en-female
)

_FRAME = 4096  # samples handed to the encoder at a time; PyAV re-frames them to the codec's frame size


def encode_pcm(
    path: str,
    pcm: array,
    *,
    sample_rate: int,
    container: str,
    codec: str,
    bit_rate: int,
    options: dict | None = None,
) -> None:
    """Encode mono signed 16-bit samples into `path` with PyAV, without numpy."""
    muxer_options = {"fflags": "+bitexact", **(options or {})}
    with av.open(path, "w", format=container, options=muxer_options) as out:
        stream = out.add_stream(codec, rate=sample_rate, layout="mono", options={"flags": "+bitexact"})
        stream.bit_rate = bit_rate
        time_base = Fraction(1, sample_rate)
        for start in range(0, len(pcm), _FRAME):
            chunk = pcm[start : start + _FRAME]
            frame = av.AudioFrame(format="s16", layout="mono", samples=len(chunk))
            frame.planes[0].update(chunk.tobytes())
            frame.sample_rate = sample_rate
            frame.pts = start
            frame.time_base = time_base
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def make(example: Example, out_dir: str) -> str:
    path = os.path.join(out_dir, example.filename)
    pcm = speech_pcm(seconds=example.seconds, sample_rate=example.sample_rate, seed=example.seed)
    # The MP3 muxer's ID3v2 tag would only carry the encoder's name; leave it out.
    options = {"id3v2_version": "0"} if example.container == "mp3" else None
    encode_pcm(
        path,
        pcm,
        sample_rate=example.sample_rate,
        container=example.container,
        codec=example.codec,
        bit_rate=example.bit_rate,
        options=options,
    )
    return path


def main(argv: list[str]) -> int:
    out_dir = argv[1] if len(argv) > 1 else EXAMPLES_DIR
    os.makedirs(out_dir, exist_ok=True)
    failed = False
    total = 0
    for example in EXAMPLES:
        path = make(example, out_dir)
        model = MODELS[example.model]
        report = lint_file(path, model=model, cache=MetricsCache(None))
        info, m = report.info, report.metrics
        if info is None or m is None:
            print(f"{path}: {report.errors}", file=sys.stderr)
            return 1
        total += info.size
        print(
            f"{path}: {info.format}/{info.codec} {info.sample_rate} Hz {info.channels} ch "
            f"{info.duration:.1f} s {info.size} bytes sha256 {info.sha256[:12]} for {model.name} "
            f"({READINGS[example.seed % len(READINGS)]}; SNR {m.snr_db:.1f} dB, {m.lufs:.1f} LUFS)"
        )
        for finding in report.findings:
            print(f"  {finding.message}", file=sys.stderr)
            failed = True
    print(f"total {total} bytes")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
