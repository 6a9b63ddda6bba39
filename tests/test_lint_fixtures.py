"""The audio lint on real speech: every fixture gives exactly its expected finding, the clean readings none.

The fixtures are derived in the test setup (tests/speech_fixtures.py) from the espeak-ng readings committed
in reconciler/audio/data/, so this runs anywhere the package installs: no espeak-ng, sox or network.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from reconciler.audio import analysis
from reconciler.audio.cache import MetricsCache
from reconciler.audio.lint import LintReport, lint_file
from reconciler.audio.review import review_audio
from reconciler.audio.sample import READINGS, reading_path
from reconciler.audio.wada import wada_snr
from reconciler.catalog import MODELS
from tests import speech_fixtures as sf

COSY = MODELS["cosyvoice-v2"]
QWEN = MODELS["qwen3-tts-vc-2026-01-22"]


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return sf.build(tmp_path_factory.mktemp("speech"))


def lint(path: Path, model=COSY) -> LintReport:  # type: ignore[no-untyped-def]
    # A private cache per call: these tests measure, they must never be served another test's result.
    return lint_file(str(path), model=model, cache=MetricsCache(None))


def only(report: LintReport) -> tuple[str, bool, str]:
    assert len(report.findings) == 1, [f.message for f in report.findings]
    (finding,) = report.findings
    return finding.check, finding.error, finding.message


# ----------------------------------------------------------------------------------------------- clean


@pytest.mark.parametrize("name", READINGS)
def test_clean_readings_have_no_finding(name: str) -> None:
    # The committed Ogg readings themselves (not a format the service takes, hence formats=False).
    report = lint_file(reading_path(name), model=COSY, formats=False, cache=MetricsCache(None))
    assert report.findings == []
    m = report.metrics
    assert m is not None and m.speech_ratio > 0.9 and m.longest_speech > 10.0 and m.longest_pause < 0.7


@pytest.mark.parametrize("model", [COSY, QWEN], ids=["cosyvoice", "qwen"])
def test_clean_wav_has_no_finding_for_either_family(fixtures: dict[str, Path], model) -> None:  # type: ignore[no-untyped-def]
    report = lint(fixtures["clean"], model)
    assert report.findings == []
    assert review_audio(str(fixtures["clean"]), model=model) == []


# ------------------------------------------------------------------------------------------- errors


def test_inserted_4s_pause_is_an_error_naming_where(fixtures: dict[str, Path]) -> None:
    check, error, message = only(lint(fixtures["pause_4s"]))
    assert (check, error) == ("pause", True)
    seconds = float(message.split("pause of ")[1].split(" s")[0])
    assert 3.7 <= seconds <= 4.3  # the 4 s inserted, give or take the VAD's frames at the word edges
    assert " to " in message and "under 2 s" in message and "cut it shorter" in message


def test_continuous_speech_under_5s_fails_cosyvoice_not_qwen(fixtures: dict[str, Path]) -> None:
    # Runs of 4 s with 1.5 s gaps: no pause over 2 s, but nothing continuous for 5 s (CosyVoice's minimum);
    # Qwen needs only 3 s.
    check, error, message = only(lint(fixtures["speech_4s_runs"], COSY))
    assert (check, error) == ("continuous_speech", True)
    assert "longest continuous speech is 4." in message and "needs at least 5 s" in message
    assert lint(fixtures["speech_4s_runs"], QWEN).findings == []
    assert review_audio(str(fixtures["speech_4s_runs"]), model=QWEN) == []


def test_4s_file_is_too_short_on_both_counts(fixtures: dict[str, Path]) -> None:
    report = lint(fixtures["speech_4s_only"], COSY)
    assert report.checks == ["duration", "continuous_speech"]
    assert lint(fixtures["speech_4s_only"], QWEN).checks == ["duration"]  # 4 s of speech is enough for Qwen


def test_digital_silence_is_one_error(fixtures: dict[str, Path]) -> None:
    check, error, message = only(lint(fixtures["silence"]))
    assert (check, error) == ("no_speech", True)
    assert "digital silence" in message


def test_stereo_with_silent_first_channel_is_an_error(fixtures: dict[str, Path]) -> None:
    check, error, message = only(lint(fixtures["stereo_silent_first"], COSY))
    assert (check, error) == ("first_channel", True)
    assert "first channel" in message and "downmix to mono" in message
    # Qwen takes mono only: the declared-format error comes first, the content one still explains why.
    assert lint(fixtures["stereo_silent_first"], QWEN).checks == ["channels", "first_channel"]


# ------------------------------------------------------------------------------------------ warnings


def test_white_noise_at_0db_is_a_snr_warning(fixtures: dict[str, Path]) -> None:
    check, error, message = only(lint(fixtures["noise_0db"]))
    assert (check, error) == ("snr", False)
    snr = float(message.split("estimated SNR is ")[1].split(" dB")[0])
    assert -5.0 < snr < 8.0
    assert "at least 20 dB" in message and "quiet room" in message


def test_gain_15db_is_a_clipping_warning(fixtures: dict[str, Path]) -> None:
    check, error, message = only(lint(fixtures["gain_15db"]))
    assert (check, error) == ("clipping", False)
    assert "of the samples are clipped" in message and "at most 0.1%" in message and "lower input gain" in message


def test_tone_bed_under_speech_is_a_snr_warning(fixtures: dict[str, Path]) -> None:
    check, error, message = only(lint(fixtures["tone_bed"]))
    assert (check, error) == ("snr", False)
    assert "without music" in message


def test_gain_minus_30db_is_a_loudness_warning(fixtures: dict[str, Path]) -> None:
    check, error, message = only(lint(fixtures["gain_minus_30db"]))
    assert (check, error) == ("loudness", False)
    lufs = float(message.split("loudness is ")[1].split(" LUFS")[0])
    clean = lint(fixtures["clean"]).metrics
    assert clean is not None and lufs == pytest.approx(clean.lufs - 30.0, abs=0.5)
    assert "at least -30 LUFS" in message and "loudnorm" in message


def test_telephone_audio_upsampled_from_8khz_is_a_band_warning(fixtures: dict[str, Path]) -> None:
    check, error, message = only(lint(fixtures["telephone_8khz"]))
    assert (check, error) == ("band", False)
    assert "band-limited" in message and "16 kHz or more" in message


@pytest.mark.parametrize("name", ["noise_0db", "gain_15db", "tone_bed", "gain_minus_30db", "telephone_8khz"])
def test_warnings_do_not_fail_the_simulated_review(fixtures: dict[str, Path], name: str) -> None:
    assert review_audio(str(fixtures[name]), model=COSY) == []


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("pause_4s", "Audio.AudioQualityError"),
        ("speech_4s_runs", "Audio.AudioQualityError"),
        ("silence", "Audio.AudioSilentError"),
        ("stereo_silent_first", "Audio.AudioSilentError"),
    ],
)
def test_lint_errors_fail_the_simulated_review(fixtures: dict[str, Path], name: str, code: str) -> None:
    (failure,) = review_audio(str(fixtures[name]), model=COSY)
    assert failure.startswith(f"{code}: ")
    assert failure.removeprefix(f"{code}: ") == lint(fixtures[name]).errors[0]


# ------------------------------------------------------------------------------------ the measurements


def test_metrics_of_the_clean_reading(fixtures: dict[str, Path]) -> None:
    m = lint(fixtures["clean"]).metrics
    assert m is not None
    assert m.analysed == pytest.approx(12.0, abs=0.3)
    assert 0.85 < m.speech_ratio <= 1.0
    assert m.longest_speech > 10.0 and m.longest_pause < 0.7
    assert m.snr_db is not None and m.snr_db > 25.0
    assert m.clipping == 0.0
    assert -24.0 < m.lufs < -17.0
    assert m.high_band_db is not None and m.high_band_db > -30.0


def test_loudness_of_a_reference_sine_is_bs1770s(tmp_path: Path) -> None:
    # BS.1770's calibration: a 997 Hz sine at 0 dBFS in one channel reads -3.01 LUFS; at -20 dBFS, -23.01.
    t = np.arange(10 * sf.RATE) / sf.RATE
    path = sf.write_wav(tmp_path / "sine.wav", 0.1 * np.sin(2 * np.pi * 997.0 * t))
    m = lint(path).metrics
    assert m is not None and m.lufs == pytest.approx(-23.01, abs=0.15)


@pytest.mark.parametrize("snr", [0.0, 10.0, 20.0, 30.0])
def test_wada_snr_recovers_the_snr_of_its_model(snr: float) -> None:
    rng = np.random.default_rng(int(snr))
    n = 400_000
    speech = rng.gamma(0.4, 1.0, n) * rng.choice([-1.0, 1.0], n)
    noise = rng.standard_normal(n)
    x = speech * np.sqrt(10 ** (snr / 10) / 0.56) + noise
    estimate = wada_snr(x)
    assert estimate is not None and estimate == pytest.approx(snr, abs=1.0)
    # Exact zeros (digital silence between words) are left out, so they do not move the estimate.
    assert wada_snr(np.concatenate([x, np.zeros(n)])) == pytest.approx(estimate, abs=1e-9)
    assert wada_snr(np.zeros(10)) is None


def test_stereo_first_channel_is_what_is_measured(tmp_path: Path) -> None:
    x = sf.clean()
    swapped = sf.write_wav(tmp_path / "left.wav", np.stack([x, np.zeros_like(x)]))
    m = lint(swapped).metrics
    assert m is not None and m.other_peak_dbfs == float("-inf") and m.longest_speech > 10.0
    assert lint(swapped).findings == []  # speech on the first channel, silence on the second: fine for CosyVoice


def test_analysis_reads_at_most_the_first_60s(tmp_path: Path) -> None:
    x = np.concatenate([sf.clean()] * 6)  # about 72 s
    m = analysis.measure_audio(str(sf.write_wav(tmp_path / "long.wav", x)))
    assert m.analysed == pytest.approx(60.0, abs=0.01)


@pytest.mark.parametrize("name", ["pause_4s", "speech_4s_runs", "silence", "stereo_silent_first"])
def test_emulated_service_fails_the_review_of_what_lint_rejects(fixtures: dict[str, Path], name: str) -> None:
    from tests.emulator import _audio as emulator_audio

    verdict = emulator_audio.review(fixtures[name].read_bytes(), "wav", "cosyvoice-v2")
    assert verdict.reject is None  # accepted at create, as the service does: the review fails it later
    assert verdict.review_failures == review_audio(str(fixtures[name]), model=COSY)
    clean = emulator_audio.review(fixtures["clean"].read_bytes(), "wav", "cosyvoice-v2")
    assert (clean.reject, clean.review_failures) == (None, [])


# ---------------------------------------------------------------------------------- sound that is not a voice


@pytest.mark.parametrize("name", sorted(sf.NOT_A_VOICE))
def test_noise_and_tones_are_no_speech_and_nothing_else(fixtures: dict[str, Path], name: str) -> None:
    """A wrong file (noise, a ringtone, hold music) draws the one "no speech" error, none of the warnings
    that would follow from taking it for speech (SNR, pauses, loudness)."""
    report = lint(fixtures[name])
    check, error, message = only(report)
    assert (check, error) == ("no_speech", True), message
    assert report.metrics is not None and report.metrics.speech_ratio == 0.0
    if report.metrics.peak_dbfs > -40.0:
        assert "nothing that sounds like a voice" in message and "right file" in message


@pytest.mark.parametrize("name", ["noise_bed_10db", "music_bed_10db"])
def test_speech_over_a_10db_bed_is_still_speech(fixtures: dict[str, Path], name: str) -> None:
    report = lint(fixtures[name])
    assert report.metrics is not None and report.metrics.speech_ratio > 0.8, report.metrics
    assert "no_speech" not in report.checks and report.metrics.longest_speech >= 5.0


# ---------------------------------------------------------------------------------- SNR on codecs and rates


def _encode(path: Path, samples: np.ndarray, rate: int, codec: str) -> Path:
    import av

    container = {"pcm_s16le": "wav", "libmp3lame": "mp3", "aac": "adts"}[codec]
    with av.open(str(path), "w", format=container) as out:
        stream = out.add_stream(codec, rate=rate)
        stream.layout = "mono"
        if codec != "pcm_s16le":
            stream.bit_rate = 32_000 if codec == "libmp3lame" else 64_000
        frame = av.AudioFrame.from_ndarray(samples[None, :].astype(np.float32), format="fltp", layout="mono")
        frame.sample_rate = rate
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    return path


@pytest.mark.parametrize("rate", [16_000, 24_000, 48_000])
@pytest.mark.parametrize("codec", ["pcm_s16le", "libmp3lame", "aac"])
def test_snr_holds_on_lossy_codecs_and_other_rates(tmp_path: Path, rate: int, codec: str) -> None:
    """Speech with white noise at 10 dB SNR reads within 5 dB of 10 dB; the same speech without added noise,
    after a lossy codec, reads a plausible number or "cannot judge", never the 98-100 dB of a saturated table."""
    from reconciler.audio.analysis import measure_audio

    speech = sf.clean() if rate == sf.RATE else sf.resample(sf.clean(), sf.RATE, rate)
    noisy = sf.with_white_noise(speech, 10.0)
    noisy_m = measure_audio(str(_encode(tmp_path / "noisy", noisy / np.max(np.abs(noisy)) * 0.9, rate, codec)))
    assert noisy_m.snr_db is not None and abs(noisy_m.snr_db - 10.0) <= 5.0, noisy_m.snr_db
    clean_m = measure_audio(str(_encode(tmp_path / "clean", speech / np.max(np.abs(speech)) * 0.9, rate, codec)))
    assert clean_m.snr_db is None or 20.0 <= clean_m.snr_db <= 40.0, clean_m.snr_db
