"""The conventions a Terraform user expects of a CLI: usage errors are errors (exit 1, never the 2 that means
"changes pending"), --version, shell completion, readable help, listings a pipeline can read whole."""

from __future__ import annotations

import json
import re
from pathlib import Path

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
