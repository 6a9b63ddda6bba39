"""Views of a plan (text, markdown, json) and of an apply report. Rendering only: no decisions here.

Text follows Terraform's shape: one block per change with its symbol and reason, drift, guard verdicts, and
the one summary line at the end. Colour is added by the CLI's console only on a terminal.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text

from reconciler.executor import ApplyReport
from reconciler.plan import CREATE_BEFORE_DESTROY, Change, Plan

MARKER = "<!-- voicectl-plan -->"
REPORT_MARKER = "<!-- voicectl-apply -->"
MARKDOWN_LIMIT = 60_000

_SYMBOLS = {"create": "+", "update": "~", "delete": "-", "bind": "+", "rebind": "~", "unbind": "-", "no-op": " "}
_STYLES = {"+": "green", "~": "yellow", "-": "red", "+/-": "yellow", "-/+": "red", "=": "cyan"}
_VERBS = {
    "create": "will be created",
    "update": "will be updated in-place",
    "delete": "will be deleted",
    "bind": "will be bound",
    "rebind": "will be rebound",
    "unbind": "will be unbound",
}


def symbol(change: Change) -> str:
    if change.state_only:
        return "="
    if change.action == "replace":
        return "+/-" if change.order == CREATE_BEFORE_DESTROY else "-/+"
    return _SYMBOLS.get(change.action, "?")


def describe(change: Change) -> str:
    """The comment line of a change: what happens and why."""
    if change.state_only:
        what = {
            "create": "will be adopted into state (no new clone)",
            "delete": "will be removed from state (already gone from the account)",
            "unbind": "will be removed from state (the node has no voice set)",
        }.get(change.action, "will be recorded in state")
        if change.moved_from:
            what = f"has moved from voice.{change.moved_from}"
    elif change.action == "replace":
        order = "create before destroy" if change.order == CREATE_BEFORE_DESTROY else "destroy before create"
        what = f"must be replaced ({order})"
    else:
        what = _VERBS.get(change.action, change.action)
    return f"# {change.address} {what} ({change.reason})"


def _short(identity: Any) -> str:
    text = str(identity or "-")
    if text.startswith("sha256:"):
        return text[:19] + "…"
    return text


def _details(change: Change) -> list[str]:
    before, after = change.before or {}, change.after or {}
    lines: list[str] = []
    if change.kind == "voice":
        if before.get("voice_id"):
            lines.append(f"voice_id: {before['voice_id']}")
        elif change.adopt_voice_id:
            lines.append(f"voice_id: {change.adopt_voice_id}")
        for key in ("model", "audio"):
            old, new = before.get(key), after.get(key)
            if change.action in ("update", "replace") and old != new and old is not None:
                lines.append(f"{key}: {_short(old)} -> {_short(new)}")
            elif new is not None and change.action in ("create", "replace"):
                lines.append(f"{key}: {_short(new)}" + (f" ({after['audio_ref']})" if key == "audio" else ""))
            elif old is not None and change.action == "delete":
                lines.append(f"{key}: {_short(old)}")
        if before.get("status"):
            lines.append(f"status: {before['status']}")
    else:
        old = before.get("voice") or before.get("voice_id")
        new_id = after.get("voice_id") or "(known after apply)"
        if change.action == "unbind":
            lines.append(f"voice: {old} -> (workflow's console default)")
        elif after:
            lines.append(f"voice: {old or '(console default)'} -> {after.get('voice')} {new_id}")
        if after.get("workflow"):
            lines.append(f"workflow: {after['workflow']}")
        if after.get("instances"):
            lines.append(f"instances: {', '.join(after['instances'])}")
    lines += list(change.notes)
    return lines


def render_text(plan: Plan) -> Text:
    out = Text()
    pending = plan.pending
    if pending:
        out.append("voicectl will perform the following actions:\n\n")
    for change in pending:
        sym = symbol(change)
        out.append(f"  {describe(change)}\n", style="bold" if not change.state_only else "dim")
        out.append(f"{sym:>3} ", style=_STYLES.get(sym, ""))
        out.append(f"{change.address}\n")
        for line in _details(change):
            out.append(f"      {line}\n")
        out.append("\n")
    if plan.drift:
        out.append("Drift (changes made outside voicectl):\n", style="bold")
        for d in plan.drift:
            out.append(f"  ! {d.address}: {d.reason}: {d.detail}\n", style="magenta")
        out.append("\n")
    for note in plan.notes:
        out.append(f"Note: {note}\n", style="dim")
    if plan.notes:
        out.append("\n")
    if plan.blocked:
        out.append("Blocked: apply would refuse this plan:\n", style="bold red")
        for b in plan.blocked:
            out.append(f"  - [{b.guard}] {b.message}\n", style="red")
        out.append("\n")
    out.append(plan.summary() + "\n", style="bold")
    return out


# --------------------------------------------------------------------------------------------------
# Markdown (PR comment)
# --------------------------------------------------------------------------------------------------

_TABLES = (
    ("Create", lambda c: c.kind == "voice" and c.action == "create" and not c.state_only),
    ("Update in place", lambda c: c.kind == "voice" and c.action == "update"),
    ("Replace", lambda c: c.kind == "voice" and c.action == "replace"),
    ("Delete", lambda c: c.kind == "voice" and c.action == "delete" and not c.state_only),
    ("Bindings", lambda c: c.kind == "binding" and not c.state_only and c.action != "no-op"),
    ("State only", lambda c: c.state_only),
)


def _cell(value: Any) -> str:
    return str(value if value not in (None, "") else "-").replace("|", "\\|").replace("\n", " ")


def _voice_row(change: Change, plan: Plan) -> str:
    before, after = change.before or {}, change.after or {}
    model = after.get("model") or before.get("model")
    if before.get("model") and after.get("model") and before["model"] != after["model"]:
        model = f"{before['model']} → {after['model']}"
    audio = _short(after.get("audio") or before.get("audio"))
    if before.get("audio") and after.get("audio") and before["audio"] != after["audio"]:
        audio = f"{_short(before['audio'])} → {_short(after['audio'])}"
    bindings = [
        c.name for c in plan.changes if c.kind == "binding" and (c.after or {}).get("voice") == change.name
    ] + list(change.affected_bindings)
    reason = change.reason + (f" ({change.order.replace('_', ' ')})" if change.order else "")
    return (
        f"| `{_cell(change.name)}` | {_cell(model)} | `{_cell(audio)}` | {_cell(', '.join(bindings))} | "
        f"{_cell(reason)} |"
    )


def _binding_row(change: Change) -> str:
    before, after = change.before or {}, change.after or {}
    old = before.get("voice") or before.get("voice_id") or "console default"
    new = after.get("voice") or "console default"
    return (
        f"| `{_cell(change.name)}` | {_cell(after.get('workflow') or before.get('workflow'))} | {_cell(old)} → "
        f"{_cell(new)} | {_cell(after.get('model') or before.get('model'))} | {_cell(change.reason)} |"
    )


def _tables(plan: Plan, cap: int | None) -> tuple[list[str], int]:
    lines: list[str] = []
    trimmed = 0
    for title, wanted in _TABLES:
        rows = [c for c in plan.pending if wanted(c)]
        if not rows:
            continue
        lines.append(f"#### {title} ({len(rows)})\n")
        if title == "Bindings":
            lines.append("| binding | workflow | voice | model | reason |")
        else:
            lines.append("| voice | model | audio sha256 | bindings | reason |")
        lines.append("|---|---|---|---|---|")
        shown = rows if cap is None else rows[:cap]
        lines += [_binding_row(c) if c.kind == "binding" else _voice_row(c, plan) for c in shown]
        if len(shown) < len(rows):
            trimmed += len(rows) - len(shown)
            lines.append(f"| … | {len(rows) - len(shown)} more not shown | | | |")
        lines.append("")
    return lines, trimmed


def render_markdown(plan: Plan, *, limit: int = MARKDOWN_LIMIT, title: str = "voicectl plan") -> str:
    """A PR comment: marker, summary, quota and guard verdict outside the fold; tables inside. Always under
    `limit` characters: table rows are trimmed first, then drift details; the summary never is."""
    q = plan.quota
    head = [MARKER, f"### {title}", "", f"**{plan.summary()}**", ""]
    head.append(f"**Quota:** {q.before} → {q.after} of {q.limit} (peak {q.peak})  ")
    if plan.blocked:
        head.append("**Guards:** ⛔ blocked: apply would refuse this plan")
        head += [f"- `{b.guard}`: {_cell(b.message)}" for b in plan.blocked]
    else:
        head.append("**Guards:** ✅ pass")
    if plan.drift:
        head.append(f"**Drift:** {len(plan.drift)} finding{'s' if len(plan.drift) != 1 else ''} (see below)")
    head.append("")
    head.append(f"Fingerprint: `{plan.fingerprint}`")
    head.append("")
    head_text = "\n".join(head)
    for cap in (None, 200, 100, 50, 20, 10, 5, 2, 0):
        for drift_cap in (None, 50, 10, 0):
            body = _markdown_body(plan, cap, drift_cap)
            text = head_text + body
            if len(text) <= limit:
                return text
    return head_text[:limit]


def _markdown_body(plan: Plan, cap: int | None, drift_cap: int | None) -> str:
    lines: list[str] = []
    tables, trimmed = _tables(plan, cap)
    if tables:
        lines += ["<details><summary>Changes</summary>", ""]
        if trimmed:
            lines += [
                f"_{trimmed} rows trimmed to keep this comment under the size limit; run "
                "`voicectl show PLANFILE` for all of them._",
                "",
            ]
        lines += [*tables, "</details>", ""]
    if plan.drift:
        lines += ["<details><summary>Drift</summary>", "", "| address | reason | detail |", "|---|---|---|"]
        shown = plan.drift if drift_cap is None else plan.drift[:drift_cap]
        lines += [f"| `{_cell(d.address)}` | {_cell(d.reason)} | {_cell(d.detail)} |" for d in shown]
        if len(shown) < len(plan.drift):
            lines.append(f"| … | {len(plan.drift) - len(shown)} more | |")
        lines += ["", "</details>", ""]
    if plan.notes:
        lines += [f"> {_cell(n)}" for n in plan.notes] + [""]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# Apply report
# --------------------------------------------------------------------------------------------------


def render_report_text(report: ApplyReport) -> Text:
    out = Text()
    for address, error in report.failed:
        out.append(f"Error: {address}: {error}\n", style="red")
    for address, why in report.not_attempted:
        out.append(f"Not attempted: {address}: {why}\n", style="yellow")
    for address in report.pending_review:
        out.append(f"Under review: {address} (rerun apply to wait for it and bind it)\n", style="yellow")
    out.append(report.summary() + "\n", style="bold green" if report.ok else "bold red")
    return out


def render_report_markdown(report: ApplyReport, plan: Plan, *, limit: int = MARKDOWN_LIMIT) -> str:
    head = [REPORT_MARKER, "### voicectl apply", "", f"**{report.summary()}**", "", f"Plan: {plan.summary()}", ""]
    sections = [
        ("Failed", [(a, e) for a, e in report.failed]),
        ("Not attempted", [(a, r) for a, r in report.not_attempted]),
        ("Done", [(a, r) for a, r in report.done]),
    ]
    for cap in (None, 100, 20, 5, 0):
        lines = list(head)
        for title, rows in sections:
            if not rows:
                continue
            lines += [f"<details{' open' if title != 'Done' else ''}><summary>{title} ({len(rows)})</summary>", ""]
            lines += ["| address | detail |", "|---|---|"]
            shown = rows if cap is None else rows[:cap]
            lines += [f"| `{_cell(a)}` | {_cell(d)} |" for a, d in shown]
            if len(shown) < len(rows):
                lines.append(f"| … | {len(rows) - len(shown)} more |")
            lines += ["", "</details>", ""]
        text = "\n".join(lines)
        if len(text) <= limit:
            return text
    return "\n".join(head)[:limit]
