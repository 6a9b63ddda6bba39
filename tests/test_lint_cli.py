"""The audio lint as a user meets it: `voicectl lint`, validate and plan, --no-lint and `lint: false`, the
metrics in state next to the review outcome, a failed review's report, and the metrics cache."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from reconciler.audio import cache as cache_module
from reconciler.audio import lint as lint_module
from reconciler.catalog import MODELS
from tests import speech_fixtures as sf
from tests.cli_support import COSY, SUPPORT, Project, new_project, voice

PAUSED = {"name": "paused", "audio": "audio/paused.wav", "model": COSY}


def with_paused(tmp_path: Path) -> Project:
    """The example project plus a voice whose audio has a 4 s pause (a lint error)."""
    p = new_project(tmp_path)
    sf.write_wav(p.dir / "audio" / "paused.wav", sf.with_pause(sf.clean()))
    p.configure([SUPPORT, PAUSED], ())
    return p


def test_lint_prints_the_metrics_per_voice_and_exits_1_on_an_error(tmp_path: Path) -> None:
    p = with_paused(tmp_path)
    result = p.cli("lint")
    assert result.exit_code == 1
    out = result.stdout
    assert "voice.support-en  audio/support-en.mp3  cosyvoice-v2" in out
    assert "voice.paused  audio/paused.wav  cosyvoice-v2" in out
    for label in ("speech ", "longest continuous speech ", "longest pause ", "SNR ", "clipping ", " LUFS"):
        assert out.count(label) >= 2, label
    assert "  ok\n" in out  # support-en
    assert re.search(r"error: pause of [34]\.\d s without speech \(from \d+\.\d s to", out), out
    assert "pauses must stay under 2 s" in out
    assert "Lint: 2 voices, 1 with errors (a review would fail), 0 with warnings only." in out

    one = p.cli("lint", "support-en")
    assert one.exit_code == 0 and "voice.paused" not in one.stdout


def test_lint_json(tmp_path: Path) -> None:
    p = with_paused(tmp_path)
    result = p.cli("lint", "--format", "json", "paused", "voice.support-en")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["format_version"] == "1" and (doc["errors"], doc["warnings"]) == (1, 0)
    rows = {r["name"]: r for r in doc["voices"]}
    assert set(rows) == {"paused", "support-en"}
    metrics = rows["paused"]["metrics"]
    assert set(metrics) == {"speech_ratio", "longest_speech_s", "longest_pause_s", "snr_db", "clipping", "lufs"}
    assert metrics["longest_pause_s"] > 3.5
    assert rows["paused"]["errors"][0].startswith("pause of ")
    assert rows["support-en"]["errors"] == [] and rows["support-en"]["metrics"]["longest_pause_s"] < 2


def test_lint_refuses_an_unknown_voice(tmp_path: Path) -> None:
    result = with_paused(tmp_path).cli("lint", "nope")
    assert result.exit_code == 1
    assert "no voice named nope" in result.stderr and "declared: support-en, paused" in result.stderr


def test_validate_and_plan_report_lint_errors_at_the_audio_line(tmp_path: Path) -> None:
    p = with_paused(tmp_path)
    line = p.file.read_text().splitlines().index("  audio: audio/paused.wav") + 1
    doc = json.loads(p.cli("validate", "--format", "json").stdout)
    assert doc["valid"] is False
    (error,) = doc["errors"]
    assert error["line"] == line and error["file"].endswith("voices.yaml")
    assert re.match(r"audio audio/paused\.wav: pause of [34]\.\d s", error["message"])
    assert error["message"].endswith("(a false alarm? set `lint: false` on this voice)")

    planned = p.cli("plan")
    assert planned.exit_code == 1
    assert f"voices.yaml:{line}:" in planned.stderr and "pause of " in planned.stderr
    assert not (p.dir / ".voicectl" / "state.json").exists()


def test_lint_warnings_show_in_validate_and_plan(tmp_path: Path) -> None:
    p = new_project(tmp_path)
    sf.write_wav(p.dir / "audio" / "quiet.wav", sf.with_gain(sf.clean(), -30.0))
    p.configure([voice(SUPPORT, audio="audio/quiet.wav")], ())
    doc = json.loads(p.cli("validate", "--format", "json").stdout)
    assert doc["valid"] is True and len(doc["warnings"]) == 1
    assert "loudness is -5" in doc["warnings"][0]["message"]
    planned = p.cli("plan")
    assert planned.exit_code == 0 and "warning: audio audio/quiet.wav: loudness is" in planned.stderr


def test_no_lint_and_lint_false_skip_it_with_a_note_in_the_plan(tmp_path: Path) -> None:
    p = with_paused(tmp_path)
    assert p.cli("validate", "--no-lint").exit_code == 0
    planned = p.cli("plan", "--no-lint", "--format", "json")
    assert planned.exit_code == 0, planned.output
    notes = json.loads(planned.stdout)["notes"]
    assert any("audio lint skipped" in n and "voice.paused" in n and "voice.support-en" in n for n in notes)

    p.configure([SUPPORT, {**PAUSED, "lint": False}], ())
    assert p.cli("validate").exit_code == 0
    text = p.cli("plan").stdout
    assert "audio lint skipped (lint: false or --no-lint) for voice.paused" in text
    assert "voice.support-en" not in text.split("audio lint skipped")[1].splitlines()[0]
    # `voicectl lint` still measures it when asked, and says plan skips it.
    asked = p.cli("lint", "paused")
    assert asked.exit_code == 1 and "note: lint: false in voices.yaml" in asked.stdout


def test_apply_records_the_metrics_next_to_the_review_outcome(tmp_path: Path) -> None:
    p = new_project(tmp_path)
    p.configure([SUPPORT], ())
    assert p.cli("apply", "--auto-approve").exit_code == 0
    record = p.state()["voices"]["support-en"]
    assert record["status"] == "OK"
    assert set(record["lint"]) == {"speech_ratio", "longest_speech_s", "longest_pause_s", "snr_db", "clipping", "lufs"}
    assert record["lint"]["longest_speech_s"] > 5 and record["lint"]["longest_pause_s"] < 2


def test_a_failed_review_reports_the_metrics_that_explain_it(tmp_path: Path) -> None:
    # lint: false lets the paused audio through plan; the simulated review rejects it, and the report says why.
    p = with_paused(tmp_path)
    p.configure([SUPPORT, {**PAUSED, "lint": False}], ())
    result = p.cli("apply", "--auto-approve", "--report", str(p.dir / "report.md"))
    assert result.exit_code == 1
    assert "failed review (UNDEPLOYED). Audio lint measured: speech " in result.stdout
    assert re.search(r"longest pause [34]\.\d s \(at most 2 s\) \(!\)", result.stdout), result.stdout
    report = (p.dir / "report.md").read_text()
    assert "Audio lint measured:" in report and "(at most 2 s) (!)" in report
    # Not linted before (lint: false), measured when the review failed, and recorded for calibration.
    record = p.state()["voices"]["paused"]
    assert record["status"] == "UNDEPLOYED" and record["lint"]["longest_pause_s"] > 3.5


def test_a_failed_review_of_a_linted_voice_records_its_metrics(tmp_path: Path) -> None:
    # Linted, yet failing review: the account failing it anyway (the local provider's forced failure).
    p = new_project(tmp_path)
    p.configure([SUPPORT], ())
    with p.account() as account:
        account.fail_next_review("Audio.AudioQualityError: forced by the test")
    result = p.cli("apply", "--auto-approve")
    assert result.exit_code == 1
    assert "Audio lint measured: speech " in result.stdout and "(!)" not in result.stdout
    record = p.state()["voices"]["support-en"]
    assert record["status"] == "UNDEPLOYED" and record["lint"]["longest_pause_s"] < 2


# ------------------------------------------------------------------------------------------------ cache


def test_an_unchanged_file_is_analysed_once_across_validate_plan_and_apply(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VOICECTL_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(cache_module, "_default", None)
    measured: list[str] = []
    real = lint_module.measure_audio
    monkeypatch.setattr(lint_module, "measure_audio", lambda path: measured.append(path) or real(path))
    p = new_project(tmp_path)
    p.configure([SUPPORT], ())
    for args in (("validate",), ("plan",), ("apply", "--auto-approve"), ("lint",)):
        assert p.cli(*args).exit_code == 0
    # Once for the project's file: the local provider's review of the uploaded copy (same content) is a hit.
    assert len(measured) == 1


def test_plan_reads_the_cache_but_never_writes_it(tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    p = new_project(tmp_path)
    env = {"VOICECTL_CACHE_DIR": str(cache_dir)}

    planned = p.process("plan", env=env)

    assert planned.returncode == 0, planned.stderr
    assert not cache_dir.exists() or not list(cache_dir.rglob("*.json"))  # a plan of unseen audio: nothing kept
    assert p.process("validate", env=env).returncode == 0
    assert len(list(cache_dir.rglob("*.json"))) == 3  # validate keeps what it measured: one per example file


def test_plan_writes_nothing_in_the_project_and_a_second_process_reuses_the_cache(tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    p = new_project(tmp_path)
    sf.write_wav(p.dir / "audio" / "fresh.wav", sf.with_white_noise(sf.clean(), 35.0, seed=9))
    p.configure([SUPPORT, voice(SUPPORT, name="fresh", audio="audio/fresh.wav")], ())
    env = {"VOICECTL_CACHE_DIR": str(cache_dir)}
    assert p.process("apply", "--auto-approve", env=env).returncode == 0
    before = p.snapshot()
    mtimes = {path: path.stat().st_mtime_ns for path in p.dir.rglob("*") if path.is_file()}
    entries = sorted(cache_dir.rglob("*.json"))
    assert len(entries) == 2  # one per distinct audio content, named by its sha256
    stamps = {e: e.stat().st_mtime_ns for e in entries}

    planned = p.process("plan", "--detailed-exitcode", env=env)
    assert planned.returncode == 0, planned.stderr
    assert p.snapshot() == before
    assert {path: path.stat().st_mtime_ns for path in p.dir.rglob("*") if path.is_file()} == mtimes
    assert sorted(cache_dir.rglob("*.json")) == entries
    assert {e: e.stat().st_mtime_ns for e in entries} == stamps  # hits: nothing measured, nothing rewritten


def test_the_cache_can_be_turned_off_and_survives_garbage(tmp_path: Path) -> None:
    assert cache_module.cache_root({"VOICECTL_CACHE_DIR": "off"}) is None
    assert cache_module.cache_root({"XDG_CACHE_HOME": "/x"}) == os.path.join("/x", "voicectl")
    path = str(sf.write_wav(tmp_path / "a.wav", sf.clean()))
    cache = cache_module.MetricsCache(str(tmp_path / "c"))
    first = lint_module.lint_file(path, model=MODELS[COSY], cache=cache)
    (entry,) = (tmp_path / "c").rglob("*.json")
    hit = cache_module.MetricsCache(str(tmp_path / "c"))
    assert lint_module.lint_file(path, model=MODELS[COSY], cache=hit).metrics == first.metrics
    assert hit.analysed == 0
    entry.write_text("{not json")
    again = cache_module.MetricsCache(str(tmp_path / "c"))
    second = lint_module.lint_file(path, model=MODELS[COSY], cache=again)
    assert again.analysed == 1 and second.metrics == first.metrics  # a corrupt entry is measured again
    assert json.loads(entry.read_text())["lufs"] == pytest.approx(first.metrics.lufs if first.metrics else 0)


def test_the_init_sample_and_the_examples_lint_clean(tmp_path: Path) -> None:
    from tests.cli_support import REPO, Project

    starter = Project(tmp_path / "starter")
    starter.dir.mkdir()
    assert starter.process("init").returncode == 0
    linted = starter.process("lint", "--format", "json")
    assert linted.returncode == 0, linted.stderr
    (row,) = json.loads(linted.stdout)["voices"]
    assert (row["errors"], row["warnings"]) == ([], []) and row["metrics"]["longest_speech_s"] > 10

    examples = Project(REPO)
    doc = json.loads(examples.cli("lint", "--format", "json").stdout)
    assert len(doc["voices"]) == 3 and (doc["errors"], doc["warnings"]) == (0, 0)
