"""Offline checks of a voice's source audio, by its content (never its file name).

Three levels, from cheap to thorough:

- `probe_audio` opens the file with PyAV (FFmpeg) and reads what its container declares: format, codec,
  rate, channels, duration. It also makes sure the data reaches as far as the header claims (a RIFF chunk
  walk for WAV, a short read at the declared end for the rest), because a cut-off copy often still
  plays locally yet fails the service's decoder.
- `check_audio` / `inspect_audio` hold that against the service's published audio rules (WAV 16-bit,
  MP3 or M4A; >= 16 kHz, 24 kHz mono for Qwen; <= 10 MB; >= 10 s, 20 s live; <= 60 s used) and return
  user-facing errors and warnings. `validate` and `plan` run this on every local file, so it never
  decodes the audio: its cost beyond hashing is a few milliseconds.
- `review_audio` is what the simulated service review decides (local provider, cloud emulator): the same
  rules, then a decode of the first 60 s and a frame-energy check for silence.

Limits of the content check, on purpose: it measures loudness, not speech. Music, noise or a second
speaker pass it; the real review may still reject those (see REVIEW_CHECKLIST, shown to users when a
review fails).
"""

from __future__ import annotations

import hashlib
import math
import os
import struct
from array import array
from dataclasses import dataclass, field
from operator import mul
from typing import Any, BinaryIO

import av
import av.error

from reconciler.errors import VoicectlError
from reconciler.model import ModelInfo

AUDIO_CONTENT_TYPES = {"wav": "audio/wav", "mp3": "audio/mpeg", "m4a": "audio/mp4"}

REVIEW_CHECKLIST: tuple[str, ...] = (
    "content: clear speech by one speaker, no music, no background voices",
    "format: WAV (16-bit PCM), MP3 or M4A, sample rate 16 kHz or more (24 kHz mono for Qwen models), at most 10 MB",
    "clarity: at least 5 s of continuous clear speech; 10-20 s of audio in total is best, 60 s at most",
    "noise: recorded in a quiet room, no echo, no clipping",
)

MAX_BYTES = 10 * 1024 * 1024
MIN_SECONDS = 10.0
MIN_RECORDED_SECONDS = 20.0
MAX_USED_SECONDS = 60.0  # longer audio is accepted, but the service only uses the first minute
MIN_SPEECH_SECONDS = 5.0

# Frame-energy silence check used by review_audio. 50 ms frames are short enough to see the gaps between
# words; -40 dBFS sits well above a quiet room's noise floor (about -60 dBFS) and well below speech at a
# normal recording level (-30 to -15 dBFS RMS).
SILENCE_DBFS = -40.0
FRAME_SECONDS = 0.05
_ANALYSIS_RATE = 8000  # loudness needs no more bandwidth than this, and it keeps the Python loop short

_CHUNK = 1024 * 1024
_HEAD = 64

# Error codes as DashScope's enrollment API returns them, used by review_audio.
SILENT = "Audio.AudioSilentError"
SHORT = "Audio.AudioShortError"
DECODER = "Audio.DecoderError"
SIZE = "Audio.FileSizeExceed"
RATE = "Audio.AudioRateError"
FORMAT = "BadRequest.UnsupportedFileFormat"
UNREACHABLE = "InternalError"  # what the service answers when it cannot fetch the audio

_EXTENSIONS = {"wav": {"wav", "wave"}, "mp3": {"mp3"}, "m4a": {"m4a", "mp4"}}
_ACCEPTED_CODEC = {"wav": "pcm_s16le", "mp3": "mp3", "m4a": "aac"}
_FIX_FORMAT = "convert it to 16-bit PCM WAV, MP3 or M4A (AAC)"

_CONTAINER_NAMES = {
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
_CODEC_NAMES = {
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


@dataclass(frozen=True)
class AudioReport:
    info: AudioInfo | None  # None when the file could not be probed at all
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


class AudioProbeError(VoicectlError):
    """The file cannot be read as audio. The message is the user-facing text, fix included.

    `code` is the DashScope error code the service would most likely answer for such a file."""

    def __init__(self, message: str, *, code: str = DECODER) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class _Finding:
    code: str
    message: str
    error: bool  # False: a warning


# --------------------------------------------------------------------------------------------------
# Hashing and probing
# --------------------------------------------------------------------------------------------------


def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    buf = bytearray(_CHUNK)
    view = memoryview(buf)
    with open(path, "rb") as fh:
        while n := fh.readinto(buf):
            digest.update(view[:n])
    return digest.hexdigest()


def probe_audio(path: str, *, sha256: str | None = None) -> AudioInfo:
    fields = _probe(path)
    # Hash last: a file that fails to probe is reported without paying for a full read.
    return AudioInfo(**fields, sha256=sha256 or sha256_file(path))


def _probe(path: str) -> dict[str, Any]:
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
        kinds = sorted({s.type for s in container.streams}) or ["no streams"]
        raise AudioProbeError(
            f"contains no audio stream ({_CONTAINER_NAMES.get(fmt, fmt)} with {', '.join(kinds)}); "
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
            f"{_CONTAINER_NAMES.get(fmt, fmt.upper())} file holds no audio samples (duration 0 s); "
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
    label = _CONTAINER_NAMES.get(fmt, fmt.upper())
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
            f"{label} file is corrupt near its end ({_ffmpeg_reason(exc)}); export or copy the file again",
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
    reason = _ffmpeg_reason(exc)
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


def _ffmpeg_reason(exc: av.error.FFmpegError) -> str:
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


# --------------------------------------------------------------------------------------------------
# Checks against the service's rules
# --------------------------------------------------------------------------------------------------


def check_audio(info: AudioInfo, *, model: ModelInfo, recorded: bool) -> tuple[list[str], list[str]]:
    """(errors, warnings) for a probed file; each message says what is wrong, with numbers, and the fix."""
    findings = _check(info, model=model, recorded=recorded)
    return [f.message for f in findings if f.error], [f.message for f in findings if not f.error]


def inspect_audio(path: str, *, model: ModelInfo, recorded: bool, sha256: str | None = None) -> AudioReport:
    """Probe and check one file without decoding it; probe failures become errors."""
    try:
        info = probe_audio(path, sha256=sha256)
    except AudioProbeError as exc:
        return AudioReport(None, [str(exc)], [])
    errors, warnings = check_audio(info, model=model, recorded=recorded)
    return AudioReport(info, errors, warnings)


def review_audio(path: str, *, model: ModelInfo, recorded: bool = False) -> list[str]:
    """Failure reasons of a simulated service review, "Code: message"; an empty list passes.

    Like the service, it stops at the file's declared properties when those already fail, and decodes
    the audio only when they pass. The content check decodes the first 60 s (all the service uses) of
    the first channel (the one it uses), resampled to 8 kHz, and measures the RMS level of 50 ms frames:
    frames above SILENCE_DBFS count as signal, and at least MIN_SPEECH_SECONDS of them are needed."""
    try:
        info = AudioInfo(**_probe(path), sha256="")  # the review needs no hash
    except AudioProbeError as exc:
        return [f"{exc.code}: {exc}"]
    failures = [f"{f.code}: {f.message}" for f in _check(info, model=model, recorded=recorded) if f.error]
    if failures:
        return failures
    try:
        levels = _frame_levels(path)
    except av.error.FFmpegError as exc:
        return [f"{DECODER}: audio cannot be decoded ({_ffmpeg_reason(exc)}); export or copy the file again"]
    loud = sum(1 for db in levels if db >= SILENCE_DBFS)
    signal = loud * FRAME_SECONDS
    if loud == 0:
        peak = max(levels, default=-math.inf)
        level = "digital silence" if peak == -math.inf else f"loudest 50 ms at {peak:.0f} dBFS"
        return [
            f"{SILENT}: audio is silent ({level}; speech needs frames above {SILENCE_DBFS:.0f} dBFS); "
            "record again with the microphone close to the speaker"
        ]
    if signal < MIN_SPEECH_SECONDS:
        return [
            f"{SILENT}: audio has only {signal:.1f} s of non-silent signal (50 ms frames above "
            f"{SILENCE_DBFS:.0f} dBFS); the service needs at least {MIN_SPEECH_SECONDS:.0f} s of continuous "
            "clear speech: record again with more speech and less silence"
        ]
    return []


def _frame_levels(path: str) -> list[float]:
    """RMS level in dBFS of each 50 ms frame of the first channel, over the first 60 s."""
    limit = int(MAX_USED_SECONDS * _ANALYSIS_RATE)
    samples = bytearray()
    with av.open(path, "r") as container:
        stream = container.streams.audio[0]
        # Planar output so plane 0 is exactly the first channel, which is the one the service listens to.
        resampler = av.AudioResampler(format="s16p", rate=_ANALYSIS_RATE)
        done = False
        for frame in container.decode(stream):
            for out in resampler.resample(frame):
                samples += bytes(out.planes[0])[: 2 * out.samples]
            if len(samples) >= 2 * limit:
                done = True
                break
        if not done:
            for out in resampler.resample(None):
                samples += bytes(out.planes[0])[: 2 * out.samples]
    pcm = array("h")  # s16 planes are native-endian, as array reads them
    pcm.frombytes(bytes(samples[: 2 * limit]))
    step = int(FRAME_SECONDS * _ANALYSIS_RATE)
    levels = []
    for start in range(0, len(pcm) - step + 1, step):
        frame = pcm[start : start + step]
        energy = sum(map(mul, frame, frame)) / step
        levels.append(10.0 * math.log10(energy / (32768.0 * 32768.0)) if energy > 0 else -math.inf)
    return levels


def _check(info: AudioInfo, *, model: ModelInfo, recorded: bool) -> list[_Finding]:
    found: list[_Finding] = []
    ext = os.path.splitext(info.path)[1].lower().lstrip(".")
    what = _describe(info)
    if info.format not in _ACCEPTED_CODEC:
        if ext and ext in set().union(*_EXTENSIONS.values()) and ext not in _own_extensions(info.format):
            msg = f"named .{ext} but contains {what}, which is not WAV/MP3/M4A; {_FIX_FORMAT}"
        else:
            msg = f"audio is {what}, not WAV/MP3/M4A; {_FIX_FORMAT}"
        found.append(_Finding(FORMAT, f"{msg}, e.g. {_ffmpeg_hint(info, model)}", True))
    elif info.codec != _ACCEPTED_CODEC[info.format]:
        found.append(_Finding(FORMAT, _codec_message(info, model), True))
    elif ext and ext not in _EXTENSIONS[info.format]:
        found.append(
            _Finding(
                FORMAT,
                f"named .{ext} but contains {_CONTAINER_NAMES[info.format]}; voicectl goes by the content "
                f"and uploads it as {AUDIO_CONTENT_TYPES[info.format]}, but other tools may not: "
                f"rename it to .{info.format}",
                False,
            )
        )

    if info.channels > 2:
        found.append(
            _Finding(
                FORMAT,
                f"audio has {info.channels} channels; the service takes mono or stereo: downmix to mono",
                True,
            )
        )
    elif info.channels == 2 and model.mono_only:
        found.append(_Finding(FORMAT, f"audio is stereo (2 channels); {model.name} needs mono: downmix to mono", True))

    if info.sample_rate < model.min_sample_rate:
        khz = model.min_sample_rate // 1000
        found.append(
            _Finding(
                RATE,
                f"sample rate is {info.sample_rate} Hz; {model.name} needs at least {model.min_sample_rate} "
                f"Hz: resample to {khz} kHz or more",
                True,
            )
        )

    if info.size > MAX_BYTES:
        found.append(
            _Finding(
                SIZE,
                f"file is {info.size / (1024 * 1024):.1f} MB ({info.size} bytes); the service accepts "
                f"at most 10 MB ({MAX_BYTES} bytes): trim or compress it "
                "(MP3 at 128 kbps keeps 60 s under 1 MB)",
                True,
            )
        )

    need = MIN_RECORDED_SECONDS if recorded else MIN_SECONDS
    if info.duration < need:
        # Round down: "9.96 s long; needs at least 10 s" must not print as "10.0 s".
        shown = math.floor(info.duration * 10) / 10
        who = "a live recording (recorded: true) needs" if recorded else "cloning needs"
        fix = (
            f"record at least {need:.0f} s of clear speech"
            if recorded
            else f"record or trim to at least {need:.0f} s (10-20 s recommended)"
        )
        found.append(_Finding(SHORT, f"audio is {shown:.1f} s long; {who} at least {need:.0f} s: {fix}", True))
    elif info.duration > MAX_USED_SECONDS:
        shown = math.ceil(info.duration * 10) / 10
        found.append(
            _Finding(
                SHORT,
                f"audio is {shown:.1f} s long; the service uses at most {MAX_USED_SECONDS:.0f} s: "
                "trim to 10-20 s of clear speech",
                False,
            )
        )
    return found


def _own_extensions(fmt: str) -> set[str]:
    return _EXTENSIONS.get(fmt, {fmt})


def _describe(info: AudioInfo) -> str:
    """ "OGG Vorbis", "FLAC", "WAV with 24-bit PCM": what the file really is, in words."""
    container = _CONTAINER_NAMES.get(info.format, info.format.upper())
    codec = _codec_words(info)
    if codec.lower() == container.lower() or (info.format == "aac" and info.codec == "aac"):
        return container
    return f"{container} {codec}"


def _codec_words(info: AudioInfo) -> str:
    if info.codec.startswith("pcm_"):
        kind = "float" if info.codec.startswith("pcm_f") else "PCM"
        if info.codec in ("pcm_alaw", "pcm_mulaw"):
            return _CODEC_NAMES[info.codec]
        if info.bits_per_sample:
            return f"{info.bits_per_sample}-bit {kind}" if kind == "PCM" else f"{info.bits_per_sample}-bit float"
    return _CODEC_NAMES.get(info.codec, info.codec)


def _codec_message(info: AudioInfo, model: ModelInfo) -> str:
    if info.format == "wav":
        if info.codec.startswith("pcm_f"):
            wrong = f"{info.bits_per_sample}-bit float PCM" if info.bits_per_sample else "float PCM"
        elif info.codec.startswith("pcm_") and info.bits_per_sample and info.codec not in ("pcm_alaw", "pcm_mulaw"):
            wrong = f"{info.bits_per_sample}-bit PCM"
        else:
            wrong = f"encoded as {_codec_words(info)}"
        return (
            f"WAV audio is {wrong}; the service reads only 16-bit PCM WAV: re-export as 16-bit PCM WAV, "
            f"e.g. {_ffmpeg_hint(info, model)}"
        )
    container = _CONTAINER_NAMES[info.format]
    expected = _CODEC_NAMES[_ACCEPTED_CODEC[info.format]]
    return (
        f"{container} file contains {_codec_words(info)} audio, not {expected}: {_FIX_FORMAT}, "
        f"e.g. {_ffmpeg_hint(info, model)}"
    )


def _ffmpeg_hint(info: AudioInfo, model: ModelInfo) -> str:
    """A concrete conversion command that fixes format, channels and rate in one go."""
    args = ["ffmpeg -i INPUT"]
    if model.mono_only or info.channels > 2:
        args.append("-ac 1")
    if info.sample_rate < model.min_sample_rate:
        args.append(f"-ar {model.min_sample_rate}")
    args.append("-c:a pcm_s16le OUTPUT.wav")
    return f"`{' '.join(args)}`"
