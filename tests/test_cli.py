"""End-to-end tests of every command and exit code of the CLI on the local provider, as a user sees them:
output text, JSON documents, files on disk and exit codes (contract.md). Most run in-process through
CliRunner (stdin is not a terminal there); a few run real processes for real exit codes and `python -m`."""

from __future__ import annotations

import json
import re
import threading
import time
import wave
from pathlib import Path

import pytest

from reconciler import runtime
from reconciler.errors import VoicectlError
from tests.cli_support import (
    AGENT,
    COSY,
    COSY_FLASH,
    NARRATOR,
    REPO,
    SALES,
    SECRET_VALUES,
    SECRETS,
    SUPPORT,
    SUPPORT_BINDING,
    Project,
    applied_project,
    new_project,
    plan_json,
    summary_line,
    voice,
)

LENIENT = {"max_deletes": 5, "max_delete_fraction": 1.0}
UNMANAGED = "cosyvoice-v2-other-0001"


def addresses(doc: dict) -> dict[str, list[str]]:
    return {c["address"]: c["actions"] for c in doc["changes"] if c["actions"] != ["no-op"]}


# ------------------------------------------------------------------------------------------------ init


def test_init_writes_a_starter_that_validates_plans_and_applies(tmp_path: Path) -> None:
    p = Project(tmp_path / "starter")
    p.dir.mkdir()

    result = p.cli("init")

    assert result.exit_code == 0, result.output
    assert "Wrote" in result.stdout
    for rel in ("voices.yaml", "audio/sample.wav", "schemas/voices.schema.json"):
        assert (p.dir / rel).is_file(), rel
    with wave.open(str(p.dir / "audio" / "sample.wav")) as w:
        assert 11.0 <= w.getnframes() / w.getframerate() <= 13.0
    assert json.loads((p.dir / "schemas" / "voices.schema.json").read_text()) == json.loads(
        (REPO / "schemas" / "voices.schema.json").read_text()
    )
    assert p.cli("validate").exit_code == 0
    assert p.cli("plan", "--detailed-exitcode").exit_code == 2
    assert p.cli("apply", "--auto-approve").exit_code == 0
    assert p.cli("plan", "--detailed-exitcode").exit_code == 0
    config = p.cli("agent-config", "my-agent-id")
    assert json.loads(config.stdout) == {"TtsConfig": {"VoiceId": p.voice_id("sample")}}

    before = p.snapshot()
    again = p.cli("init")
    assert again.exit_code == 1
    assert "never overwrites" in again.stderr
    assert p.snapshot() == before


# -------------------------------------------------------------------------------------------- validate


def test_validate_a_valid_project_in_text_and_json(tmp_path: Path) -> None:
    p = new_project(tmp_path)

    text = p.cli("validate")
    assert text.exit_code == 0
    assert "is valid: 3 voices, 1 binding." in text.stdout

    doc = json.loads(p.cli("validate", "--format", "json").stdout)
    assert doc == {"valid": True, "errors": [], "warnings": []}


BROKEN = """\
version: 1
account:
  provider: local
  prefix: t
voices:
  - name: support-en
    audio: audio/support-en.mp3
    model: cosyvoice-v9
  - name: sales-zh
    audio: audio/sales-zh.m4a
    model: cosyvoice-v3-flash
    colour: blue
bindings:
  - agent: agent1
    voice: nobody
    model: cosyvoice-v2
"""


def test_validate_reports_every_error_with_its_position(tmp_path: Path) -> None:
    p = new_project(tmp_path)
    p.file.write_text(BROKEN)

    text = p.cli("validate")
    assert text.exit_code == 1
    for line, col, what in ((8, 12, "cosyvoice-v9"), (12, 5, "colour"), (15, 12, "nobody")):
        assert re.search(rf"voices\.yaml:{line}:{col}: error: .*{what}", text.stdout), text.stdout

    result = p.cli("validate", "--format", "json")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["valid"] is False and doc["warnings"] == []
    assert [(e["line"], e["column"]) for e in doc["errors"]] == [(8, 12), (12, 5), (15, 12)]
    for error in doc["errors"]:
        assert set(error) == {"file", "line", "column", "message"}
        assert error["file"].endswith("voices.yaml") and error["message"]


def test_validate_with_warnings_only_exits_0(tmp_path: Path) -> None:
    p = new_project(tmp_path)
    # 25 s of speech: longer than the recommended 10-20 s, which is a warning, not an error.
    p.write_speech("audio/long.wav", seconds=25)
    p.configure([voice(SUPPORT, audio="audio/long.wav")], ())

    result = p.cli("validate", "--format", "json")

    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["valid"] is True and doc["errors"] == []
    audio_line = p.file.read_text().splitlines().index("  audio: audio/long.wav") + 1
    assert len(doc["warnings"]) == 1 and doc["warnings"][0]["line"] == audio_line
    assert "audio is 25.0 s long; 10-20 s works best" in doc["warnings"][0]["message"]
    assert p.cli("validate").exit_code == 0


def test_schema_prints_the_schema_file(tmp_path: Path) -> None:
    result = Project(tmp_path).cli("schema")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == json.loads((REPO / "schemas" / "voices.schema.json").read_text())


# ------------------------------------------------------------------------------------------------ plan


def test_plan_summary_lines_and_detailed_exitcode(tmp_path: Path) -> None:
    p = new_project(tmp_path)

    first = p.cli("plan")
    assert first.exit_code == 0
    assert summary_line(first.stdout) == (
        "Plan: 3 to create, 0 to update, 0 to replace, 0 to delete, 1 binding to change. Quota: 0 -> 3 of 30 (peak 3)."
    )
    assert p.cli("plan", "--detailed-exitcode").exit_code == 2

    assert p.cli("apply", "--auto-approve").exit_code == 0

    settled = p.cli("plan", "--detailed-exitcode")
    assert settled.exit_code == 0
    assert summary_line(settled.stdout) == "No changes. Quota: 3 of 30."


def test_plan_of_an_update_a_replace_and_a_delete(tmp_path: Path) -> None:
    p = applied_project(tmp_path, guards=LENIENT)
    support_id, sales_id = p.voice_id("support-en"), p.voice_id("sales-zh")
    p.write_speech("audio/support-new.wav", seed=3)
    p.configure([voice(SUPPORT, audio="audio/support-new.wav"), voice(SALES, model=COSY)], guards=LENIENT)

    result = p.cli("plan")
    assert result.exit_code == 0
    assert summary_line(result.stdout) == (
        "Plan: 0 to create, 1 to update, 1 to replace, 1 to delete, 0 bindings to change. Quota: 3 -> 2 of 30 (peak 3)."
    )
    assert "~ voice.support-en" in result.stdout and "+/- voice.sales-zh" in result.stdout
    assert "- voice.narrator" in result.stdout
    doc = plan_json(p)
    assert addresses(doc) == {
        "voice.support-en": ["update"],
        "voice.sales-zh": ["create", "delete"],
        "voice.narrator": ["delete"],
    }
    reasons = {c["address"]: c["reason"] for c in doc["changes"]}
    assert reasons["voice.support-en"] == "audio_changed" and reasons["voice.sales-zh"] == "model_changed"
    assert reasons["voice.narrator"] == "not_in_config"

    assert p.cli("apply", "--auto-approve").exit_code == 0
    assert p.voice_id("support-en") == support_id  # updated in place
    assert p.voice_id("sales-zh") != sales_id and sales_id not in p.live_voices()
    assert len(p.live_voices()) == 2
    assert p.cli("plan", "--detailed-exitcode").exit_code == 0


def test_plan_json_document(tmp_path: Path) -> None:
    p = new_project(tmp_path)

    result = p.cli("plan", "--format", "json")

    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert doc["format_version"] == "1"
    assert doc["quota"] == {"limit": 30, "before": 0, "after": 3, "peak": 3}
    assert doc["blocked"] == [] and doc["drift"] == []
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", doc["fingerprint"])
    assert addresses(doc) == {
        "voice.support-en": ["create"],
        "voice.sales-zh": ["create"],
        "voice.narrator": ["create"],
        "binding.agent1.tts": ["create"],
    }
    for change in doc["changes"]:
        assert {"address", "actions", "reason", "before", "after"} <= set(change)
    support = next(c for c in doc["changes"] if c["address"] == "voice.support-en")
    assert support["reason"] == "new_voice" and support["before"] is None
    assert support["after"]["model"] == COSY and support["after"]["audio"].startswith("sha256:")
    binding = next(c for c in doc["changes"] if c["address"] == "binding.agent1.tts")
    assert binding["after"]["voice"] == "support-en"


def test_plan_markdown_is_a_pr_comment(tmp_path: Path) -> None:
    p = new_project(tmp_path)
    summary = summary_line(p.cli("plan").stdout)

    result = p.cli("plan", "--format", "markdown")

    assert result.exit_code == 0
    md = result.stdout
    assert "<!-- voicectl-plan -->" in md
    assert summary in md and "<details>" in md
    assert md.index(summary) < md.index("<details>")
    assert "Guards:" in md[: md.index("<details>")]
    assert len(md) < 60_000


def test_quota_blocked_plan_exits_3_and_apply_refuses(tmp_path: Path) -> None:
    p = new_project(tmp_path, quota=3)
    p.seed_voice(UNMANAGED)

    for args in ((), ("--detailed-exitcode",)):
        result = p.cli("plan", *args)
        assert result.exit_code == 3, result.output
        assert "[quota]" in result.stdout and UNMANAGED in result.stdout
    doc = plan_json(p)
    assert [b["guard"] for b in doc["blocked"]] == ["quota"]
    assert doc["quota"]["peak"] == 4 and doc["quota"]["limit"] == 3

    applied = p.cli("apply", "--auto-approve")
    assert applied.exit_code == 3
    assert "[quota]" in applied.stderr and UNMANAGED in applied.stderr
    assert list(p.live_voices()) == [UNMANAGED]
    assert not p.state_path.exists()


def test_max_deletes_guard_blocks_plan_and_apply(tmp_path: Path) -> None:
    guards = {"max_deletes": 1, "max_delete_fraction": 1.0}
    p = applied_project(tmp_path, guards=guards)
    p.configure([SUPPORT], guards=guards)

    assert p.cli("plan").exit_code == 3
    assert [b["guard"] for b in plan_json(p)["blocked"]] == ["max_deletes"]
    result = p.cli("apply", "--auto-approve")
    assert result.exit_code == 3
    assert "[max_deletes]" in result.stderr
    assert len(p.live_voices()) == 3


def test_deleting_every_managed_voice_is_blocked(tmp_path: Path) -> None:
    p = applied_project(tmp_path, [SALES], (), guards=LENIENT)
    p.configure([], (), guards=LENIENT)

    assert p.cli("plan", "--detailed-exitcode").exit_code == 3
    assert [b["guard"] for b in plan_json(p)["blocked"]] == ["empty_config"]
    assert p.cli("apply", "--auto-approve").exit_code == 3
    assert len(p.live_voices()) == 1

    assert p.cli("plan", "--detailed-exitcode", "--allow-delete", "sales-zh").exit_code == 2
    assert p.cli("apply", "--auto-approve", "--allow-delete", "sales-zh").exit_code == 0
    assert p.live_voices() == {}


def test_allow_delete_lifts_the_guards_for_that_voice_only(tmp_path: Path) -> None:
    protected = [voice(SUPPORT, protect=True), voice(SALES, protect=True), NARRATOR]
    p = applied_project(tmp_path, protected, guards=LENIENT)
    # protect is remembered in state: removing the voices from voices.yaml does not unprotect them.
    p.configure([NARRATOR], (), guards=LENIENT)

    plan = p.cli("plan")
    assert plan.exit_code == 3
    assert sorted(b["guard"] for b in plan_json(p)["blocked"]) == ["protect", "protect"]

    one = p.cli("apply", "--auto-approve", "--allow-delete", "support-en")
    assert one.exit_code == 3
    assert "voice.sales-zh is protected" in one.stderr
    assert "voice.support-en is protected" not in one.stderr
    assert len(p.live_voices()) == 3

    both = p.cli("apply", "--auto-approve", "--allow-delete", "support-en", "--allow-delete", "sales-zh")
    assert both.exit_code == 0, both.output
    assert [v.model for v in p.live_voices().values()] == [NARRATOR["model"]]


def test_target_limits_plan_and_apply(tmp_path: Path) -> None:
    p = new_project(tmp_path)

    assert addresses(plan_json(p, "--target", "sales-zh")) == {"voice.sales-zh": ["create"]}
    # A targeted voice brings the bindings that point at it.
    assert set(addresses(plan_json(p, "--target", "support-en"))) == {"voice.support-en", "binding.agent1.tts"}
    unknown = p.cli("plan", "--target", "nope")
    assert unknown.exit_code == 1 and "--target nope" in unknown.stderr

    assert p.cli("apply", "--auto-approve", "--target", "sales-zh").exit_code == 0
    assert set(p.state()["voices"]) == {"sales-zh"}
    assert summary_line(p.cli("plan").stdout) == (
        "Plan: 2 to create, 0 to update, 0 to replace, 0 to delete, 1 binding to change. Quota: 1 -> 3 of 30 (peak 3)."
    )


def test_refresh_only_reconciles_state_and_never_touches_the_account(tmp_path: Path) -> None:
    p = applied_project(tmp_path)
    sales_id, narrator_id = p.voice_id("sales-zh"), p.voice_id("narrator")
    with p.account() as account:  # gone behind voicectl's back; narrator is also dropped from voices.yaml
        account.remove_voice(sales_id)
        account.remove_voice(narrator_id)
    p.configure([SUPPORT, SALES])

    doc = plan_json(p, "--refresh-only")
    assert addresses(doc) == {"voice.narrator": ["delete"]}
    assert all(c.get("state_only") for c in doc["changes"])
    assert {(d["address"], d["reason"]) for d in doc["drift"]} >= {("voice.sales-zh", "missing_in_account")}

    assert p.cli("plan", "--refresh-only", "--out", str(tmp_path / "refresh.plan")).exit_code == 0
    assert p.cli("apply", str(tmp_path / "refresh.plan")).exit_code == 0
    assert set(p.state()["voices"]) == {"support-en", "sales-zh"}
    assert len(p.live_voices()) == 1  # sales-zh was not recreated by a refresh

    assert addresses(plan_json(p)) == {"voice.sales-zh": ["create"]}


def test_plan_writes_nothing_and_works_while_the_lock_is_held(tmp_path: Path) -> None:
    p = applied_project(tmp_path)
    with p.account() as account:
        account.remove_voice(p.voice_id("sales-zh"))
    lock = p.lock_store().acquire_lock("apply")
    before = p.snapshot()

    for args in ((), ("--format", "json"), ("--format", "markdown"), ("--refresh-only",), ("-v",)):
        assert p.cli("plan", *args).exit_code == 0
    assert p.cli("plan", "--detailed-exitcode").exit_code == 2

    assert p.snapshot() == before
    held = p.lock_store().current_lock()
    assert held is not None and held.id == lock.id


def test_plan_of_a_fresh_project_writes_no_state_and_takes_no_lock(tmp_path: Path) -> None:
    p = new_project(tmp_path)
    assert p.cli("plan").exit_code == 0
    assert not p.state_path.exists()
    assert not (p.dir / ".voicectl").exists(), "plan on a fresh clone must not even create the account"
    assert p.lock_store().current_lock() is None


# ------------------------------------------------------------------------------------------ plan files


def test_saved_plan_shows_in_every_format_and_applies_once(tmp_path: Path) -> None:
    p = new_project(tmp_path)
    planfile = str(tmp_path / "voices.plan")

    saved = p.cli("plan", "--out", planfile)
    assert saved.exit_code == 0
    fingerprint = plan_json(p)["fingerprint"]
    assert plan_json(p)["fingerprint"] == fingerprint  # identical inputs, identical fingerprint

    text = p.cli("show", planfile)
    assert text.exit_code == 0 and summary_line(text.stdout) == summary_line(saved.stdout)
    shown = json.loads(p.cli("show", planfile, "--format", "json").stdout)
    assert shown["fingerprint"] == fingerprint
    assert addresses(shown) == addresses(plan_json(p))
    markdown = p.cli("show", planfile, "--format", "markdown")
    assert markdown.exit_code == 0 and "<!-- voicectl-plan -->" in markdown.stdout

    # The plan file is the approval: no --auto-approve, and stdin is not a terminal.
    applied = p.cli("apply", planfile)
    assert applied.exit_code == 0, applied.output
    assert p.cli("plan", "--detailed-exitcode").exit_code == 0

    before = p.snapshot()
    again = p.cli("apply", planfile)
    assert again.exit_code == 1
    assert "plan is stale" in again.stderr
    assert p.snapshot() == before


def _edit_yaml(p: Project) -> None:
    p.configure([SUPPORT, SALES, NARRATOR, {"name": "extra", "audio": "audio/extra.wav", "model": COSY_FLASH}])


def _edit_audio(p: Project) -> None:
    p.write_speech("audio/extra.wav", seconds=13.0, seed=9)


def _add_a_voice_to_the_account(p: Project) -> None:
    p.seed_voice(UNMANAGED)


@pytest.mark.parametrize(
    ("make_stale", "moved"),
    [
        (_edit_yaml, "voices.yaml changed"),
        (_edit_audio, "the audio of voice extra changed"),
        (_add_a_voice_to_the_account, f"account: voice {UNMANAGED} appeared"),
    ],
)
def test_a_stale_saved_plan_is_refused_and_changes_nothing(tmp_path: Path, make_stale, moved: str) -> None:
    p = applied_project(tmp_path)
    p.write_speech("audio/extra.wav", seed=5)
    p.configure([SUPPORT, SALES, NARRATOR, {"name": "extra", "audio": "audio/extra.wav", "model": COSY}])
    planfile = str(tmp_path / "extra.plan")
    assert p.cli("plan", "--out", planfile).exit_code == 0
    make_stale(p)
    before = p.snapshot()

    result = p.cli("apply", planfile)

    assert result.exit_code == 1
    assert "plan is stale" in result.stderr
    assert "What changed since the plan was made:" in result.stderr and moved in result.stderr  # which input
    assert p.snapshot() == before
    assert "extra" not in p.state()["voices"]


# ----------------------------------------------------------------------------------------------- apply


def test_apply_without_a_terminal_needs_auto_approve(tmp_path: Path) -> None:
    p = new_project(tmp_path)
    before = p.snapshot()

    result = p.cli("apply")

    assert result.exit_code == 1
    assert "--auto-approve" in result.stderr
    assert p.snapshot() == before
    assert not (p.dir / ".voicectl").exists()


def test_apply_converges(tmp_path: Path) -> None:
    p = new_project(tmp_path)

    result = p.cli("apply", "--auto-approve")

    assert result.exit_code == 0, result.output
    assert "Apply complete" in result.stdout
    assert {v.status for v in p.live_voices().values()} == {"OK"}
    assert set(p.state()["voices"]) == {"support-en", "sales-zh", "narrator"}
    assert p.cli("plan", "--detailed-exitcode").exit_code == 0
    again = p.cli("apply", "--auto-approve")
    assert again.exit_code == 0 and "No changes." in again.stdout


def test_expect_fingerprint(tmp_path: Path) -> None:
    p = new_project(tmp_path)
    fingerprint = plan_json(p)["fingerprint"]

    wrong = p.cli("apply", "--auto-approve", "--expect-fingerprint", "sha256:" + "0" * 64)
    assert wrong.exit_code == 1 and "plan is stale" in wrong.stderr
    assert p.live_voices() == {}

    right = p.cli("apply", "--auto-approve", "--expect-fingerprint", fingerprint)
    assert right.exit_code == 0, right.output
    assert len(p.live_voices()) == 3


def test_a_failed_review_fails_apply_and_shows_as_drift(tmp_path: Path) -> None:
    p = new_project(tmp_path)
    p.write_silence("audio/silent.wav")
    silent_binding = {"agent": "agent2", "voice": "silent", "model": COSY}
    # lint: false lets the silent file past validate and plan; the (simulated) review still fails it.
    p.configure(
        [SUPPORT, SALES, {"name": "silent", "audio": "audio/silent.wav", "model": COSY, "lint": False}],
        [
            SUPPORT_BINDING,
            silent_binding,
        ],
    )

    result = p.cli("apply", "--auto-approve")

    assert result.exit_code == 1
    assert re.search(r"Apply incomplete: \d+ done, 1 failed, 1 not attempted\.", result.stdout), result.stdout
    assert "Error: voice.silent:" in result.stdout and "failed review (UNDEPLOYED)" in result.stdout
    assert "Not attempted: binding.agent2.tts" in result.stdout
    statuses = {v.voice_id: v.status for v in p.live_voices().values()}
    assert statuses[p.voice_id("support-en")] == "OK" and statuses[p.voice_id("sales-zh")] == "OK"
    assert statuses[p.voice_id("silent")] == "UNDEPLOYED"
    assert json.loads(p.cli("agent-config", AGENT).stdout)["TtsConfig"]["VoiceId"] == p.voice_id("support-en")

    doc = plan_json(p)
    assert {"address": "voice.silent", "reason": "review_failed"}.items() <= next(
        d for d in doc["drift"] if d["address"] == "voice.silent"
    ).items()
    assert "voice.silent" not in addresses(doc)  # the same audio would fail again: left alone


def test_no_wait_leaves_voices_under_review_and_a_rerun_finishes(tmp_path: Path) -> None:
    p = new_project(tmp_path)

    first = p.cli("apply", "--auto-approve", "--no-wait", env={"VOICECTL_LOCAL_REVIEW_DELAY": "1"})

    # The binding needs an approved voice: --no-wait leaves it for the next apply, which is not a failure.
    assert first.exit_code == 0, first.output
    assert "Under review: voice.support-en" in first.stdout and "Under review: voice.sales-zh" in first.stdout
    assert "Waiting for review: binding.agent1.tts" in first.stdout
    assert "Apply complete for now" in first.stdout and "rerun apply" in first.stdout
    # Two CosyVoice voices left under review (the Qwen narrator has no review) and the binding that waits.
    assert "2 voices left under review and 1 step waiting for a review to end (--no-wait)" in first.stdout
    ids = {name: r["voice_id"] for name, r in p.state()["voices"].items()}
    assert p.state()["voices"]["support-en"]["status"] == "DEPLOYING"

    rerun = p.cli("apply", "--auto-approve")
    assert rerun.exit_code == 0, rerun.output
    assert {name: r["voice_id"] for name, r in p.state()["voices"].items()} == ids  # no second clone
    assert {r["status"] for r in p.state()["voices"].values()} == {"OK"}
    assert p.cli("plan", "--detailed-exitcode").exit_code == 0


def test_apply_records_a_review_that_ended_between_runs(tmp_path: Path) -> None:
    p = new_project(tmp_path, [SUPPORT], ())
    assert p.cli("apply", "--auto-approve", "--no-wait").exit_code == 0
    assert "DEPLOYING" in p.cli("state", "list").stdout
    time.sleep(0.2)  # the simulated review (0.05 s) ends between the runs

    again = p.cli("apply", "--auto-approve")
    assert again.exit_code == 0, again.output
    assert p.cli("state", "list").stdout.strip().endswith("\tOK")
    assert p.cli("plan", "--detailed-exitcode").exit_code == 0


def test_review_timeout_fails_apply_and_the_rerun_keeps_waiting(tmp_path: Path) -> None:
    p = new_project(tmp_path, [SUPPORT, SALES], ())

    first = p.cli("apply", "--auto-approve", "--timeout", "0.01", env={"VOICECTL_LOCAL_REVIEW_DELAY": "3"})

    assert first.exit_code == 1
    assert "still under review after 0.01 s" in first.stdout
    ids = {name: r["voice_id"] for name, r in p.state()["voices"].items()}
    assert set(ids) == {"support-en", "sales-zh"}
    # Unbound voices under review are still something to do: the next apply waits for them.
    assert p.cli("plan", "--detailed-exitcode").exit_code == 2

    rerun = p.cli("apply", "--auto-approve")
    assert rerun.exit_code == 0, rerun.output
    assert {name: r["voice_id"] for name, r in p.state()["voices"].items()} == ids
    assert {r["status"] for r in p.state()["voices"].values()} == {"OK"}
    assert p.cli("plan", "--detailed-exitcode").exit_code == 0


def test_report_file_and_parallelism_1(tmp_path: Path) -> None:
    p = new_project(tmp_path)
    report = tmp_path / "apply.md"

    result = p.cli("apply", "--auto-approve", "--parallelism", "1", "--report", str(report))

    assert result.exit_code == 0, result.output
    text = report.read_text()
    assert text.startswith("<!-- voicectl-apply -->")
    assert "Apply complete" in text and "voice.support-en" in text
    assert p.cli("plan", "--detailed-exitcode").exit_code == 0


# ------------------------------------------------------------------------------------------------ lock


def test_a_held_lock_refuses_writers_until_force_unlocked(tmp_path: Path) -> None:
    p = applied_project(tmp_path)
    narrator_id = p.voice_id("narrator")
    lock = p.lock_store().acquire_lock("apply")
    before = p.snapshot()

    for args in (
        ("apply", "--auto-approve"),
        ("import", "narrator", narrator_id),
        ("state", "rm", "narrator"),
        ("state", "mv", "narrator", "storyteller"),
    ):
        result = p.cli(*args)
        assert result.exit_code == 1, args
        assert lock.id in result.stderr and "operation apply" in result.stderr and lock.who in result.stderr
    assert p.snapshot() == before

    wrong = p.cli("force-unlock", "WRONG", "--force")
    assert wrong.exit_code == 1 and f"locked by {lock.id}, not WRONG" in wrong.stderr
    # The id is checked before anyone is asked: no confirmation (and no --force hint) for a wrong id.
    wrong = p.cli("force-unlock", "WRONG")
    assert wrong.exit_code == 1 and f"locked by {lock.id}, not WRONG" in wrong.stderr and "--force" not in wrong.stderr
    unasked = p.cli("force-unlock", lock.id)  # stdin is not a terminal: no one to ask
    assert unasked.exit_code == 1 and "--force" in unasked.stderr
    assert p.lock_store().current_lock() is not None

    removed = p.cli("force-unlock", lock.id, "--force")
    assert removed.exit_code == 0 and lock.id in removed.stdout
    assert p.lock_store().current_lock() is None
    gone = p.cli("force-unlock", lock.id)
    assert gone.exit_code == 1 and "the state is not locked" in gone.stderr
    assert p.cli("state", "rm", "narrator").exit_code == 0


def test_lock_timeout_waits_for_the_holder(tmp_path: Path) -> None:
    p = new_project(tmp_path)
    store = p.lock_store()
    lock = store.acquire_lock("apply")

    assert p.cli("apply", "--auto-approve", "--lock-timeout", "0.2").exit_code == 1

    timer = threading.Timer(0.3, store.release_lock, [lock])
    timer.start()
    try:
        result = p.cli("apply", "--auto-approve", "--lock-timeout", "30")
    finally:
        timer.join()
    assert result.exit_code == 0, result.output
    assert len(p.live_voices()) == 3


# ---------------------------------------------------------------------------------------------- import


def test_import_adopts_a_voice_and_the_next_plan_is_a_no_op(tmp_path: Path) -> None:
    p = new_project(tmp_path, [SUPPORT], ())
    voice_id = p.seed_voice("cosyvoice-v2-t-seeded0001")

    result = p.cli("import", "support-en", voice_id)

    assert result.exit_code == 0, result.output
    assert f"Imported {voice_id} as voice.support-en" in result.stdout
    assert p.voice_id("support-en") == voice_id
    assert p.cli("plan", "--detailed-exitcode").exit_code == 0
    assert list(p.live_voices()) == [voice_id]


def test_import_refuses_an_undeclared_name_and_a_model_mismatch(tmp_path: Path) -> None:
    p = new_project(tmp_path, [SUPPORT], ())
    flash = p.seed_voice("cosyvoice-v3-flash-t-seeded0002", COSY_FLASH)

    ghost = p.cli("import", "ghost", flash)
    assert ghost.exit_code == 1 and "ghost" in ghost.stderr and "voices:" in ghost.stderr

    mismatch = p.cli("import", "support-en", flash)
    assert mismatch.exit_code == 1
    assert COSY_FLASH in mismatch.stderr and COSY in mismatch.stderr
    assert not p.state_path.exists()


def test_a_voice_of_another_prefix_is_managed_once_imported(tmp_path: Path) -> None:
    p = new_project(tmp_path, [SUPPORT], ())
    p.seed_voice(UNMANAGED)

    assert p.cli("import", "support-en", UNMANAGED).exit_code == 0
    assert p.cli("plan", "--detailed-exitcode").exit_code == 0
    rows = json.loads(p.cli("voices", "--format", "json").stdout)
    assert [(r["name"], r["voice_id"], r["managed"]) for r in rows] == [("support-en", UNMANAGED, True)]

    p.configure([SALES], ())
    doc = plan_json(p, "--allow-delete", "support-en")
    deleted = next(c for c in doc["changes"] if c["address"] == "voice.support-en")
    assert deleted["actions"] == ["delete"] and deleted["before"]["voice_id"] == UNMANAGED
    assert p.cli("apply", "--auto-approve", "--allow-delete", "support-en").exit_code == 0
    assert UNMANAGED not in p.live_voices()


# ----------------------------------------------------------------------------------------------- state


def test_state_list_rm_and_mv(tmp_path: Path) -> None:
    p = applied_project(tmp_path)
    support_id, narrator_id = p.voice_id("support-en"), p.voice_id("narrator")

    listed = p.cli("state", "list")
    assert listed.exit_code == 0
    assert f"voice.support-en\t{support_id}\t{COSY}\tOK" in listed.stdout.splitlines()
    assert f"binding.agent1.tts\tsupport-en\t{support_id}" in listed.stdout.splitlines()

    # Renaming in voices.yaml alone would clone anew and delete the old voice (blocked by the guards)...
    p.configure([voice(SUPPORT, name="support"), SALES, NARRATOR], [voice(SUPPORT_BINDING, voice="support")])
    assert p.cli("plan").exit_code == 3
    # ...`state mv` says it is the same voice, so nothing is left to do.
    moved = p.cli("state", "mv", "support-en", "support")
    assert moved.exit_code == 0 and "Moved voice.support-en to voice.support." in moved.stdout
    assert p.cli("plan", "--detailed-exitcode").exit_code == 0
    assert json.loads(p.cli("agent-config", AGENT).stdout)["TtsConfig"]["VoiceId"] == support_id

    removed = p.cli("state", "rm", "narrator")
    assert removed.exit_code == 0 and "Removed voice.narrator from the state." in removed.stdout
    assert "stays in the account, unmanaged" in removed.stdout and narrator_id in removed.stdout
    listed = p.cli("state", "list").stdout.splitlines()
    assert f"voice.narrator (forgotten: unmanaged until imported)\t{narrator_id}" in listed
    assert not any(line.startswith("voice.narrator\t") for line in listed)
    assert narrator_id in p.live_voices()  # the account is not touched
    # Forgotten means unmanaged: still declared, narrator is cloned anew (as after Terraform's state rm),
    # and the forgotten voice is neither adopted by the audio-key rule nor planned for deletion.
    plan = plan_json(p)
    new = next(c for c in plan["changes"] if c["address"] == "voice.narrator")
    assert new["actions"] == ["create"] and "adopt_voice_id" not in new and not new.get("state_only")
    assert not any((c["before"] or {}).get("voice_id") == narrator_id for c in plan["changes"])

    missing = p.cli("state", "rm", "nobody")
    assert missing.exit_code == 1 and "voice.nobody" in missing.stderr


# ------------------------------------------------------------------------------- voices, agent-config


def test_voices_lists_managed_and_with_all_unmanaged(tmp_path: Path) -> None:
    p = applied_project(tmp_path)
    p.seed_voice(UNMANAGED)

    text = p.cli("voices")
    assert text.exit_code == 0
    header = text.stdout.splitlines()[0].split()
    assert header[:2] == ["NAME", "VOICE"] and "MANAGED" in header
    assert p.voice_id("sales-zh") in text.stdout and UNMANAGED not in text.stdout

    rows = json.loads(p.cli("voices", "--format", "json").stdout)
    assert all(set(r) == {"name", "voice_id", "model", "status", "managed", "created"} for r in rows)
    assert {r["name"] for r in rows} == {"support-en", "sales-zh", "narrator"}
    assert all(r["managed"] and r["status"] == "OK" for r in rows)

    everything = json.loads(p.cli("voices", "--all", "--format", "json").stdout)
    assert len(everything) == 4
    foreign = next(r for r in everything if r["voice_id"] == UNMANAGED)
    assert foreign["name"] is None and foreign["managed"] is False and foreign["model"] == COSY
    assert UNMANAGED in p.cli("voices", "--all").stdout

    found = json.loads(p.cli("voices", "--search", "sales", "--format", "json").stdout)
    assert [r["name"] for r in found] == ["sales-zh"]
    by_id = json.loads(p.cli("voices", "--all", "--search", "other", "--format", "json").stdout)
    assert [r["voice_id"] for r in by_id] == [UNMANAGED]


def test_agent_config_from_the_cli_and_from_python(tmp_path: Path) -> None:
    p = applied_project(tmp_path)
    expected = {"TtsConfig": {"VoiceId": p.voice_id("support-en")}}

    result = p.cli("agent-config", AGENT)
    assert result.exit_code == 0
    assert result.stdout.strip() == json.dumps(expected, separators=(",", ":"))
    assert runtime.agent_config(AGENT, config=str(p.file)) == expected

    unknown = p.cli("agent-config", "no-such-agent")
    assert unknown.exit_code == 1 and "no-such-agent" in unknown.stderr
    with pytest.raises(VoicectlError):
        runtime.agent_config("no-such-agent", config=str(p.file))


# ------------------------------------------------------------------------------------------- bad input


def test_a_broken_voices_yaml_changes_nothing(tmp_path: Path) -> None:
    p = applied_project(tmp_path)
    text = p.file.read_text()
    p.file.write_text(text.replace("  model: cosyvoice-v3-flash\n", "  model: cosyvoice-v3-flash\n  colour: blue\n"))
    line = p.file.read_text().splitlines().index("  colour: blue") + 1
    with p.account() as account:  # something to do, so that a half-read config would show
        account.remove_voice(p.voice_id("support-en"))
    before = p.snapshot()

    for args in (("plan",), ("apply", "--auto-approve")):
        result = p.cli(*args)
        assert result.exit_code == 1, args
        assert f"{p.file}:{line}:3: error: unknown key 'colour'" in result.stderr
        assert "nothing was changed" in result.stderr
    assert p.snapshot() == before


# --------------------------------------------------------------------------------------------- secrets


def test_verbose_output_and_files_never_hold_secrets(tmp_path: Path) -> None:
    p = new_project(tmp_path)
    p.env = dict(SECRETS)
    planfile, report = tmp_path / "project" / "s.plan", tmp_path / "project" / "report.md"
    outputs = []

    # Options after the subcommand; -v logs go to stderr, so stdout stays one JSON document.
    first = p.cli("plan", "-v", "--format", "json")
    json.loads(first.stdout)
    outputs.append(first.output)
    for args in (
        ("validate", "-v"),
        ("plan", "-v", "--out", str(planfile)),
        ("show", str(planfile), "-v", "--format", "markdown"),
        ("apply", str(planfile), "-v", "--report", str(report)),
        ("voices", "-v", "--all"),
        ("state", "list", "-v"),
        ("agent-config", AGENT, "-v"),
        ("plan", "-v", "--detailed-exitcode"),
    ):
        result = p.cli(*args)
        assert result.exit_code == 0, (args, result.output)
        outputs.append(result.output)
    outputs.append(p.process("plan", "-v", "--format", "markdown").stderr)

    everything = "\n".join(outputs) + p.all_file_text()
    for secret in SECRET_VALUES:
        assert secret not in everything


# ------------------------------------------------------------------------------------- real processes


def test_real_processes_exit_codes(tmp_path: Path) -> None:
    p = new_project(tmp_path)

    planned = p.process("plan", "--detailed-exitcode")
    assert planned.returncode == 2, planned.stderr
    assert summary_line(planned.stdout).startswith("Plan: 3 to create")

    refused = p.process("apply", module=False)
    assert refused.returncode == 1 and "--auto-approve" in refused.stderr
    assert not p.state_path.exists()

    applied = p.process("apply", "--auto-approve", module=False)
    assert applied.returncode == 0, applied.stderr
    settled = p.process("plan", "--detailed-exitcode")
    assert settled.returncode == 0 and summary_line(settled.stdout) == "No changes. Quota: 3 of 30."

    lock = p.lock_store().acquire_lock("apply")
    unlock = p.process("force-unlock", lock.id)  # no terminal to confirm on
    assert unlock.returncode == 1 and "--force" in unlock.stderr
    assert p.lock_store().current_lock() is not None


def test_real_process_blocked_apply_exits_3(tmp_path: Path) -> None:
    p = new_project(tmp_path, quota=3)
    p.seed_voice(UNMANAGED)

    blocked = p.process("apply", "--auto-approve", module=False)
    assert blocked.returncode == 3 and "[quota]" in blocked.stderr


def test_no_color_gives_plain_text_even_when_colour_is_forced(tmp_path: Path) -> None:
    p = new_project(tmp_path)
    forced = {"FORCE_COLOR": "1", "TERM": "xterm-256color"}

    coloured = p.process("plan", env=forced)
    assert "\x1b[" in coloured.stdout  # the check below would see escape codes if there were any
    for args, env in (
        (("plan", "--no-color"), forced),
        (("plan",), {**forced, "NO_COLOR": "1"}),
        (("apply", "--auto-approve", "--no-color"), forced),
        (("validate", "--no-color"), forced),
    ):
        result = p.process(*args, env=env)
        assert result.returncode == 0, result.stderr
        assert "\x1b" not in result.stdout + result.stderr, (args, env)

    p.configure([voice(SUPPORT, model="no-such-model")], [])
    broken = p.process("plan", "--no-color", env=forced)
    assert broken.returncode == 1 and "error:" in broken.stderr and "\x1b" not in broken.stderr


def test_apply_json_is_one_document_with_the_plan_and_its_report(tmp_path: Path) -> None:
    p = new_project(tmp_path)

    first = p.cli("apply", "--auto-approve", "--format", "json")

    assert first.exit_code == 0, first.output
    doc = json.loads(first.stdout)
    assert doc["format_version"] == "1" and doc["ok"] is True and doc["cancelled"] is False
    assert doc["plan"]["summary"].startswith("Plan: 3 to create") and doc["plan"]["fingerprint"].startswith("sha256:")
    report = doc["report"]
    assert report["ok"] and report["failed"] == [] and report["summary"].startswith("Apply complete:")
    done = {d["address"] for d in report["done"]}
    assert {"voice.support-en", "voice.sales-zh", "voice.narrator", f"binding.{AGENT}.tts"} <= done
    assert "voicectl will perform" in first.stderr  # the plan for people goes to stderr

    again = json.loads(p.cli("apply", "--auto-approve", "--format", "json").stdout)
    assert again["report"] is None and again["ok"] is True
    assert again["plan"]["summary"] == "No changes. Quota: 3 of 30."
