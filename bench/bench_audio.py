"""CPU cost of the offline audio checks on files at the 10 MB limit.

    python bench/bench_audio.py [--files 30] [--rounds 3]

`validate` and `plan` hash and inspect every local audio file on every run, so the inspection must cost
little beyond the hash it needs anyway. This writes ~10 MB files (WAV in several layouts, MP3, M4A) to a
temporary directory and reports the CPU time (time.process_time) of sha256_file alone, and of
inspect_audio with the hash precomputed: the latter is the cost of probing and checking, beyond hashing.
Target: well under 1 s of CPU for 30 files. Each figure is the best of --rounds runs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import struct
import sys
import tempfile
import time
from collections.abc import Callable
from fractions import Fraction

import av

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:  # run as a plain script from a checkout, without installing the package
    sys.path.insert(0, ROOT)

from reconciler.audio.probe import sha256_file
from reconciler.audio.rules import MAX_BYTES, inspect_audio
from reconciler.audio.sample import speech_pcm
from reconciler.catalog import MODELS

TARGET = MAX_BYTES - 64 * 1024  # just under the limit, as a real worst case that passes


def _wav(path: str, sample_rate: int, channels: int, bits: int) -> None:
    block_align = channels * bits // 8
    frames = (TARGET - 44) // block_align
    fmt = struct.pack("<HHIIHH", 1, channels, sample_rate, sample_rate * block_align, block_align, bits)
    data_bytes = frames * block_align
    header = b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt
    header += b"data" + struct.pack("<I", data_bytes)
    # The content does not matter to inspect_audio (it never decodes); a speech block keeps it honest.
    block = speech_pcm(seconds=1.0, sample_rate=16000, seed=1).tobytes()
    block = (block * (1 << 20 // len(block) + 1))[: 1 << 20]
    with open(path, "wb") as out:
        out.write(header)
        left = data_bytes
        while left:
            piece = block[: min(left, len(block))]
            out.write(piece)
            left -= len(piece)


def _encode(path: str, container: str, codec: str, rate: int, bit_rate: int, seconds: float, **opts: str) -> None:
    pcm = speech_pcm(seconds=min(seconds, 12.0), sample_rate=rate, seed=2)
    repeats = int(seconds / 12.0) or 1
    with av.open(path, "w", format=container, options=opts) as out:
        stream = out.add_stream(codec, rate=rate, layout="stereo")
        stream.bit_rate = bit_rate
        pts = 0
        for _ in range(repeats):
            for start in range(0, len(pcm), 4096):
                chunk = pcm[start : start + 4096].tobytes()
                frame = av.AudioFrame(format="s16p", layout="stereo", samples=len(chunk) // 2)
                frame.planes[0].update(chunk)
                frame.planes[1].update(chunk)
                frame.sample_rate, frame.pts, frame.time_base = rate, pts, Fraction(1, rate)
                pts += frame.samples
                for packet in stream.encode(frame):
                    out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def _mp3(path: str) -> None:
    """Encode 12 s once, then repeat its frames to ~10 MB: a CBR MP3 without a Xing header is a plain
    sequence of frames, so the copy is a valid long MP3 at a fraction of the encoding time."""
    unit = path + ".unit"
    _encode(unit, "mp3", "libmp3lame", 44100, 320_000, 12.0, id3v2_version="0", write_xing="0")
    with open(unit, "rb") as fh:
        frames = fh.read()
    os.remove(unit)
    with open(path, "wb") as out:
        out.write(frames * (TARGET // len(frames)))


def _m4a(path: str) -> None:
    """Encode 12 s of AAC once, then remux its packets over and over with shifted timestamps: a long,
    valid M4A (index up front, as streaming exports write it) without encoding minutes of audio."""
    unit = path + ".unit.m4a"
    _encode(unit, "ipod", "aac", 48000, 256_000, 12.0)
    with av.open(unit) as src:
        template = src.streams.audio[0]
        packets = [(p.pts, p.dts, p.duration, bytes(p)) for p in src.demux(template) if p.size]
        # The encoder's priming packet has a negative pts: the span runs from it, so dts keeps rising.
        span = max(pts + duration for pts, _, duration, _ in packets) - min(pts for pts, *_ in packets)
        repeats = TARGET // os.path.getsize(unit)
        with av.open(path, "w", format="ipod", options={"movflags": "faststart"}) as out:
            stream = out.add_stream_from_template(template)
            for r in range(repeats):
                for pts, dts, duration, data in packets:
                    packet = av.Packet(data)
                    packet.pts, packet.dts = pts + r * span, dts + r * span
                    packet.duration, packet.time_base, packet.stream = duration, template.time_base, stream
                    out.mux(packet)
    os.remove(unit)


def make_files(directory: str, count: int) -> list[str]:
    makers: list[tuple[str, Callable[[str], None]]] = [
        ("wav", lambda p: _wav(p, 48000, 2, 16)),
        ("wav", lambda p: _wav(p, 16000, 1, 16)),
        ("wav", lambda p: _wav(p, 44100, 2, 24)),
        ("mp3", _mp3),
        ("m4a", _m4a),
    ]
    made: dict[int, str] = {}
    paths = []
    for i in range(count):
        kind = i % len(makers)
        ext, maker = makers[kind]
        path = os.path.join(directory, f"voice-{i:02d}.{ext}")
        if kind in made:
            shutil.copyfile(made[kind], path)  # identical content costs the same to inspect
        else:
            maker(path)
            made[kind] = path
        paths.append(path)
    return paths


def _cpu(fn: Callable[[], object], rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    model = MODELS["cosyvoice-v2"]
    with tempfile.TemporaryDirectory(prefix="voicectl-bench-") as directory:
        paths = make_files(directory, args.files)
        total_mb = sum(os.path.getsize(p) for p in paths) / (1024 * 1024)
        hashes = {p: sha256_file(p) for p in paths}  # also warms the page cache and PyAV's lazy setup
        inspect_audio(paths[0], model=model, recorded=False, sha256=hashes[paths[0]])

        hashing = _cpu(lambda: [sha256_file(p) for p in paths], args.rounds)
        reports = []
        probing = _cpu(
            lambda: reports.extend(inspect_audio(p, model=model, recorded=False, sha256=hashes[p]) for p in paths),
            args.rounds,
        )
        failed = [(p, r.errors) for p, r in zip(paths, reports, strict=False) if r.info is None]
        per_kind: dict[str, list[str]] = {}
        for p in paths:
            per_kind.setdefault(os.path.splitext(p)[1], []).append(p)
        breakdown = {
            kind: _cpu(lambda ps=ps: [inspect_audio(p, model=model, recorded=False, sha256=hashes[p]) for p in ps], 1)
            / len(ps)
            for kind, ps in sorted(per_kind.items())
        }

        kinds = sorted({os.path.splitext(p)[1] for p in paths})
        print(f"{'files':>5}  {'total MB':>8}  {'hash CPU s':>10}  {'probe+checks CPU s':>18}  {'per file ms':>11}")
        print(
            f"{len(paths):>5}  {total_mb:>8.1f}  {hashing:>10.3f}  {probing:>18.4f}  "
            f"{1000 * probing / len(paths):>11.2f}"
        )
        print(f"formats: {', '.join(kinds)}; probe+checks excludes hashing (sha256 passed in)")
        print("per file by format: " + ", ".join(f"{k} {1000 * v:.2f} ms" for k, v in breakdown.items()))
        for path, errors in failed:
            print(f"unexpected probe failure: {os.path.basename(path)}: {errors}", file=sys.stderr)
        return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
