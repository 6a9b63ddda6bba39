"""Markdown views: the plan as a PR comment and the apply report as a job summary.

Reviewers read these on GitHub, where a comment holds at most 65,536 characters: the summary, quota and guard
verdict stay above the fold and are never trimmed; table rows are trimmed (with a note saying so) until the
whole text fits `limit`. Head items and cells are capped too, so no single huge error message or a thousand
blocked voices can push the summary out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reconciler.apply.report import ApplyReport
from reconciler.plan.changes import Action, BindingState, Change, Kind
from reconciler.plan.plan import Blocked, Plan
from reconciler.ui.summary import plan_summary, plural, report_summary
from reconciler.ui.text import short_identity

MARKER = "<!-- voicectl-plan -->"
REPORT_MARKER = "<!-- voicectl-apply -->"
# A hidden line with the fingerprint of every input (kept for pipelines that pin a plan to its inputs).
FINGERPRINT_COMMENT = "<!-- voicectl-fingerprint: {} -->"
# The change digest a reviewer approves (apply-on-merge passes it as --expect-changes; .github/scripts/approval.js).
CHANGES_COMMENT = "<!-- voicectl-changes: {} -->"
MARKDOWN_LIMIT = 60_000

_TABLES: tuple[tuple[str, Callable[[Change], bool]], ...] = (
    ("Create", lambda c: c.kind == Kind.VOICE and c.action == Action.CREATE and not c.state_only),
    ("Update in place", lambda c: c.kind == Kind.VOICE and c.action == Action.UPDATE),
    ("Replace", lambda c: c.kind == Kind.VOICE and c.action == Action.REPLACE),
    ("Delete", lambda c: c.kind == Kind.VOICE and c.action == Action.DELETE and not c.state_only),
    ("Bindings", lambda c: c.kind == Kind.BINDING and not c.state_only and c.action != Action.NOOP),
    ("State only", lambda c: c.state_only),
)
_VOICE_HEADER = "| voice | model | audio sha256 | bindings | reason |"
_BINDING_HEADER = "| binding | workflow | voice | model | reason |"
_DRIFT_HEADER = "| address | reason | detail |"
_CELL_MAX = 300  # characters of one cell before "…"
_HEAD_ITEMS_MAX = 20  # guard verdicts (and notes) listed above the fold
_HEAD_ITEM_MAX = 500  # characters of one of them


def _cell(value: Any, limit: int = _CELL_MAX) -> str:
    """One table cell: `|` and markdown/HTML specials escaped, line breaks kept as `<br>`, long text cut."""
    text = "-" if value is None or value == "" else str(value)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    # The backslash first, so the escapes added after it are not themselves escaped. `<`/`>` as entities
    # keep a `</details>` inside a message from closing the fold.
    for raw, escaped in (("\\", "\\\\"), ("|", "\\|"), ("`", "\\`"), ("*", "\\*"), ("&", "&amp;")):
        text = text.replace(raw, escaped)
    text = text.replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("\n", "<br>")


def _code(value: Any) -> str:
    """A cell shown as code (names, hashes). Inside a code span only `|` needs escaping in a GFM table; a
    value that holds a backtick or a line break cannot be a code span and is shown as plain text."""
    text = "-" if value is None or value == "" else str(value)
    if "`" in text or "\n" in text or "\r" in text or len(text) > _CELL_MAX:
        return _cell(text)
    escaped = text.replace("|", "\\|")
    return f"`{escaped}`"


def _bindings_by_voice(plan: Plan) -> dict[str, list[str]]:
    by_voice: dict[str, list[str]] = {}
    for c in plan.changes:
        if isinstance(c.after, BindingState) and c.after.voice:
            by_voice.setdefault(c.after.voice, []).append(c.name)
    return by_voice


def _field(record: object, name: str) -> Any:
    return getattr(record, name, None) if record is not None else None


def _changed(change: Change, name: str, show: Callable[[Any], str] = str) -> str | None:
    """A cell for a field that may change: `old → new` when it does, else the value it has."""
    old, new = _field(change.before, name), _field(change.after, name)
    if old and new and old != new:
        return f"{show(old)} → {show(new)}"
    value = new or old
    return show(value) if value else None


def _voice_row(change: Change, bound: dict[str, list[str]]) -> str:
    model = _changed(change, "model")
    audio = _changed(change, "audio", short_identity) or short_identity(None)
    bindings = bound.get(change.name, []) + list(change.affected_bindings)
    reason = change.reason + (f" ({change.order.replace('_', ' ')})" if change.order else "")
    if change.moved_from:
        reason += f", moved from {change.moved_from}"
    return (
        f"| {_code(change.name)} | {_cell(model)} | {_code(audio)} | {_cell(', '.join(bindings))} | {_cell(reason)} |"
    )


def _binding_row(change: Change) -> str:
    before, after = change.before, change.after
    old = _field(before, "voice") or _field(before, "voice_id") or "console default"
    new = _field(after, "voice") or "console default"
    workflow = _field(after, "workflow") or _field(before, "workflow")
    model = _field(after, "model") or _field(before, "model")
    return (
        f"| {_code(change.name)} | {_cell(workflow)} | {_cell(old)} → "
        f"{_cell(new)} | {_cell(model)} | {_cell(change.reason)} |"
    )


def _plan_tables(plan: Plan) -> list[tuple[str, str, list[str]]]:
    """(title, header, rows) per kind of change, rendered once; trimming only chooses how many rows show."""
    bound = _bindings_by_voice(plan)
    tables = []
    for title, wanted in _TABLES:
        changes = [c for c in plan.pending if wanted(c)]
        if changes:
            header = _BINDING_HEADER if title == "Bindings" else _VOICE_HEADER
            rows = [_binding_row(c) if c.kind == Kind.BINDING else _voice_row(c, bound) for c in changes]
            tables.append((title, header, rows))
    return tables


def _table(title: str, header: str, rows: list[str], cap: int | None, level: str = "####") -> list[str]:
    shown = rows if cap is None else rows[:cap]
    lines = [f"{level} {title} ({len(rows)})", "", header, "|" + "---|" * header.count(" | ") + "---|", *shown]
    if len(shown) < len(rows):
        lines.append(f"| … | {len(rows) - len(shown)} more not shown |" + " |" * (header.count(" | ") - 1))
    return [*lines, ""]


def _blocked_items(blocked: tuple[Blocked, ...]) -> list[str]:
    lines = [f"- `{b.guard}`: {_cell(b.message, _HEAD_ITEM_MAX)}" for b in blocked[:_HEAD_ITEMS_MAX]]
    if len(blocked) > _HEAD_ITEMS_MAX:
        lines.append(f"- … and {len(blocked) - _HEAD_ITEMS_MAX} more (see `voicectl show PLANFILE`)")
    return [*lines, ""]  # the blank line ends the list: the next line must not join its last item


def _largest_fitting_cap(compose: Callable[[int | None], str], most: int, limit: int) -> str:
    """The text with the most rows per table that fits `limit` (binary search: `compose` is monotonic)."""
    full = compose(None)
    if len(full) <= limit:
        return full
    lo, hi = 0, most  # compose(lo) is the fallback even if it does not fit
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if len(compose(mid)) <= limit:
            lo = mid
        else:
            hi = mid - 1
    return compose(lo)


def _attention_items(plan: Plan, most: int = 10) -> list[str]:
    """Above the fold: declared voices that cannot be used need a person whatever the plan does."""
    if not plan.attention:
        return []
    n = len(plan.attention)
    lines = [f"**⚠️ {plural(n, 'declared voice cannot', 'declared voices cannot')} be used:**"]
    lines += [
        f"- {_code(d.address)}: {_cell(d.detail, _HEAD_ITEM_MAX)}. Fix: {_cell(d.fix, _HEAD_ITEM_MAX)}"
        for d in plan.attention[:most]
    ]
    if n > most:
        lines.append(f"- … and {n - most} more (see Drift below)")
    return [*lines, ""]


def render_markdown(plan: Plan, *, limit: int = MARKDOWN_LIMIT, title: str = "voicectl plan") -> str:
    """A PR comment: marker, summary, quota and guard verdict outside the fold; one table per kind of change
    and the drift inside. Always at most `limit` characters: rows are trimmed, never the summary."""
    q = plan.quota
    head = [
        MARKER,
        FINGERPRINT_COMMENT.format(plan.fingerprint),
        CHANGES_COMMENT.format(plan.changes_digest),
        f"### {title}",
        "",
        f"**{plan_summary(plan)}**",
        "",
    ]
    over = " ⛔ over the quota" if q.exceeded else ""
    head.append(f"**Quota:** {q.before} → {q.after} of {q.limit} (peak {q.peak}){over}  ")
    if plan.blocked:
        head.append("**Guards:** ⛔ blocked: apply would refuse this plan")
        head += _blocked_items(plan.blocked)
    else:
        head.append("**Guards:** ✅ pass  ")
    head += _attention_items(plan)
    if plan.drift:
        head.append(f"**Drift:** {plural(len(plan.drift), 'finding')} (see below)  ")
    head += [f"**Change digest:** `{plan.changes_digest}`  ", f"**Fingerprint:** `{plan.fingerprint}`", ""]
    notes = [f"> {_cell(n, _HEAD_ITEM_MAX)}" for n in plan.notes[:5]]
    tail = [*notes, ""] if notes else []

    tables = _plan_tables(plan)
    drift_rows = [f"| {_code(d.address)} | {_cell(d.reason)} | {_cell(d.detail)} |" for d in plan.drift]
    total = sum(len(rows) for _, _, rows in tables) + len(drift_rows)

    def compose(cap: int | None) -> str:
        lines = list(head)
        shown = total if cap is None else sum(min(len(r), cap) for _, _, r in tables) + min(len(drift_rows), cap)
        if shown < total:
            lines += [
                f"_Showing {shown} of {total} rows: the rest were trimmed to keep this comment under {limit:,} "
                "characters. `voicectl show PLANFILE` prints all of them (the plan file is attached to the run)._",
                "",
            ]
        if tables:
            lines += [f"<details><summary>Changes ({len(plan.pending)})</summary>", ""]
            for t, header, rows in tables:
                lines += _table(t, header, rows, cap)
            lines += ["</details>", ""]
        if drift_rows:
            lines += ["<details><summary>Drift: changes made outside voicectl</summary>", ""]
            lines += _table("Drift", _DRIFT_HEADER, drift_rows, cap)
            lines += ["</details>", ""]
        return "\n".join(lines + tail)

    most = max([len(rows) for _, _, rows in tables] + [len(drift_rows), 0])
    text = _largest_fitting_cap(compose, most, limit)
    if len(text) > limit:  # only with an absurdly small limit: keep the summary, drop the rest
        text = "\n".join(head[:7])[:limit]
    return text


def render_report_markdown(report: ApplyReport, plan: Plan, *, limit: int = MARKDOWN_LIMIT) -> str:
    """The apply report for the step summary: outcome above the fold; failures first and open, then what
    is left under review, then what was done. Rows of "Done" are trimmed first, failures last."""
    icon = "✅" if report.ok else "❌"
    head = [
        REPORT_MARKER,
        "### voicectl apply",
        "",
        f"**{icon} {report_summary(report)}**",
        "",
        f"**Plan:** {plan_summary(plan).removeprefix('Plan: ')}  ",
        f"**Fingerprint:** `{plan.fingerprint}`",
        "",
    ]
    if report.pending_review:
        waiting = plural(len(report.pending_review), "voice is", "voices are")
        head += [f"_{waiting} still under review: rerun apply to wait and bind them._", ""]
    urgent = [
        ("Failed", [f"| {_code(a)} | {_cell(e)} |" for a, e in report.failed]),
        ("Not attempted", [f"| {_code(a)} | {_cell(r)} |" for a, r in report.not_attempted]),
        (
            "Under review",
            [f"| {_code(a)} | rerun apply to wait for the review and bind it |" for a in report.pending_review]
            + [f"| {_code(a)} | {_cell(r)} |" for a, r in report.deferred],
        ),
        ("Warnings", [f"| {_code(a)} | {_cell(w)} |" for a, w in report.warnings]),
    ]
    done = [f"| {_code(a)} | {_cell(r)} |" for a, r in report.done]
    total = sum(len(rows) for _, rows in urgent) + len(done)

    def compose(urgent_cap: int | None, done_cap: int | None) -> str:
        lines = list(head)
        shown = sum(len(r) if urgent_cap is None else min(len(r), urgent_cap) for _, r in urgent)
        shown += len(done) if done_cap is None else min(len(done), done_cap)
        if shown < total:
            lines += [
                f"_Showing {shown} of {total} rows: the rest were trimmed to stay under {limit:,} characters._",
                "",
            ]
        for title, rows in [*urgent, ("Done", done)]:
            if not rows:
                continue
            cap = done_cap if title == "Done" else urgent_cap
            lines += [f"<details{'' if title == 'Done' else ' open'}><summary>{title} ({len(rows)})</summary>", ""]
            lines += _table(title, "| address | detail |", rows, cap)[2:]  # the summary already names it
            lines += ["</details>", ""]
        return "\n".join(lines)

    text = _largest_fitting_cap(lambda cap: compose(None, cap), len(done), limit)
    if len(text) > limit:
        most = max(len(rows) for _, rows in urgent)
        text = _largest_fitting_cap(lambda cap: compose(cap, 0), most, limit)
    if len(text) > limit:
        text = "\n".join(head[:5])[:limit]
    return text
