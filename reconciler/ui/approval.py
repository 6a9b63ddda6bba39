"""Why an apply refused its approval: the change set that differs from the approved one, by address, and the
inputs that moved. The data comes from `reconciler.plan.approval`; this is only how it reads."""

from __future__ import annotations

from typing import Any

from reconciler.plan.approval import ChangeSetDiff, Entry, short_identity


def render_changes_refusal(
    approved_digest: str, fresh_digest: str, diff: ChangeSetDiff | None, moved: list[str]
) -> str:
    """`apply --expect-changes` refused. `diff` is None when only the approved digest is known (no
    --approved-plan), so the difference cannot be itemized."""
    lines = [
        "the planned changes differ from the approved ones, so nothing was applied "
        f"(approved {short_identity(approved_digest)}, planned now {short_identity(fresh_digest)})."
    ]
    if diff is None:
        lines.append(
            "Only the approved digest is known here: pass the approved plan with --approved-plan FILE to see the "
            "difference by address. The plan as it stands now is above."
        )
    else:
        lines += render_diff(diff)
    if moved:
        lines.append("Inputs that moved since the approved plan:")
        lines += [f"  * {m}" for m in moved]
    lines.append(
        "To apply what is planned now, review it and approve its digest: "
        f"voicectl apply --expect-changes {fresh_digest}"
    )
    return "\n".join(lines)


def render_stale_refusal(expected: str, fresh: str, moved: list[str] | None) -> str:
    """A saved plan (or --expect-fingerprint) refused because an input moved. `moved` is None when the
    approved inputs are unknown (a bare fingerprint)."""
    head = f"plan is stale: it was made from other inputs (expected {expected}, now {fresh})."
    if moved is None:
        what = ["What changed: voices.yaml, an audio file, the state or the account."]
    elif moved:
        what = ["What changed since the plan was made:", *[f"  * {m}" for m in moved]]
    else:
        what = ["The plan file names no input that moved (it was written by an older voicectl)."]
    return "\n".join([head, *what, "Run `voicectl plan` again, review it, and apply the new plan."])


def render_diff(diff: ChangeSetDiff) -> list[str]:
    lines: list[str] = []
    if diff.only_approved:
        lines.append("Approved, but no longer planned:")
        lines += [f"  - {_entry_line(e)}" for e in diff.only_approved]
    if diff.only_fresh:
        lines.append("Planned now, but never approved:")
        lines += [f"  + {_entry_line(e)}" for e in diff.only_fresh]
    if diff.differ:
        lines.append("Planned differently from what was approved:")
        lines += [f"  ~ {old['address']}: {_fields_changed(old, new)}" for old, new in diff.differ]
    return lines


def _entry_line(entry: Entry) -> str:
    detail = ["/".join(entry["actions"])]
    for key in ("model", "voice", "acts_on", "adopts"):
        if entry.get(key):
            detail.append(f"{key} {entry[key]}")
    return f"{entry['address']} ({', '.join(detail)})"


def _fields_changed(old: Entry, new: Entry) -> str:
    parts = []
    for key in sorted(old.keys() | new.keys()):
        if key != "address" and old.get(key) != new.get(key):
            parts.append(f"{key} {_show(old.get(key))} -> {_show(new.get(key))}")
    return "; ".join(parts)


def _show(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, list):
        return "/".join(str(v) for v in value) or "[]"
    text = str(value)
    return short_identity(text) if text.startswith(("sha256:", "url:")) and len(text) > 24 else text
