"""The conventions a Terraform user expects of a CLI: usage errors are errors (exit 1, never the 2 that means
"changes pending"), --version, shell completion, readable help, listings a pipeline can read whole."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from typer.testing import CliRunner

from reconciler import __version__
from reconciler.cli import app
from tests.cli_support import applied_project, new_project

COMMANDS = [
    ("init",),
    ("validate",),
    ("lint",),
    ("plan",),
    ("drift",),
    ("apply",),
    ("show",),
    ("import",),
    ("state", "list"),
    ("state", "rm"),
    ("state", "mv"),
    ("force-unlock",),
    ("voices",),
    ("agent-config",),
    ("schema",),
]


@pytest.mark.parametrize(
    "args",
    [
        ("plan", "--detailed-exitcode", "--bogus"),
        ("apply", "--auto-approve", "--no-such-flag"),
        ("import",),  # missing arguments
        ("plan", "--format", "yaml"),  # a value outside the choices
        ("no-such-command",),
    ],
)
def test_usage_errors_exit_1_not_2(tmp_path: Path, args: tuple[str, ...]) -> None:
    p = new_project(tmp_path)
    result = p.cli(*args)
    assert result.exit_code == 1, result.output
    assert "Error" in result.stderr or "Usage" in result.stderr


def test_detailed_exitcode_still_means_changes(tmp_path: Path) -> None:
    p = new_project(tmp_path)
    assert p.cli("plan", "--detailed-exitcode").exit_code == 2


def test_version_and_completion() -> None:
    version = CliRunner().invoke(app, ["--version"])
    assert version.exit_code == 0 and version.stdout.strip() == f"voicectl {__version__}"
    completion = CliRunner().invoke(app, ["--show-completion", "bash"])  # root options take no -f
    assert completion.exit_code == 0 and "_VOICECTL_COMPLETE" in completion.stdout
    assert "--install-completion" in CliRunner().invoke(app, ["--help"]).stdout


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_help_shows_readable_metavars(tmp_path: Path, command: tuple[str, ...]) -> None:
    help_text = new_project(tmp_path).cli(*command, "--help").stdout
    # Typer's type labels (<str>, <list[str]>, <float range>) are not names a user types.
    options = [line for line in help_text.splitlines() if line.lstrip().startswith("-")]
    assert not [line for line in options if re.search(r"<(str|list\[|float|int)", line)], help_text


def test_plan_help_names_what_to_type(tmp_path: Path) -> None:
    help_text = new_project(tmp_path).cli("apply", "--help").stdout
    for fragment in (
        "--target NAME",
        "--allow-delete NAME",
        "--replace NAME",
        "--expect-changes DIGEST",
        "-f, --file PATH",
    ):
        assert fragment in help_text


def test_state_list_json(tmp_path: Path) -> None:
    p = applied_project(tmp_path)
    doc = json.loads(p.cli("state", "list", "--format", "json").stdout)
    assert {v["address"] for v in doc["voices"]} == {"voice.support-en", "voice.sales-zh", "voice.narrator"}
    assert all(v["voice_id"] == p.voice_id(v["name"]) for v in doc["voices"])
    assert doc["bindings"] and doc["forgotten"] == [] and doc["serial"] >= 1


def test_voices_never_truncates_ids_in_a_pipe(tmp_path: Path) -> None:
    p = applied_project(tmp_path)
    # CliRunner's stdout is not a terminal, as in CI; a narrow COLUMNS would make a table cut the ids.
    listed = p.cli("voices", env={"COLUMNS": "40"}).stdout
    for name in ("support-en", "sales-zh", "narrator"):
        assert p.voice_id(name) in listed
    assert listed.splitlines()[0].split("\t")[:2] == ["NAME", "VOICE ID"]


# ---------------------------------------------------------------------------------------- messages


def test_a_mistyped_model_is_one_error_with_a_suggestion(tmp_path: Path) -> None:
    p = new_project(tmp_path)
    text = p.file.read_text(encoding="utf-8")
    # The voice's model is mistyped; its binding keeps the right one.
    typo = text.replace("model: cosyvoice-v2\n", "model: cosyvoice-v22\n", 1)
    assert typo != text
    p.file.write_text(typo, encoding="utf-8")
    doc = json.loads(p.cli("validate", "--format", "json").stdout)
    assert len(doc["errors"]) == 1, doc["errors"]
    assert "did you mean 'cosyvoice-v2'" in doc["errors"][0]["message"]


@pytest.mark.parametrize(
    ("broken", "line", "column", "hint"),
    [
        ("version: 1\nvoices:\n  - name: a\n    audio: [x\n", 4, 12, "a [ list is not closed"),
        ("version: 1\nvoices:\n  - name: a\n\taudio: x\n", 4, 1, "YAML indents with spaces only"),
        ('version: 1\nvoices:\n  - name: "a\n    audio: x\n', 3, 11, "a quote is opened here and never closed"),
        ("version: 1\nvoices:\n  - name: a: b\n", 3, 12, "quote the value"),
    ],
)
def test_yaml_syntax_errors_name_the_place_and_the_fix(
    tmp_path: Path, broken: str, line: int, column: int, hint: str
) -> None:
    p = new_project(tmp_path)
    p.file.write_text(broken, encoding="utf-8")
    result = p.cli("validate")
    assert result.exit_code == 1
    first = result.stdout.splitlines()[0]
    assert first.startswith(f"{p.file}:{line}:{column}: error: YAML syntax error: ") and hint in first, first
    assert "but got" not in first and "<stream end>" not in first  # not PyYAML's own words


def test_validate_warns_when_the_declared_voices_exceed_the_quota(tmp_path: Path) -> None:
    p = new_project(tmp_path)
    p.file.write_text(p.file.read_text(encoding="utf-8").replace("quota: 30", "quota: 2"), encoding="utf-8")
    assert "quota: 2" in p.file.read_text(encoding="utf-8")
    result = p.cli("validate")
    assert result.exit_code == 0
    assert "3 voices are declared but account.quota is 2" in result.stdout and "1 warning." in result.stdout


def test_singular_words(tmp_path: Path) -> None:
    p = new_project(tmp_path)
    p.file.write_text("version: 1\nvoices: [\n", encoding="utf-8")
    assert "1 error in" in p.cli("validate").stdout


def test_a_threshold_message_never_contradicts_itself() -> None:
    from reconciler.audio.analysis import Metrics
    from reconciler.audio.lint import MAX_PAUSE, MIN_LUFS, MIN_SNR_DB, content_findings
    from reconciler.catalog import MODELS

    just_under = Metrics(
        analysed=15.0,
        channels=1,
        peak_dbfs=-3.0,
        speech_seconds=12.0,
        speech_ratio=0.8,
        longest_speech=12.0,
        longest_pause=MAX_PAUSE + 0.004,
        pause_start=5.0,
        snr_db=MIN_SNR_DB - 0.04,
        clipping=0.0,
        lufs=MIN_LUFS - 0.04,
        high_band_db=-10.0,
        other_peak_dbfs=None,
    )
    messages = [f.message for f in content_findings(just_under, model=MODELS["cosyvoice-v2"], duration=15.0)]
    text = " ".join(messages)
    assert f"SNR is {MIN_SNR_DB - 0.1:.1f} dB" in text  # 19.96 shows as 19.9, never 20.0 beside "at least 20"
    assert f"loudness is {MIN_LUFS - 0.1:.1f} LUFS" in text
    assert f"pause of {MAX_PAUSE + 0.1:.1f} s" in text


# ---------------------------------------------------------------------------------------- the review wait


class _Reviews:
    """The review sweep of a VoiceService: every voice stays DEPLOYING until `done_at` on the fake clock."""

    def __init__(self, clock: list[float], done_at: float):
        self.clock, self.done_at = clock, done_at

    def list_for_review(self, voice_ids: set[str]) -> list[Any]:
        status = "OK" if self.clock[0] >= self.done_at else "DEPLOYING"
        return [SimpleNamespace(voice_id=v, status=status) for v in sorted(voice_ids)]


def test_the_review_wait_has_a_heartbeat_in_logs() -> None:
    from rich.console import Console

    from reconciler.apply.review_wait import wait_for_review
    from reconciler.ui.progress import HEARTBEAT_EVERY, ApplyProgress

    clock = [0.0]

    def sleep(seconds: float) -> None:
        clock[0] += seconds

    log = io.StringIO()
    progress = ApplyProgress(Console(file=log, force_terminal=False, width=200), clock=lambda: clock[0])

    def tick(pending: int, elapsed: float) -> None:
        progress("review", f"{pending} voices still under review after {elapsed:.0f} s", "heartbeat")

    outcome = wait_for_review(
        _Reviews(clock, done_at=100.0), {"a", "b"}, timeout=900, sleep=sleep, clock=lambda: clock[0], on_tick=tick
    )

    assert outcome.statuses == {"a": "OK", "b": "OK"}
    beats = [line for line in log.getvalue().splitlines() if "still under review" in line]
    # About one line per 30 s of a 100 s wait (not one per sweep), each saying how many and how long.
    assert 2 <= len(beats) <= 100 // HEARTBEAT_EVERY, beats
    assert beats[0].startswith("review: 2 voices still under review after 3") and beats[0].endswith("(waiting)")


def test_a_terminal_shows_no_heartbeat_lines() -> None:
    from rich.console import Console

    from reconciler.ui.progress import ApplyProgress

    clock = [0.0]
    log = io.StringIO()
    progress = ApplyProgress(Console(file=log, force_terminal=True, color_system="standard"), clock=lambda: clock[0])
    clock[0] = 120.0
    progress("review", "2 voices still under review after 120 s", "heartbeat")
    assert "still under review" not in log.getvalue()  # the live bar shows the elapsed time
