"""Audio lint speed: 30 files of 20 s against the 3 s target, and what a cache hit costs, in one run.

    .venv/bin/python bench/bench_lint.py [--files 30] [--seconds 20]

The files are real speech (the shipped readings, a different mix per file) in what users upload: a third
16-bit mono WAV at 16 kHz, a third 16-bit stereo WAV at 44.1 kHz (the file a DAW exports), a third MP3 at
24 kHz (a Qwen voice). Each figure is the best of three rounds, every round on a fresh cache, so that another
job on the machine inflates it as little as possible; the ratios are what to read.

- cold: `lint_file` on every file with an empty cache: probe, decode, measure. The target is 3 s for 30.
- warm (process): the same calls again in the same process: the in-memory cache, so probe and hash only.
- warm (disk): a new cache on the directory the cold round wrote: what a second `voicectl plan` pays.
- rules only: probe and the documented checks without the lint (`--no-lint`), the floor the lint adds to.
- Silero: the cold round again with VOICECTL_VAD=silero, when the optional extra is installed.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
import time
from collections.abc import Callable
from fractions import Fraction

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import av
import numpy as np

from reconciler.audio.cache import MetricsCache
from reconciler.audio.lint import lint_file
from reconciler.audio.rules import inspect_audio
from reconciler.audio.sample import speech_float
from reconciler.catalog import MODELS

TARGET_SECONDS = 3.0
COSY = MODELS["cosyvoice-v2"]
QWEN = MODELS["qwen3-tts-vc-2026-01-22"]


def _encode(path: str, samples: np.ndarray, rate: int, *, codec: str, container: str, layout: str) -> None:
    channels = av.AudioLayout(layout).nb_channels
    with av.open(path, "w", format=container) as out:
        stream = out.add_stream(codec, rate=rate, layout=layout)
        if codec == "libmp3lame":
            stream.bit_rate = 64_000
        fmt = "s16" if codec == "pcm_s16le" else "fltp"
        for start in range(0, len(samples), 4096):
            chunk = samples[start : start + 4096]
            if fmt == "s16":
                data = np.repeat(np.round(chunk * 32767).astype(np.int16)[:, None], channels, axis=1).reshape(1, -1)
            else:
                data = np.repeat(chunk[None, :], channels, axis=0).astype(np.float32)
            frame = av.AudioFrame.from_ndarray(data, format=fmt, layout=layout)
            frame.sample_rate = rate
            frame.pts = start
            frame.time_base = Fraction(1, rate)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def make_files(directory: str, count: int, seconds: float) -> list[tuple[str, object]]:
    files = []
    kinds = (
        ("wav", 16_000, "pcm_s16le", "wav", "mono", COSY),
        ("wav", 44_100, "pcm_s16le", "wav", "stereo", COSY),
        ("mp3", 24_000, "libmp3lame", "mp3", "mono", QWEN),
    )
    for i in range(count):
        ext, rate, codec, container, layout, model = kinds[i % len(kinds)]
        path = os.path.join(directory, f"voice-{i:02d}.{ext}")
        _encode(path, speech_float(seconds=seconds, sample_rate=rate, seed=i), rate, codec=codec,
                container=container, layout=layout)  # fmt: skip
        files.append((path, model))
    return files


def best_of(rounds: int, run: Callable[[], None], setup: Callable[[], None] | None = None) -> float:
    best = float("inf")
    for _ in range(rounds):
        if setup:
            setup()
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


# The speech fixtures that hold a voice (under beds, gains, cuts) and those that hold none (noise, tones).
HAS_VOICE = (
    "clean", "pause_4s", "noise_0db", "gain_15db", "speech_4s_runs", "speech_4s_only", "tone_bed",
    "gain_minus_30db", "telephone_8khz", "noise_bed_10db", "music_bed_10db",
)  # fmt: skip


def print_detector_table() -> None:
    """True and false positives of the speech detector on the fixture set: a file counts as heard as
    speech when any of it is. webrtcvad alone (without the voice gate) is the before."""
    from reconciler.audio import vad
    from reconciler.audio.analysis import measure_audio
    from tests import speech_fixtures as sf

    with tempfile.TemporaryDirectory() as work:
        files = sf.build(__import__("pathlib").Path(work))
        no_voice = sorted(sf.NOT_A_VOICE)
        rows = [("webrtcvad + voice gate (default)", "webrtc", vad.voice_gate), ("webrtcvad alone", "webrtc", None)]
        if importlib.util.find_spec("onnxruntime") and importlib.util.find_spec("silero_vad"):
            rows.append(("Silero (VOICECTL_VAD=silero)", "silero", vad.voice_gate))
        print()
        print(f"speech detector on the fixtures: {len(HAS_VOICE)} files with a voice, {len(no_voice)} without")
        print("| detector | voice heard (TP) | voice missed (FN) | noise/tones heard as speech (FP) | no speech (TN) |")
        print("|---|---|---|---|---|")
        gate = vad.voice_gate
        for label, name, use_gate in rows:
            vad.voice_gate = use_gate or (lambda pcm, flags, frame: flags)  # type: ignore[assignment]
            try:
                heard = {f: measure_audio(str(files[f]), vad=name).speech_seconds > 0 for f in (*HAS_VOICE, *no_voice)}
            finally:
                vad.voice_gate = gate  # type: ignore[assignment]
            tp = sum(heard[f] for f in HAS_VOICE)
            fp = [f for f in no_voice if heard[f]]
            print(
                f"| {label} | {tp} | {len(HAS_VOICE) - tp} | {len(fp)}{' (' + ', '.join(fp) + ')' if fp else ''} | "
                f"{len(no_voice) - len(fp)} |"
            )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv[1:])
    with tempfile.TemporaryDirectory() as work:
        files = make_files(work, args.files, args.seconds)
        audio_mb = sum(os.path.getsize(p) for p, _ in files) / 1e6
        lint_file(files[0][0], model=COSY, cache=MetricsCache(None))  # imports and FFmpeg's first-use setup

        cache_dir = os.path.join(work, "cache")
        state: dict[str, MetricsCache] = {}

        def fresh() -> None:
            state["cache"] = MetricsCache(None)

        def lint_all() -> None:
            for path, model in files:
                lint_file(path, model=model, cache=state["cache"])  # type: ignore[arg-type]

        cold = best_of(args.rounds, lint_all, fresh)
        assert state["cache"].analysed == len(files)
        warm_process = best_of(args.rounds, lint_all)  # the last cold round's cache: every file a hit
        state["cache"] = MetricsCache(cache_dir)
        lint_all()  # write the directory

        def from_disk() -> None:
            state["cache"] = MetricsCache(cache_dir)

        warm_disk = best_of(args.rounds, lint_all, from_disk)
        assert state["cache"].analysed == 0

        def rules_only() -> None:
            for path, model in files:
                inspect_audio(path, model=model, recorded=False)  # type: ignore[arg-type]

        floor = best_of(args.rounds, rules_only)

        silero = None
        if importlib.util.find_spec("onnxruntime") and importlib.util.find_spec("silero_vad"):
            os.environ["VOICECTL_VAD"] = "silero"
            lint_file(files[0][0], model=COSY, cache=MetricsCache(None))  # load the model once
            silero = best_of(args.rounds, lint_all, fresh)
            os.environ.pop("VOICECTL_VAD")

    n = len(files)
    print(f"{n} files x {args.seconds:.0f} s ({audio_mb:.1f} MB: WAV 16 kHz mono, WAV 44.1 kHz stereo, MP3 24 kHz)")
    print(f"best of {args.rounds} rounds; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print()
    print("| figure | seconds | per file | ratio |")
    print("|---|---|---|---|")
    print(
        f"| lint, cold cache | {cold:.2f} | {cold / n * 1000:.0f} ms | {cold / TARGET_SECONDS:.2f} x the 3 s target |"
    )
    print(
        f"| lint, warm (process) | {warm_process:.3f} | {warm_process / n * 1000:.1f} ms | "
        f"{warm_process / cold:.3f} x cold |"
    )
    print(f"| lint, warm (disk) | {warm_disk:.3f} | {warm_disk / n * 1000:.1f} ms | {warm_disk / cold:.3f} x cold |")
    print(f"| rules only (--no-lint) | {floor:.3f} | {floor / n * 1000:.1f} ms | {floor / cold:.3f} x cold |")
    if silero is not None:
        print(
            f"| lint, cold, VOICECTL_VAD=silero | {silero:.2f} | {silero / n * 1000:.0f} ms | "
            f"{silero / TARGET_SECONDS:.2f} x the 3 s target, {silero / cold:.2f} x webrtcvad |"
        )
    else:
        print(
            "| lint, cold, VOICECTL_VAD=silero | - | - | not installed (pip install '.[silero]' and --no-deps silero-vad) |"
        )
    print_detector_table()
    scaled = cold * 30 / n * 20 / args.seconds  # the target is for 30 files of 20 s
    print(
        f"\n{'within' if scaled <= TARGET_SECONDS else 'OVER'} the target (30 x 20 s in 3 s), scaled to it: {scaled:.2f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
