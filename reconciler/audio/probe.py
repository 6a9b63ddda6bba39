"""Reading a source audio file without decoding it: its content hash and what its container declares.

`probe_audio` opens the file with PyAV (FFmpeg) and reads format, codec, rate, channels and duration. It also
makes sure the data reaches as far as the header claims (a RIFF chunk walk for WAV, a short read at the
declared end for the rest), because a cut-off copy often still plays locally yet fails the service's decoder.
`validate` and `plan` probe every local file, so this never decodes: its cost beyond hashing is a few ms.
"""

from __future__ import annotations

import hashlib
import os
import struct
from dataclasses import dataclass
from typing import Any, BinaryIO

import av
import av.error

from reconciler.errors import VoicectlError

_CHUNK = 1024 * 1024
_HEAD = 64

# Error codes as DashScope's enrollment API returns them; the simulated review answers with the same.
SILENT = "Audio.AudioSilentError"
SHORT = "Audio.AudioShortError"
DECODER = "Audio.DecoderError"
SIZE = "Audio.FileSizeExceed"
RATE = "Audio.AudioRateError"
FORMAT = "BadRequest.UnsupportedFileFormat"
UNREACHABLE = "InternalError"  # what the service answers when it cannot fetch the audio

CONTAINER_NAMES = {
    "wav": "WAV",
    "mp3": "MP3",
    "m4a": "M4A",
    "ogg": "OGG",
    "flac": "FLAC",
    "aiff": "AIFF",
    "matroska": "Matroska/WebM",
    "caf": "CAF",
    "w64": "Wave64",
    "aac": "raw AAC (ADTS)",
    "amr": "AMR",
    "asf": "WMA/ASF",
}
CODEC_NAMES = {
    "vorbis": "Vorbis",
    "opus": "Opus",
    "flac": "FLAC",
    "aac": "AAC",
    "mp3": "MP3",
    "mp2": "MPEG layer 2",
    "alac": "ALAC",
    "speex": "Speex",
    "pcm_alaw": "A-law",
    "pcm_mulaw": "mu-law",
}


@dataclass(frozen=True)
class AudioInfo:
    path: str
    size: int  # bytes
    sha256: str  # hex of the file content
    format: str  # "wav" | "mp3" | "m4a" for accepted containers, else the detected format name
    codec: str  # e.g. "pcm_s16le", "pcm_s24le", "pcm_f32le", "mp3", "aac"
    sample_rate: int
    channels: int
    duration: float  # seconds
    bits_per_sample: int | None  # PCM and lossless codecs only


class AudioProbeError(VoicectlError):
    """The file cannot be read as audio. The message is the user-facing text, fix included.

    `code` is the DashScope error code the service would most likely answer for such a file."""

    def __init__(self, message: str, *, code: str = DECODER) -> None:
        super().__init__(message)
        self.code = code


def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    buf = bytearray(_CHUNK)
    view = memoryview(buf)
    with open(path, "rb") as fh:
        while n := fh.readinto(buf):
            digest.update(view[:n])
    return digest.hexdigest()


def probe_audio(path: str, *, sha256: str | None = None) -> AudioInfo:
    fields = probe_fields(path)
    # Hash last: a file that fails to probe is reported without paying for a full read.
    return AudioInfo(**fields, sha256=sha256 or sha256_file(path))


def probe_fields(path: str) -> dict[str, Any]:
    """Every AudioInfo field but the hash."""
    try:
        size = os.stat(path).st_size
        with open(path, "rb") as fh:
            head = fh.read(_HEAD)
            is_wav = _sniff(head) == "WAV"
            if is_wav:
                _check_wav_chunks(fh, head, size)
    except OSError as exc:
        raise AudioProbeError(
            f"cannot read the file: {exc.strerror or exc}; check the path and its permissions",
            code=UNREACHABLE,
        ) from exc
    if size == 0:
        raise AudioProbeError(
            "file is empty (0 bytes); export the recording again as 16-bit PCM WAV, MP3 or M4A", code=DECODER
        )
    # WAV: FFmpeg's reader takes everything from the header chunks, yet stream analysis would read ~5 MB
    # of samples (about 7 ms CPU); a tiny probe size skips that. Other formats keep the default probe size,
    # which format detection needs (an MP3 may start with a large ID3 tag, cover art included), and get
    # fastseek so the tail check can seek an MP3 without a seek table by its bit rate instead of reading
    # every frame from the start (about 25 ms for 10 MB).
    options = {"probesize": "4096"} if is_wav else {"fflags": "+fastseek"}
    try:
        container = av.open(path, "r", options=options)
    except av.error.FFmpegError as exc:
        raise _unreadable(head, exc) from exc
    try:
        return _read_container(container, path, size)
    except av.error.FFmpegError as exc:
        raise _unreadable(head, exc) from exc
    finally:
        container.close()


def _read_container(container: av.container.InputContainer, path: str, size: int) -> dict[str, Any]:
    fmt = _format_name(container.format.name)
    if not container.streams.audio:
        kinds: list[str] = sorted({str(s.type) for s in container.streams}) or ["no streams"]
        raise AudioProbeError(
            f"contains no audio stream ({CONTAINER_NAMES.get(fmt, fmt)} with {', '.join(kinds)}); "
            "provide a 16-bit PCM WAV, MP3 or M4A recording",
            code=FORMAT,
        )
    stream = container.streams.audio[0]
    ctx = stream.codec_context
    codec = ctx.codec.canonical_name if ctx.codec is not None else (ctx.name or "unknown")
    duration = _declared_duration(container, stream)
    if fmt != "wav":
        # WAV truncation was ruled out by the chunk walk; other containers are checked at their tail.
        duration = _check_tail(container, stream, fmt, duration)
    if duration is None or duration <= 0:
        raise AudioProbeError(
            f"{CONTAINER_NAMES.get(fmt, fmt.upper())} file holds no audio samples (duration 0 s); "
            "export the recording again",
            code=SHORT,
        )
    return {
        "path": path,
        "size": size,
        "format": fmt,
        "codec": codec,
        "sample_rate": int(ctx.sample_rate or 0),
        "channels": int(ctx.channels or 0),
        "duration": float(duration),
        "bits_per_sample": _bits(codec, ctx),
    }


def _format_name(name: str) -> str:
    # FFmpeg names demuxers by the list of formats they read ("mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm").
    names = name.split(",")
    if "mp4" in names or "m4a" in names or "mov" in names:
        return "m4a"
    return names[0]


def _declared_duration(container: av.container.InputContainer, stream: av.audio.AudioStream) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000
    return None


def _check_tail(
    container: av.container.InputContainer, stream: av.audio.AudioStream, fmt: str, declared: float | None
) -> float | None:
    """Read the packets of the last second the header declares; return the duration actually present.

    An MP3 with a Xing header or an M4A with its index up front declares the full length even when the
    file was cut short. Seeking near that end and demuxing (not decoding) costs a few packets."""
    label = CONTAINER_NAMES.get(fmt, fmt.upper())
    start = max(0.0, (declared or 0.0) - 1.0)
    end: float | None = None
    try:
        if start > 0:
            container.seek(int(start * 1_000_000), backward=True, any_frame=False)
    except av.error.EOFError:
        pass  # the declared end lies beyond the file: reported as truncated below
    else:
        end = _last_packet_end(container, stream, label)
    if declared is None:
        return end
    if end is None or end < declared - max(0.5, 0.02 * declared):
        found = "its audio data ends before that" if end is None else f"its audio data ends at {end:.1f} s"
        raise AudioProbeError(
            f"{label} file is truncated: its header declares {declared:.1f} s but {found}; "
            "export or copy the file again",
            code=DECODER,
        )
    return declared


def _last_packet_end(container: av.container.InputContainer, stream: av.audio.AudioStream, label: str) -> float | None:
    end: float | None = None
    try:
        for packet in container.demux(stream):
            if packet.size == 0 or packet.pts is None or packet.time_base is None:
                continue
            end = float((packet.pts + (packet.duration or 0)) * packet.time_base)
    except av.error.FFmpegError as exc:
        raise AudioProbeError(
            f"{label} file is corrupt near its end ({ffmpeg_reason(exc)}); export or copy the file again",
            code=DECODER,
        ) from exc
    return end


def _check_wav_chunks(fh: BinaryIO, head: bytes, size: int) -> None:
    """Walk the RIFF chunks up to `data` and compare the declared sizes with the file's length.

    FFmpeg opens a cut-off WAV without complaint and reports the header's duration, and it rejects a WAV
    without a data chunk with a bare "invalid data"; both deserve a precise message."""
    endian = "<" if head[:4] == b"RIFF" else ">"  # RIFX is the rare big-endian variant
    riff_size = struct.unpack(endian + "I", head[4:8])[0]
    fh.seek(12)
    pos = 12
    seen_fmt = False
    while True:
        header = fh.read(8)
        if len(header) < 8:
            if not seen_fmt:
                raise AudioProbeError(
                    "WAV file has no format (fmt) chunk: it is damaged; export the recording again",
                    code=DECODER,
                )
            raise AudioProbeError(
                "WAV file has no data chunk: it holds no audio samples; export the recording again",
                code=DECODER,
            )
        chunk_id, chunk_size = header[:4], struct.unpack(endian + "I", header[4:])[0]
        body = pos + 8
        if chunk_id == b"data":
            break
        seen_fmt = seen_fmt or chunk_id == b"fmt "
        pos = body + chunk_size + (chunk_size & 1)  # chunks are padded to an even length
        if pos > size:
            raise AudioProbeError(
                f"WAV file is truncated: its {chunk_id.decode('latin-1').strip()!r} chunk declares "
                f"{chunk_size} bytes but the file ends {pos - size} bytes short of it; "
                "export or copy the file again",
                code=DECODER,
            )
        fh.seek(pos)
    # 0xFFFFFFFF: a writer that streamed to a pipe and never came back to fill in the sizes (or RF64).
    unknown = 0xFFFFFFFF
    if chunk_size != unknown and body + chunk_size > size:
        raise AudioProbeError(
            f"WAV file is truncated: its header declares {chunk_size} bytes of audio data but only "
            f"{size - body} are present; export or copy the file again",
            code=DECODER,
        )
    if riff_size != unknown and 8 + riff_size > size + 1:  # +1: some writers count the pad byte
        raise AudioProbeError(
            f"WAV file is truncated: its RIFF header declares {8 + riff_size} bytes but the file has "
            f"{size}; export or copy the file again",
            code=DECODER,
        )
    if chunk_size == 0:
        raise AudioProbeError(
            "WAV file has an empty data chunk: it holds no audio samples; export the recording again",
            code=SHORT,
        )


def _unreadable(head: bytes, exc: av.error.FFmpegError) -> AudioProbeError:
    kind = _sniff(head)
    if kind == "text":
        return AudioProbeError(
            "not an audio file: its content is text; provide a 16-bit PCM WAV, MP3 or M4A recording",
            code=FORMAT,
        )
    if kind is None:
        return AudioProbeError(
            "not an audio file: FFmpeg recognises no audio format in its content; "
            "provide a 16-bit PCM WAV, MP3 or M4A recording",
            code=FORMAT,
        )
    reason = ffmpeg_reason(exc)
    if isinstance(exc, av.error.InvalidDataError):
        reason = "FFmpeg cannot make sense of its structure"  # FFmpeg's own text here says no more than that
    return AudioProbeError(
        f"{kind} file is corrupt or truncated ({reason}); export or copy the file again", code=DECODER
    )


def _sniff(head: bytes) -> str | None:
    """Which audio format a file's first bytes announce; only used to word an error when FFmpeg fails."""
    if head[:4] in (b"RIFF", b"RIFX") and head[8:12] == b"WAVE":
        return "WAV"
    if head[4:8] == b"ftyp":
        return "M4A"
    if head[:3] == b"ID3" or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "MP3"
    for magic, kind in ((b"OggS", "OGG"), (b"fLaC", "FLAC"), (b"FORM", "AIFF"), (b"caff", "CAF")):
        if head.startswith(magic):
            return kind
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        # The head may end inside a multi-byte character; judge the complete ones.
        try:
            text = head[:-3].decode("utf-8")
        except UnicodeDecodeError:
            return None
    if text and sum(ch.isprintable() or ch in "\r\n\t" for ch in text) >= 0.95 * len(text):
        return "text"
    return None


def ffmpeg_reason(exc: av.error.FFmpegError) -> str:
    # PyAV appends the file name to strerror; the caller prefixes the path already.
    return (exc.strerror or str(exc)).rstrip(".").lower()


def _bits(codec: str, ctx: av.audio.codeccontext.AudioCodecContext) -> int | None:
    if codec.startswith("pcm_"):
        if codec in ("pcm_alaw", "pcm_mulaw"):
            return 8
        digits = "".join(ch for ch in codec[5:] if ch.isdigit())
        return int(digits) if digits else None
    if codec in ("flac", "alac", "wavpack", "tta") and ctx.format is not None:
        return int(ctx.format.bits)
    return None
