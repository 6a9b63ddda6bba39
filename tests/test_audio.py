"""Offline audio probing and checks: a matrix of broken inputs, each with its own message, plus the
examples, the synthesized sample and the simulated review."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import sys
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.audio import probe as audio
from reconciler.audio.probe import AudioInfo, AudioProbeError, probe_audio, sha256_file
from reconciler.audio.review import review_audio
from reconciler.audio.rules import check_audio, inspect_audio
from reconciler.audio.sample import speech_pcm, write_sample_wav, write_silence_wav
from reconciler.catalog import AUDIO_CONTENT_TYPES, MODELS, REVIEW_CHECKLIST, ModelInfo
from tests import audio_fixtures as fx

COSY = MODELS["cosyvoice-v2"]
QWEN = MODELS["qwen3-tts-vc-2026-01-22"]
ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "audio"


@dataclass(frozen=True)
class Case:
    id: str
    make: Callable[[Path], Path]
    # Each inner tuple: substrings that must all appear in one message; the counts must match exactly.
    errors: tuple[tuple[str, ...], ...] = ()
    review_code: str | None = None  # code of the first review failure; None: the review passes
    warnings: tuple[tuple[str, ...], ...] = ()
    model: ModelInfo = COSY
    recorded: bool = False
    probe_fails: bool = False  # no AudioInfo at all


def _ogg_named_mp3(d: Path) -> Path:
    path, _ = fx.ogg(d / "a.ogg")
    return path.rename(d / "voice.mp3")


def _mp3_named_wav(d: Path) -> Path:
    return fx.mp3(d / "a.mp3").rename(d / "voice.wav")


def _big_wav(d: Path) -> Path:
    # 56 s of 48 kHz stereo 16-bit = 10.75 MB: over the limit while short of the 60 s warning.
    return fx.write_wav(d / "big.wav", seconds=56.0, sample_rate=48000, channels=2)


def _riff_overclaims(d: Path) -> Path:
    path = fx.write_wav(d / "riff.wav", seconds=12.0)
    data = bytearray(path.read_bytes())
    data[4:8] = (len(data) - 8 + 4096).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    return path


CASES: tuple[Case, ...] = (
    Case(
        "empty",
        lambda d: fx.write_bytes(d / "v.wav", b""),
        (("file is empty (0 bytes)",),),
        audio.DECODER,
        probe_fails=True,
    ),
    Case(
        "text-named-wav",
        lambda d: fx.write_bytes(d / "v.wav", b"this is not audio, just notes\nline two\n"),
        (("not an audio file: its content is text", "16-bit PCM WAV, MP3 or M4A"),),
        audio.FORMAT,
        probe_fails=True,
    ),
    Case(
        "random-bytes-named-mp3",
        lambda d: fx.random_bytes(d / "v.mp3"),
        (("not an audio file: FFmpeg recognises no audio format",),),
        audio.FORMAT,
        probe_fails=True,
    ),
    Case("ogg-named-mp3", _ogg_named_mp3, (("named .mp3 but contains OGG", "which is not WAV/MP3/M4A"),), audio.FORMAT),
    Case("ogg", lambda d: fx.ogg(d / "v.ogg")[0], (("audio is OGG ", "not WAV/MP3/M4A; convert it to"),), audio.FORMAT),
    Case("flac", lambda d: fx.flac(d / "v.flac"), (("audio is FLAC, not WAV/MP3/M4A; convert it to",),), audio.FORMAT),
    Case(
        "wav-24bit",
        lambda d: fx.write_wav(d / "v.wav", bits=24),
        (("WAV audio is 24-bit PCM; ", "re-export as 16-bit PCM WAV"),),
        audio.FORMAT,
    ),
    Case(
        "wav-24bit-extensible",
        lambda d: fx.write_wav(d / "v.wav", bits=24, fmt_tag=0xFFFE),
        (("WAV audio is 24-bit PCM; ", "re-export as 16-bit PCM WAV"),),
        audio.FORMAT,
    ),
    Case(
        "wav-float32",
        lambda d: fx.write_wav(d / "v.wav", bits=32, fmt_tag=3),
        (("WAV audio is 32-bit float PCM; ", "re-export as 16-bit PCM WAV"),),
        audio.FORMAT,
    ),
    Case(
        "wav-8bit",
        lambda d: fx.write_wav(d / "v.wav", bits=8),
        (("WAV audio is 8-bit PCM; ", "re-export as 16-bit PCM WAV"),),
        audio.FORMAT,
    ),
    Case(
        "wav-8khz",
        lambda d: fx.write_wav(d / "v.wav", sample_rate=8000),
        (("sample rate is 8000 Hz; cosyvoice-v2 needs at least 16000 Hz: resample to 16 kHz or more",),),
        audio.RATE,
    ),
    Case(
        "wav-3-channels",
        lambda d: fx.write_wav(d / "v.wav", channels=3),
        (("audio has 3 channels; the service takes mono or stereo: downmix to mono",),),
        audio.FORMAT,
    ),
    Case(
        "qwen-22khz",
        lambda d: fx.write_wav(d / "v.wav", sample_rate=22050),
        (("sample rate is 22050 Hz; qwen3-tts-vc-2026-01-22 needs at least 24000 Hz: resample to 24 kHz or more",),),
        audio.RATE,
        model=QWEN,
    ),
    Case(
        "qwen-stereo",
        lambda d: fx.write_wav(d / "v.wav", sample_rate=24000, channels=2),
        (("audio is stereo (2 channels); qwen3-tts-vc-2026-01-22 needs mono: downmix to mono",),),
        audio.FORMAT,
        model=QWEN,
    ),
    Case(
        "qwen-everything-wrong",
        lambda d: fx.write_wav(d / "v.wav", seconds=5.0, sample_rate=16000, channels=2),
        (("audio is stereo",), ("sample rate is 16000 Hz",), ("audio is 5.0 s long",)),
        audio.FORMAT,
        model=QWEN,
    ),
    Case(
        "5-seconds",
        lambda d: fx.write_wav(d / "v.wav", seconds=5.0),
        (("audio is 5.0 s long; cloning needs at least 10 s: record or trim to at least 10 s (10-20 s recommended)",),),
        audio.SHORT,
    ),
    Case(
        "9.96-seconds-rounds-down",
        lambda d: fx.write_wav(d / "v.wav", seconds=9.96),
        (("audio is 9.9 s long; cloning needs at least 10 s",),),
        audio.SHORT,
    ),
    Case(
        "15-seconds-recorded",
        lambda d: fx.write_wav(d / "v.wav", seconds=15.0),
        (("audio is 15.0 s long; a live recording (recorded: true) needs at least 20 s: record at least 20 s",),),
        audio.SHORT,
        recorded=True,
    ),
    Case(
        "over-10-mb",
        _big_wav,
        (
            (
                "file is 10.3 MB (10752044 bytes); the service accepts at most 10 MB (10485760 bytes): "
                "trim or compress it (MP3 at 128 kbps",
            ),
        ),
        audio.SIZE,
    ),
    Case(
        "truncated-wav",
        lambda d: fx.truncated_wav(d / "v.wav"),
        (("WAV file is truncated: its header declares 384000 bytes of audio data but only 128000 are present",),),
        audio.DECODER,
        probe_fails=True,
    ),
    Case(
        "truncated-wav-riff-size",
        _riff_overclaims,
        (("WAV file is truncated: its RIFF header declares",),),
        audio.DECODER,
        probe_fails=True,
    ),
    Case(
        "wav-without-data-chunk",
        lambda d: fx.wav_without_data_chunk(d / "v.wav"),
        (("WAV file has no data chunk: it holds no audio samples",),),
        audio.DECODER,
        probe_fails=True,
    ),
    Case(
        "wav-empty-data-chunk",
        lambda d: fx.wav_empty_data(d / "v.wav"),
        (("WAV file has an empty data chunk",),),
        audio.SHORT,
        probe_fails=True,
    ),
    Case(
        "truncated-mp3",
        lambda d: fx.truncate(fx.mp3(d / "v.mp3")),
        (("MP3 file is truncated: its header declares 12.0 s but its audio data ends ",),),
        audio.DECODER,
        probe_fails=True,
    ),
    Case(
        "truncated-m4a-index-first",
        lambda d: fx.truncate(fx.m4a(d / "v.m4a", faststart=True)),
        (("M4A file is truncated: its header declares 12.0 s",),),
        audio.DECODER,
        probe_fails=True,
    ),
    Case(
        "truncated-m4a-index-last",
        lambda d: fx.truncate(fx.m4a(d / "v.m4a")),
        (("M4A file is corrupt or truncated",),),
        audio.DECODER,
        probe_fails=True,
    ),
    Case(
        "m4a-alac",
        lambda d: fx.alac_m4a(d / "v.m4a"),
        (("M4A file contains ALAC audio, not AAC",),),
        audio.FORMAT,
    ),
    Case(
        "mp4-video-only",
        lambda d: fx.video_only_mp4(d / "v.m4a"),
        (("contains no audio stream (M4A with video)",),),
        audio.FORMAT,
        probe_fails=True,
    ),
    Case(
        "missing-file",
        lambda d: d / "nowhere.wav",
        (("cannot read the file: No such file or directory",),),
        audio.UNREACHABLE,
        probe_fails=True,
    ),
    Case(
        "over-60-seconds",
        lambda d: fx.write_wav(d / "v.wav", seconds=61.0),
        (("audio is 61.0 s long; the service takes at most 60 s: trim it to 10-20 s of clear speech",),),
        audio.SHORT,
    ),
    Case(
        "mp3-named-wav-warns",
        _mp3_named_wav,
        warnings=(("named .wav but contains MP3", "rename it to .mp3"),),
    ),
)


def _match(messages: list[str], expected: tuple[tuple[str, ...], ...]) -> None:
    assert len(messages) == len(expected), messages
    for parts in expected:
        assert any(all(p in m for p in parts) for m in messages), (parts, messages)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_audio_matrix(case: Case, tmp_path: Path) -> None:
    path = str(case.make(tmp_path))
    report = inspect_audio(path, model=case.model, recorded=case.recorded)
    _match(report.errors, case.errors)
    _match(report.warnings, case.warnings)
    for message in report.errors + report.warnings:
        assert str(tmp_path) not in message  # the caller prefixes the path
    assert (report.info is None) == case.probe_fails
    if case.probe_fails:
        with pytest.raises(AudioProbeError):
            probe_audio(path)

    review = review_audio(path, model=case.model, recorded=case.recorded)
    if case.review_code is None:
        assert review == []
    else:
        assert review, "the review must fail"
        assert review[0].startswith(case.review_code + ": ")
        assert review[0].split(": ", 1)[1] in report.errors


def test_matrix_covers_enough_broken_inputs() -> None:
    assert sum(1 for c in CASES if c.errors or c.warnings) >= 18


# --------------------------------------------------------------------------------------------------
# Examples and the synthesized sample
# --------------------------------------------------------------------------------------------------

EXAMPLE_MODELS = {
    "support-en.mp3": ("mp3", COSY),
    "sales-zh.m4a": ("m4a", MODELS["cosyvoice-v3-flash"]),
    "narrator-qwen.mp3": ("mp3", QWEN),
}


@pytest.mark.parametrize("name", sorted(EXAMPLE_MODELS))
def test_examples_pass(name: str) -> None:
    fmt, model = EXAMPLE_MODELS[name]
    path = str(EXAMPLES / name)
    info = probe_audio(path)
    assert info.format == fmt
    assert info.codec == {"mp3": "mp3", "m4a": "aac"}[fmt]
    assert 11.5 <= info.duration <= 12.5
    assert info.sample_rate >= model.min_sample_rate
    assert check_audio(info, model=model, recorded=False) == ([], [])
    assert review_audio(path, model=model) == []
    if model.mono_only:
        assert info.channels == 1 and info.sample_rate >= 24000


def test_examples_are_small() -> None:
    assert sum(os.path.getsize(EXAMPLES / n) for n in EXAMPLE_MODELS) < 300 * 1024


def test_example_script_regenerates_identical_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = importlib.util.spec_from_file_location("make_example_audio", ROOT / "scripts" / "make_example_audio.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up there
    spec.loader.exec_module(module)
    assert {e.filename for e in module.EXAMPLES} == set(EXAMPLE_MODELS)
    for example in module.EXAMPLES:
        fresh = Path(module.make(example, str(tmp_path)))
        assert fresh.read_bytes() == (EXAMPLES / example.filename).read_bytes(), example.filename


def test_sample_wav_passes_checks_and_review(tmp_path: Path) -> None:
    path = str(tmp_path / "sample.wav")
    write_sample_wav(path)
    report = inspect_audio(path, model=COSY, recorded=False)
    assert report.info is not None
    assert (report.info.format, report.info.codec, report.info.channels) == ("wav", "pcm_s16le", 1)
    assert report.info.duration == pytest.approx(12.0)
    assert (report.errors, report.warnings) == ([], [])
    assert review_audio(path, model=COSY) == []


def test_sample_is_deterministic_and_fast(tmp_path: Path) -> None:
    start = time.process_time()
    first = speech_pcm(seconds=12.0, sample_rate=16000, seed=0)
    elapsed = time.process_time() - start
    assert elapsed < 0.5
    assert first == speech_pcm(seconds=12.0, sample_rate=16000, seed=0)
    assert first != speech_pcm(seconds=12.0, sample_rate=16000, seed=1)
    assert len(first) == 192000
    assert max(first) < 32767 and min(first) > -32768  # no clipping


def test_silence_fails_review_only(tmp_path: Path) -> None:
    path = str(tmp_path / "silence.wav")
    write_silence_wav(path, 12.0, 16000)
    assert inspect_audio(path, model=COSY, recorded=False).errors == []  # a well-formed file
    (failure,) = review_audio(path, model=COSY)
    assert failure.startswith("Audio.AudioSilentError: audio is digital silence")


def test_too_little_speech_fails_review(tmp_path: Path) -> None:
    # 3 s of speech, then 9 s of silence: too little continuous speech, and a pause far over 2 s.
    path = str(fx.speech_then_silence(tmp_path / "v.wav", speech_seconds=3.0, total_seconds=12.0))
    short, pause = review_audio(path, model=COSY)
    assert short.startswith("Audio.AudioQualityError: longest continuous speech is ")
    assert float(short.split(" is ")[1].split(" s")[0]) < 3.5 and "needs at least 5 s" in short
    assert pause.startswith("Audio.AudioQualityError: pause of ") and "(the last " in pause
    assert 8.0 < float(pause.split("pause of ")[1].split(" s")[0]) <= 9.0


def test_review_listens_to_the_first_channel(tmp_path: Path) -> None:
    # The service uses the first channel of a stereo file: speech on the second alone is silence to it.
    speech = speech_pcm(seconds=12.0, sample_rate=16000)
    stereo = array("h", bytes(4 * len(speech)))
    stereo[1::2] = speech
    path = tmp_path / "right-only.wav"
    path.write_bytes(fx.wav_header(data_bytes=len(stereo) * 2, channels=2) + stereo.tobytes())
    (failure,) = review_audio(str(path), model=COSY)
    assert failure.startswith("Audio.AudioSilentError: the first channel is digital silence")
    stereo[0::2], stereo[1::2] = speech, array("h", bytes(2 * len(speech)))
    path.write_bytes(fx.wav_header(data_bytes=len(stereo) * 2, channels=2) + stereo.tobytes())
    assert review_audio(str(path), model=COSY) == []


def test_review_reports_a_decoder_error(tmp_path: Path) -> None:
    # Garbage over most of an M4A's samples: the index still reads, the AAC decoder cannot.
    path = fx.m4a(tmp_path / "v.m4a", faststart=True)
    data = bytearray(path.read_bytes())
    start = len(data) // 10
    data[start:-64] = b"\xff" * (len(data) - 64 - start)
    path.write_bytes(bytes(data))
    assert inspect_audio(str(path), model=COSY, recorded=False).errors == []
    (failure,) = review_audio(str(path), model=COSY)
    assert failure.startswith("Audio.DecoderError: audio cannot be decoded")


# --------------------------------------------------------------------------------------------------
# Hashing, constants, robustness
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, (1 << 20) - 1, 1 << 20, (1 << 20) + 1, 3 * (1 << 20) + 17])
def test_sha256_matches_hashlib(size: int, tmp_path: Path) -> None:
    path = tmp_path / "blob"
    path.write_bytes(os.urandom(size))
    assert sha256_file(str(path)) == hashlib.sha256(path.read_bytes()).hexdigest()


def test_probe_hashes_once_or_takes_the_given_hash(tmp_path: Path) -> None:
    path = tmp_path / "v.wav"
    write_sample_wav(str(path))
    assert probe_audio(str(path)).sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert probe_audio(str(path), sha256="given").sha256 == "given"
    info = inspect_audio(str(path), model=COSY, recorded=False, sha256="given").info
    assert info is not None and info.sha256 == "given"


def test_identity_follows_content_not_name(tmp_path: Path) -> None:
    a = tmp_path / "a.wav"
    write_sample_wav(str(a))
    b = tmp_path / "renamed.wav"
    shutil.copy(a, b)
    assert probe_audio(str(a)).sha256 == probe_audio(str(b)).sha256


def test_constants() -> None:
    assert AUDIO_CONTENT_TYPES == {"wav": "audio/wav", "mp3": "audio/mpeg", "m4a": "audio/mp4"}
    assert [item.split(":")[0] for item in REVIEW_CHECKLIST] == ["content", "format", "clarity", "noise"]
    assert AudioInfo.__dataclass_params__.frozen  # type: ignore[attr-defined]


_PREFIXES = [b"", b"RIFF\x24\x00\x00\x00WAVE", b"ID3\x04\x00\x00\x00\x00\x00\x00", b"OggS\x00", b"\x00\x00\x00\x18ftyp"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(prefix=st.sampled_from(_PREFIXES), body=st.binary(max_size=4096))
def test_probe_never_crashes_on_garbage(prefix: bytes, body: bytes, tmp_path: Path) -> None:
    # Whatever the bytes, the user gets an AudioProbeError with a message, never a traceback.
    path = tmp_path / "fuzz.mp3"
    path.write_bytes(prefix + body)
    try:
        info = probe_audio(str(path))
    except AudioProbeError as exc:
        assert str(exc)
    else:
        check_audio(info, model=COSY, recorded=False)


_SHORT_WAV = fx.wav_header(data_bytes=8000) + bytes(8000)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(min_value=0, max_value=len(_SHORT_WAV) - 1))
def test_every_proper_prefix_of_a_wav_is_rejected(cut: int, tmp_path: Path) -> None:
    path = tmp_path / "cut.wav"
    path.write_bytes(_SHORT_WAV[:cut])
    with pytest.raises(AudioProbeError) as exc:
        probe_audio(str(path))
    if cut >= 44:
        assert "truncated" in str(exc.value)
