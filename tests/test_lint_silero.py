"""The optional Silero VAD (onnxruntime + the ONNX file inside the silero-vad wheel, installed without torch).

It is welcome only where it measurably beats webrtcvad, so these tests pin both: on the ten fixtures it gives
the same findings, and under a noise or music bed at 5 dB SNR or less it still hears a 4 s pause and short
runs of speech, which webrtcvad (everything is "speech" to it there) misses. CI installs the extra
(.ci/run); elsewhere these tests skip when it is not installed, but never under CI=true.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from reconciler.audio.cache import MetricsCache
from reconciler.audio.lint import LintReport, lint_file
from reconciler.catalog import MODELS
from tests import speech_fixtures as sf

COSY = MODELS["cosyvoice-v2"]
INSTALLED = importlib.util.find_spec("onnxruntime") is not None and importlib.util.find_spec("silero_vad") is not None

if not INSTALLED and not os.environ.get("CI"):
    pytest.skip(
        "Silero VAD extra not installed: pip install onnxruntime && pip install --no-deps silero-vad",
        allow_module_level=True,
    )


def lint(path: Path, vad: str, monkeypatch: pytest.MonkeyPatch) -> LintReport:
    monkeypatch.setenv("VOICECTL_VAD", vad)
    return lint_file(str(path), model=COSY, cache=MetricsCache(None))


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("silero")
    built = sf.build(directory)
    x = sf.clean()
    hard = {
        "pause_in_noise_5db": sf.with_white_noise(sf.with_pause(x), 5.0),
        "pause_under_tone_bed": sf.with_tone_bed(sf.with_pause(x)),
        "runs_in_noise_5db": sf.with_white_noise(sf.speech_runs(x), 5.0),
    }
    return built | {name: sf.write_wav(directory / f"{name}.wav", y) for name, y in hard.items()}


EXPECTED = {
    "clean": [],
    "pause_4s": ["pause"],
    "noise_0db": ["snr"],
    "gain_15db": ["clipping"],
    "speech_4s_runs": ["continuous_speech"],
    "tone_bed": ["snr"],
    "gain_minus_30db": ["loudness"],
    "telephone_8khz": ["band"],
    "silence": ["no_speech"],
    "stereo_silent_first": ["first_channel"],
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_silero_gives_each_fixture_its_finding(fixtures: dict[str, Path], name: str, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    report = lint(fixtures[name], "silero", monkeypatch)
    assert report.checks == EXPECTED[name], report.errors + report.warnings
    assert report.metrics is not None and report.metrics.vad == "silero"


@pytest.mark.parametrize(
    ("name", "silero_finds"),
    [
        ("pause_in_noise_5db", ["pause", "snr"]),
        ("pause_under_tone_bed", ["pause", "snr"]),
        ("runs_in_noise_5db", ["continuous_speech", "snr"]),
    ],
)
def test_silero_hears_pauses_under_noise_that_webrtcvad_misses(  # type: ignore[no-untyped-def]
    fixtures: dict[str, Path], name: str, silero_finds: list[str], monkeypatch
) -> None:
    silero = lint(fixtures[name], "silero", monkeypatch)
    webrtc = lint(fixtures[name], "webrtc", monkeypatch)
    assert silero.checks == silero_finds
    assert webrtc.checks == ["snr"]  # the pause (or the short runs) goes unnoticed
    assert silero.metrics is not None and webrtc.metrics is not None
    assert silero.metrics.speech_ratio < 0.85 < webrtc.metrics.speech_ratio


def test_an_unknown_detector_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from reconciler.errors import VoicectlError

    path = sf.write_wav(tmp_path / "a.wav", sf.clean())
    with pytest.raises(VoicectlError, match="use webrtc"):
        lint(path, "nope", monkeypatch)
