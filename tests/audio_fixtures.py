"""Generators of valid and broken audio files for the audio tests (and anyone else's).

Every generator writes into the directory it is given and returns the path. WAV files are assembled with
struct so a test can produce what the stdlib `wave` module refuses to write (24-bit, float, 3 channels,
lying headers); compressed files are encoded with PyAV from synthesized PCM, without numpy.
"""

from __future__ import annotations

import random
import struct
from array import array
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

import av

from reconciler.audio.sample import speech_pcm

_PCM = 1
_FLOAT = 3
_EXTENSIBLE = 0xFFFE
# KSDATAFORMAT_SUBTYPE_PCM: what DAWs write for 24-bit and multichannel WAV.
_PCM_GUID = bytes.fromhex("0100000000001000800000aa00389b71")


def wav_header(
    *,
    data_bytes: int,
    sample_rate: int = 16000,
    channels: int = 1,
    bits: int = 16,
    fmt_tag: int = _PCM,
    riff_size: int | None = None,
) -> bytes:
    """A canonical 44-byte (or extensible, 68-byte) WAV header announcing `data_bytes` of samples."""
    block_align = channels * bits // 8
    fmt = struct.pack("<HHIIHH", fmt_tag, channels, sample_rate, sample_rate * block_align, block_align, bits)
    if fmt_tag == _EXTENSIBLE:
        fmt += struct.pack("<HHI", 22, bits, 0) + _PCM_GUID
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", data_bytes)
    size = riff_size if riff_size is not None else len(body) + data_bytes
    return b"RIFF" + struct.pack("<I", size) + body


def write_wav(
    path: Path,
    *,
    seconds: float = 12.0,
    sample_rate: int = 16000,
    channels: int = 1,
    bits: int = 16,
    fmt_tag: int = _PCM,
    speech: bool = True,
) -> Path:
    """A well-formed WAV. 16-bit mono gets speech-like samples; other layouts get a cheap repeated tone,
    which is all the offline checks look at."""
    frames = int(seconds * sample_rate)
    block_align = channels * bits // 8
    with open(path, "wb") as out:
        out.write(
            wav_header(
                data_bytes=frames * block_align,
                sample_rate=sample_rate,
                channels=channels,
                bits=bits,
                fmt_tag=fmt_tag,
            )
        )
        if speech and bits == 16 and channels == 1 and fmt_tag == _PCM:
            out.write(speech_pcm(seconds=seconds, sample_rate=sample_rate).tobytes()[: frames * 2])
        else:
            _write_repeated(out, _tone_block(sample_rate, channels, bits, fmt_tag), frames * block_align)
    return path


def _tone_block(sample_rate: int, channels: int, bits: int, fmt_tag: int) -> bytes:
    """One 100 ms block of a square-ish tone in the requested sample format."""
    frames = sample_rate // 10
    values = [0.3 if (i // 40) % 2 else -0.3 for i in range(frames)]
    if fmt_tag == _FLOAT:
        code = "f" if bits == 32 else "d"
        sample = [struct.pack("<" + code, v) for v in values]
    elif bits == 8:
        sample = [bytes([int(128 + 127 * v)]) for v in values]
    else:
        scale = (1 << (bits - 1)) - 1
        sample = [int(v * scale).to_bytes(bits // 8, "little", signed=True) for v in values]
    return b"".join(s * channels for s in sample)


def _write_repeated(out: BinaryIO, block: bytes, total: int) -> None:
    big = block * max(1, (1 << 20) // len(block))  # write in ~1 MiB pieces: a 10 MB file costs milliseconds
    while total > 0:
        piece = big[:total]
        out.write(piece)
        total -= len(piece)


def write_bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def random_bytes(path: Path, size: int = 50_000, seed: int = 7) -> Path:
    rng = random.Random(seed)
    data = bytearray(rng.getrandbits(8) for _ in range(size))
    data[:2] = b"\x00\x00"  # not an accidental MPEG frame sync at offset 0
    return write_bytes(path, bytes(data))


def encode(
    path: Path,
    *,
    container: str,
    codec: str,
    seconds: float = 12.0,
    sample_rate: int = 16000,
    layout: str = "mono",
    container_options: dict[str, str] | None = None,
    codec_options: dict[str, str] | None = None,
    pcm: array | None = None,
) -> Path:
    """Encode speech-like PCM (copied to every channel) with PyAV."""
    mono = pcm if pcm is not None else speech_pcm(seconds=seconds, sample_rate=sample_rate)
    channels = av.AudioLayout(layout).nb_channels
    with av.open(str(path), "w", format=container, options=container_options or {}) as out:
        stream = out.add_stream(codec, rate=sample_rate, layout=layout, options=codec_options or {})
        for start in range(0, len(mono), 4096):
            chunk = mono[start : start + 4096]
            frame = av.AudioFrame(format="s16p", layout=layout, samples=len(chunk))
            for plane in frame.planes[:channels]:
                plane.update(chunk.tobytes())
            frame.sample_rate = sample_rate
            frame.pts = start
            frame.time_base = Fraction(1, sample_rate)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def mp3(path: Path, **kw: object) -> Path:
    return encode(path, container="mp3", codec="libmp3lame", **kw)  # type: ignore[arg-type]


def m4a(path: Path, *, faststart: bool = False, **kw: object) -> Path:
    opts = {"movflags": "faststart"} if faststart else None
    return encode(path, container="ipod", codec="aac", container_options=opts, **kw)  # type: ignore[arg-type]


def ogg(path: Path, seconds: float = 12.0) -> tuple[Path, str]:
    """An OGG file and its codec's display name: Vorbis when FFmpeg's (experimental, stereo-only) encoder
    is there, else Opus."""
    if "vorbis" in av.codecs_available:
        try:
            encode(
                path,
                container="ogg",
                codec="vorbis",
                seconds=seconds,
                sample_rate=44100,
                layout="stereo",
                codec_options={"strict": "experimental"},
            )
            return path, "Vorbis"
        except av.error.FFmpegError:
            pass
    encode(path, container="ogg", codec="libopus", seconds=seconds, sample_rate=48000)
    return path, "Opus"


def flac(path: Path) -> Path:
    return encode(path, container="flac", codec="flac")


def alac_m4a(path: Path) -> Path:
    return encode(path, container="ipod", codec="alac")


def truncate(path: Path, keep: float = 0.5) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def wav_without_data_chunk(path: Path) -> Path:
    """A RIFF/WAVE with a fmt and a LIST chunk but no data chunk: what a recorder leaves when it crashes."""
    fmt = struct.pack("<HHIIHH", _PCM, 1, 16000, 32000, 2, 16)
    info = b"INFOISFT" + struct.pack("<I", 8) + b"voicect\x00"
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"LIST" + struct.pack("<I", len(info)) + info
    return write_bytes(path, b"RIFF" + struct.pack("<I", len(body)) + body)


def wav_empty_data(path: Path) -> Path:
    return write_bytes(path, wav_header(data_bytes=0))


def truncated_wav(path: Path, seconds: float = 12.0, keep_seconds: float = 4.0) -> Path:
    """A WAV whose header announces `seconds` of samples but whose data stops after `keep_seconds`."""
    header = wav_header(data_bytes=int(seconds * 16000) * 2)
    return write_bytes(path, header + bytes(int(keep_seconds * 16000) * 2))


def video_only_mp4(path: Path) -> Path:
    """An MP4 with one tiny video frame and no audio stream at all."""
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("mpeg4", rate=1)
        stream.width, stream.height, stream.pix_fmt = 16, 16, "yuv420p"
        frame = av.VideoFrame(16, 16, "yuv420p")
        for plane in frame.planes:
            plane.update(bytes(plane.buffer_size))
        frame.pts = 0
        for packet in (*stream.encode(frame), *stream.encode(None)):
            out.mux(packet)
    return path


def speech_then_silence(path: Path, speech_seconds: float, total_seconds: float) -> Path:
    """`total_seconds` of audio with only `speech_seconds` of speech at the start: passes the file checks,
    fails the lint (too little continuous speech, a long pause) and so the review."""
    sample_rate = 16000
    pcm = speech_pcm(seconds=speech_seconds, sample_rate=sample_rate, seed=5)
    pcm.extend(array("h", bytes(2 * (int(total_seconds * sample_rate) - len(pcm)))))
    with open(path, "wb") as out:
        out.write(wav_header(data_bytes=len(pcm) * 2))
        out.write(pcm.tobytes())
    return path
