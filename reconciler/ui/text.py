"""Text views, in Terraform's shape: a plan (one block per change with its symbol and reason, drift, guard
verdicts, the summary line), an apply report, and the one line format of a validation problem.

Views return rich `Text` with styles; whether styles become colour is the console's choice (`console.py`).
"""

from __future__ import annotations

from typing import Any

from rich.text import Text

from reconciler.apply.report import ApplyReport
from reconciler.errors import Problem
from reconciler.plan.changes import Action, BindingState, Change, Order, VoiceAfter, VoiceBefore
from reconciler.plan.plan import Plan
from reconciler.ui.summary import plan_summary, report_summary

_SYMBOLS = {
    Action.CREATE: "+",
    Action.UPDATE: "~",
    Action.DELETE: "-",
    Action.BIND: "+",
    Action.REBIND: "~",
    Action.UNBIND: "-",
    Action.NOOP: " ",
}
_STYLES = {"+": "green", "~": "yellow", "-": "red", "+/-": "yellow", "-/+": "red", "=": "cyan"}
_VERBS = {
    Action.CREATE: "will be created",
    Action.UPDATE: "will be updated in-place",
    Action.DELETE: "will be deleted",
    Action.BIND: "will be bound",
    Action.REBIND: "will be rebound",
    Action.UNBIND: "will be unbound",
}
_STATE_VERBS = {
    Action.CREATE: "will be adopted into state (no new clone)",
    Action.DELETE: "will be removed from state (already gone from the account)",
    Action.UNBIND: "will be removed from state (the node has no voice set)",
}


def symbol(change: Change) -> str:
    if change.state_only:
        return "="
    if change.action == Action.REPLACE:
        return "+/-" if change.order == Order.CREATE_BEFORE_DESTROY else "-/+"
    return _SYMBOLS.get(change.action, "?")


def describe(change: Change) -> str:
    """The comment line of a change: what happens and why."""
    if change.state_only:
        what = _STATE_VERBS.get(change.action, "will be recorded in state")
        if change.moved_from:
            what = f"has moved from voice.{change.moved_from}"
    elif change.action == Action.REPLACE:
        order = "create before destroy" if change.order == Order.CREATE_BEFORE_DESTROY else "destroy before create"
        what = f"must be replaced ({order})"
    else:
        what = _VERBS.get(change.action, change.action)
    return f"# {change.address} {what} ({change.reason})"


def short_identity(identity: Any) -> str:
    """An audio identity short enough for a table or a plan line."""
    text = str(identity or "-")
    if text.startswith("sha256:"):
        return text[:19] + "…"
    return text


def _voice_details(change: Change, before: VoiceBefore | None, after: VoiceAfter | None) -> list[str]:
    lines: list[str] = []
    if before is not None:
        lines.append(f"voice_id: {before.voice_id}")
    elif change.adopt_voice_id:
        lines.append(f"voice_id: {change.adopt_voice_id}")
    changes_it = change.action in (Action.UPDATE, Action.REPLACE)
    for key in ("model", "audio"):
        old = getattr(before, key) if before else None
        new = getattr(after, key) if after else None
        if changes_it and old is not None and old != new:
            forces = "  # forces replacement" if key in change.forced_by else ""
            lines.append(f"{key}: {short_identity(old)} -> {short_identity(new)}{forces}")
        elif new is not None and change.action in (Action.CREATE, Action.REPLACE):
            ref = f" ({after.audio_ref})" if key == "audio" and after else ""
            lines.append(f"{key}: {short_identity(new)}{ref}")
        elif old is not None and change.action == Action.DELETE:
            lines.append(f"{key}: {short_identity(old)}")
    if change.action == Action.REPLACE and after is not None:
        lines += _forced_lines(change, before, after)
    if before is not None and before.status:
        lines.append(f"status: {before.status}")
    return lines


def _forced_lines(change: Change, before: VoiceBefore | None, after: VoiceAfter) -> list[str]:
    """The create-time options that force a replacement, as Terraform marks them (model and audio are shown
    above; their mark is added there)."""
    lines = []
    for name in change.forced_by:
        if name in ("model", "audio"):
            continue
        if name == "language":
            old, new = (before.language if before else None), after.language
        else:
            old, new = (before.options or {}).get(name) if before else None, after.options.get(name)
        lines.append(f"{name}: {old!r} -> {new!r}  # forces replacement")
    return lines


def _binding_details(change: Change, before: BindingState | None, after: BindingState | None) -> list[str]:
    lines: list[str] = []
    old = (before.voice or before.voice_id) if before else None
    if change.action == Action.UNBIND:
        lines.append(f"voice: {old} -> (workflow's console default)")
    elif after is not None:
        lines.append(f"voice: {old or '(console default)'} -> {after.voice} {after.voice_id or '(known after apply)'}")
    if after is not None and after.workflow:
        lines.append(f"workflow: {after.workflow}")
    if after is not None and after.instances:
        lines.append(f"instances: {', '.join(after.instances)}")
    return lines


def details(change: Change) -> list[str]:
    before, after = change.before, change.after
    if isinstance(before, BindingState) or isinstance(after, BindingState):
        lines = _binding_details(
            change,
            before if isinstance(before, BindingState) else None,
            after if isinstance(after, BindingState) else None,
        )
    else:
        lines = _voice_details(
            change,
            before if isinstance(before, VoiceBefore) else None,
            after if isinstance(after, VoiceAfter) else None,
        )
    return lines + list(change.notes)


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
        for line in details(change):
            out.append(f"      {line}\n")
        out.append("\n")
    _append_drift(out, plan)
    for note in plan.notes:
        out.append(f"Note: {note}\n", style="dim")
    if plan.notes:
        out.append("\n")
    if plan.blocked:
        out.append("Blocked: apply would refuse this plan:\n", style="bold red")
        for b in plan.blocked:
            out.append(f"  - [{b.guard}] {b.message}\n", style="red")
        out.append("\n")
    out.append(plan_summary(plan) + "\n", style="bold")
    return out


def _append_drift(out: Text, plan: Plan) -> None:
    """Drift findings, then the declared voices that cannot be used, each with its fix."""
    if plan.drift:
        out.append("Drift (changes made outside voicectl):\n", style="bold")
        for d in plan.drift:
            out.append(f"  ! {d.address}: {d.reason}: {d.detail}\n", style="magenta")
        out.append("\n")
    if plan.attention:
        out.append("Declared voices that cannot be used (they need you):\n", style="bold red")
        for d in plan.attention:
            out.append(f"  ! {d.address}: {d.detail}\n", style="red")
            out.append(f"    fix: {d.fix}\n")
        out.append("\n")


def render_report_text(report: ApplyReport) -> Text:
    out = Text()
    for address, error in report.failed:
        out.append(f"Error: {address}: {error}\n", style="red")
    for address, why in report.not_attempted:
        out.append(f"Not attempted: {address}: {why}\n", style="yellow")
    for address in report.pending_review:
        out.append(f"Under review: {address} (rerun apply to wait for it and bind it)\n", style="yellow")
    for address, why in report.deferred:
        out.append(f"Waiting for review: {address}: {why}\n", style="yellow")
    for address, warning in report.warnings:
        out.append(f"Warning: {address}: {warning}\n", style="yellow")
    out.append(report_summary(report) + "\n", style="bold green" if report.ok else "bold red")
    return out


def problem_line(problem: Problem, severity: str) -> Text:
    """`file:line:column: error: message` (or `warning:`), the one format every command uses for problems."""
    out = Text(f"{problem.where()}: ")
    out.append(f"{severity}:", style="red" if severity == "error" else "yellow")
    out.append(f" {problem.message}")
    return out
