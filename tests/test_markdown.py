"""The markdown views (PR comment, apply report): what reviewers see above the fold, and the size limit.

GitHub refuses a comment over 65,536 characters, so whatever the plan size the text must stay under 60,000
with the marker and the summary intact; only table rows may be trimmed, and the reader is told when they are.
"""

from __future__ import annotations

import re

import pytest

from reconciler.apply.report import ApplyReport
from reconciler.plan.changes import Action, BindingState, Change, Kind, Order, Reason, VoiceAfter, VoiceBefore
from reconciler.plan.plan import Blocked, Drift, Guard, Plan, Quota
from reconciler.ui.markdown import MARKDOWN_LIMIT, MARKER, REPORT_MARKER, render_markdown, render_report_markdown
from tests import harness
from tests.fakes import FakeAccount, MemoryStateStore, binding, desired, voice
from tests.harness import summary_of

FINGERPRINT = "sha256:" + "ab" * 32
SHA_A, SHA_B = "sha256:" + "1" * 64, "sha256:" + "2" * 64


def above_fold(text: str) -> str:
    return text.split("<details", 1)[0]


def table_rows(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| … |")]


def cells(row: str) -> list[str]:
    """Split a GFM table row the way GitHub does: on `|` not preceded by a backslash escape."""
    return [c.strip() for c in re.split(r"(?<!\\)\|", row.strip())[1:-1]]


# -- a real 30-voice plan and its apply ------------------------------------------------------------


@pytest.fixture(scope="module")
def thirty() -> tuple[Plan, ApplyReport]:
    voices = [voice(f"voice-{i:02d}", audio=f"a{i}") for i in range(30)]
    bindings = [binding(f"agent{i:02d}", f"voice-{i:02d}", workflow=f"flow-{i}") for i in range(30)]
    d = desired(voices, bindings, quota=30)
    plan, report = harness.apply(d, FakeAccount(quota=30), MemoryStateStore())
    assert report is not None and report.ok
    return plan, report


def test_thirty_voice_plan_fits_with_summary_above_the_fold(thirty: tuple[Plan, ApplyReport]) -> None:
    plan, _ = thirty
    md = render_markdown(plan)
    assert len(md) < MARKDOWN_LIMIT
    assert md.startswith(MARKER + "\n")
    head = above_fold(md)
    assert f"**{summary_of(plan)}**" in head
    assert summary_of(plan).startswith("Plan: 30 to create") and "30 bindings to change" in summary_of(plan)
    assert "**Quota:** 0 → 30 of 30 (peak 30)" in head
    assert "**Guards:** ✅ pass" in head
    assert f"<!-- voicectl-fingerprint: {plan.fingerprint} -->" in head
    assert "trimmed" not in md
    # One table per kind of change, every row present, each with the five columns.
    assert "#### Create (30)" in md and "#### Bindings (30)" in md
    rows = table_rows(md)
    assert len(rows) == 2 + 60  # two header rows, then the rows
    assert all(len(cells(r)) == 5 for r in rows)
    create = next(r for r in rows if "`voice-07`" in r)
    assert cells(create)[3] == "agent07.tts" and cells(create)[4] == "new_voice"


def test_thirty_voice_apply_report(thirty: tuple[Plan, ApplyReport]) -> None:
    plan, report = thirty
    md = render_report_markdown(report, plan)
    assert md.startswith(REPORT_MARKER + "\n") and len(md) < MARKDOWN_LIMIT
    head = above_fold(md)
    assert f"**✅ {summary_of(report)}**" in head
    assert "**Plan:** 30 to create" in head and "Plan: Plan:" not in md
    assert f"<summary>Done ({len(report.done)})</summary>" in md
    assert len(table_rows(md)) == 1 + len(report.done)


# -- a synthetic plan of 500 changes -------------------------------------------------------------------

NASTY = "line one | with a pipe\nline two </details> <b>bold</b> `tick` *star* & back\\slash"


def big_plan(n: int = 500) -> Plan:
    changes: list[Change] = []
    for i in range(n):
        name = f"voice-{i:03d}"
        kind = i % 5
        if kind == 0:
            after = VoiceAfter("cosyvoice-v2", SHA_A, f"{name}.wav", None, False)
            changes.append(Change(f"voice.{name}", Kind.VOICE, Action.CREATE, Reason.NEW_VOICE, None, after))
            continue
        before = VoiceBefore(f"cosyvoice-v2-acme-{i:032x}", "cosyvoice-v2", SHA_A, "OK")
        if kind == 1:
            after = VoiceAfter("cosyvoice-v2", SHA_B, f"{name}.wav", None, False, before.voice_id)
            changes.append(Change(f"voice.{name}", Kind.VOICE, Action.UPDATE, Reason.AUDIO_CHANGED, before, after))
        elif kind == 2:
            order = Order.CREATE_BEFORE_DESTROY if i % 2 else Order.DESTROY_BEFORE_CREATE
            after = VoiceAfter("cosyvoice-v3-flash", SHA_A, f"{name}.wav", None, False)
            changes.append(
                Change(f"voice.{name}", Kind.VOICE, Action.REPLACE, Reason.MODEL_CHANGED, before, after, order=order)
            )
        elif kind == 3:
            changes.append(Change(f"voice.{name}", Kind.VOICE, Action.DELETE, Reason.NOT_IN_CONFIG, before, None))
        else:
            binding = BindingState(f"agent{i}", "tts", f"flow {i} | {NASTY}", name, None, "cosyvoice-v2")
            changes.append(
                Change(f"binding.agent{i}.tts", Kind.BINDING, Action.BIND, Reason.NEW_BINDING, None, binding)
            )
    drift = tuple(Drift(f"voice.gone-{i}", Reason.MISSING_IN_ACCOUNT, NASTY * 3) for i in range(120))
    blocked = tuple(
        Blocked(Guard.MAX_DELETES, f"{n // 5} deletes exceed max_deletes=3: pass --allow-delete NAME ({NASTY})")
        for _ in range(3)
    )
    return Plan(
        changes=tuple(changes),
        steps=(),
        quota=Quota(limit=30, before=28, after=30, peak=30),
        blocked=blocked,
        drift=drift,
        fingerprint=FINGERPRINT,
        notes=("provider aliyun: the TTS node's console default voice is out of reach",),
    )


def test_five_hundred_changes_are_trimmed_under_the_limit_with_the_summary_intact() -> None:
    plan = big_plan()
    md = render_markdown(plan)
    assert len(md) <= MARKDOWN_LIMIT
    head = above_fold(md)
    assert md.startswith(MARKER) and f"**{summary_of(plan)}**" in head
    assert summary_of(plan) == (
        "Plan: 100 to create, 100 to update, 100 to replace, 100 to delete, 100 bindings to change. "
        "Quota: 28 -> 30 of 30 (peak 30)."
    )
    assert "**Guards:** ⛔ blocked" in head and head.count("- `max_deletes`") == 3
    assert f"**Fingerprint:** `{FINGERPRINT}`" in head and "**Drift:** 120 findings" in head
    # The note says rows were trimmed, outside the fold so nobody misses it, and the tables say how many.
    note = re.search(r"_Showing (\d+) of 620 rows: the rest were trimmed", head)
    assert note and 0 < int(note.group(1)) < 620
    assert re.search(r"\| … \| \d+ more not shown \|", md)
    for title in ("Create (100)", "Update in place (100)", "Replace (100)", "Delete (100)", "Bindings (100)"):
        assert f"#### {title}" in md
    assert "#### Drift (120)" in md
    assert md.count("<details>") == md.count("</details>") == 2  # no cell closed a fold
    assert "> provider aliyun" in md


def test_the_same_plan_untrimmed_with_a_larger_limit() -> None:
    md = render_markdown(big_plan(), limit=10_000_000)
    assert "trimmed" not in md and len(table_rows(md)) == 6 + 500 + 120


@pytest.mark.parametrize("limit", [60_000, 20_000, 5_000])
def test_any_limit_keeps_the_marker_and_summary(limit: int) -> None:
    plan = big_plan()
    md = render_markdown(plan, limit=limit)
    assert len(md) <= limit and md.startswith(MARKER) and summary_of(plan) in md


def test_tables_escape_pipes_newlines_and_html() -> None:
    md = render_markdown(big_plan(5), limit=10_000_000)
    row = next(r for r in table_rows(md) if r.startswith("| `agent4.tts`"))
    assert len(cells(row)) == 5, row  # the pipes inside the workflow label did not add columns
    workflow = cells(row)[1]
    assert workflow.startswith("flow 4 \\| line one \\| with a pipe<br>line two &lt;/details&gt;")
    assert "\\`tick\\`" in workflow and "\\*star\\*" in workflow and "&amp; back\\\\slash" in workflow
    assert "\n" not in row
    drift_row = next(r for r in table_rows(md) if r.startswith("| `voice.gone-0`"))
    assert len(cells(drift_row)) == 3
    blocked = next(line for line in above_fold(md).splitlines() if line.startswith("- `max_deletes`"))
    assert "\\|" in blocked and "<br>" in blocked and "</details>" not in blocked


def test_a_huge_cell_is_cut() -> None:
    plan = big_plan(1)
    plan = Plan(plan.changes, (), plan.quota, (), (Drift("voice.x", Reason.REVIEW_FAILED, "x" * 100_000),), FINGERPRINT)
    md = render_markdown(plan)
    assert len(md) < 5_000 and "x…" in md and "trimmed" not in md


def test_no_changes() -> None:
    plan = Plan((), (), Quota(30, 3, 3, 3), (), (), FINGERPRINT)
    md = render_markdown(plan)
    assert "**No changes. Quota: 3 of 30.**" in md and "<details>" not in md


# -- apply report --------------------------------------------------------------------------------------


def big_report(n: int = 1000) -> ApplyReport:
    report = ApplyReport()
    for i in range(n):
        report.done.append((f"voice.v{i}", f"created cosyvoice-v2-acme-{i:032x}"))
    for i in range(40):
        report.failed.append((f"voice.f{i}", f"review failed | {NASTY} " + "y" * 400))
    report.not_attempted += [(f"binding.a{i}.tts", "its voice failed") for i in range(30)]
    report.pending_review += [f"voice.p{i}" for i in range(10)]
    return report


def test_apply_report_of_a_thousand_steps_is_trimmed_done_first() -> None:
    plan, report = big_plan(), big_report()
    md = render_report_markdown(report, plan)
    assert len(md) <= MARKDOWN_LIMIT and md.startswith(REPORT_MARKER)
    head = above_fold(md)
    assert (
        f"**❌ {summary_of(report)}**" in head and "Apply incomplete: 1000 done, 40 failed, 30 not attempted." in head
    )
    assert "_10 voices are still under review" in head
    assert re.search(r"_Showing \d+ of 1080 rows: the rest were trimmed", head)
    # Failures, not-attempted and under-review rows are all kept; only "Done" was trimmed.
    assert sum(r.startswith("| `voice.f") for r in table_rows(md)) == 40
    assert sum(r.startswith("| `binding.a") for r in table_rows(md)) == 30
    assert sum(r.startswith("| `voice.p") for r in table_rows(md)) == 10
    assert 0 <= sum(r.startswith("| `voice.v") for r in table_rows(md)) < 1000
    assert "<details open><summary>Failed (40)</summary>" in md and "<summary>Done (1000)</summary>" in md
    assert all(len(cells(r)) == 2 for r in table_rows(md))


def test_apply_report_trims_failures_too_when_they_alone_are_too_long() -> None:
    report = ApplyReport(failed=[(f"voice.f{i}", "z" * 290) for i in range(1000)])
    md = render_report_markdown(report, big_plan(10))
    assert len(md) <= MARKDOWN_LIMIT and "Apply incomplete: 0 done, 1000 failed" in md
    assert re.search(r"\| … \| \d+ more not shown \|", md)
