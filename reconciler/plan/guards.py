"""Safety guards on destructive changes, octoDNS style: a plan that trips one is blocked (exit 3) and
apply refuses it. `--allow-delete NAME` lifts every guard for that one voice and for no other."""

from __future__ import annotations

from typing import TYPE_CHECKING

from reconciler.model import Desired, StateDoc
from reconciler.plan.plan import Blocked, Change

if TYPE_CHECKING:
    from reconciler.plan.planner import PlanOptions


def destructive(changes: list[Change]) -> list[Change]:
    """Deletes and replacements of voices that exist in the account (state-only forgets are not)."""
    return [c for c in changes if c.kind == "voice" and not c.state_only and c.action in ("delete", "replace")]


def _allowed(change: Change, allow: set[str]) -> bool:
    voice_id = (change.before or {}).get("voice_id")
    return change.name in allow or change.address in allow or (voice_id is not None and voice_id in allow)


def _protected(change: Change, desired: Desired, state: StateDoc) -> bool:
    voice = desired.voice(change.name)
    record = state.voices.get(change.name) or (state.voices.get(change.moved_from) if change.moved_from else None)
    return bool((voice and voice.protect) or (record and record.protect))


def check_guards(changes: list[Change], desired: Desired, state: StateDoc, options: PlanOptions) -> list[Blocked]:
    allow = set(options.allow_delete)
    guards = desired.account.guards
    doomed = destructive(changes)
    counted = [c for c in doomed if not _allowed(c, allow)]
    blocked: list[Blocked] = []
    for c in counted:
        if _protected(c, desired, state):
            blocked.append(
                Blocked(
                    "protect",
                    f"{c.address} is protected (protect: true) and this plan would {c.action} it ({c.reason}); "
                    f"pass --allow-delete {c.name} if you mean it",
                    (c.address,),
                )
            )
    names = ", ".join(c.name for c in counted)
    flags = " ".join(f"--allow-delete {c.name}" for c in counted)
    if len(counted) > guards.max_deletes:
        blocked.append(
            Blocked(
                "max_deletes",
                f"{len(counted)} deletes and replacements ({names}) exceed guards.max_deletes = "
                f"{guards.max_deletes}: raise the guard in voices.yaml, or pass {flags}",
                tuple(c.address for c in counted),
            )
        )
    managed = len(state.voices)
    if counted and len(counted) > guards.max_delete_fraction * max(managed, 1):
        blocked.append(
            Blocked(
                "max_delete_fraction",
                f"{len(counted)} deletes and replacements of {managed} managed voice{'s' if managed != 1 else ''} "
                f"exceed guards.max_delete_fraction = {guards.max_delete_fraction:g}: raise the guard in "
                f"voices.yaml, or pass {flags}",
                tuple(c.address for c in counted),
            )
        )
    # Only deletes of the voice a name has now: the old half of a replacement shares its name's address.
    deleted = {
        c.name
        for c in changes
        if c.kind == "voice"
        and c.action == "delete"
        and not c.state_only
        and c.name in state.voices
        and (c.before or {}).get("voice_id") == state.voices[c.name].voice_id
    }
    if state.voices and set(state.voices) <= deleted and any(n not in allow for n in state.voices):
        blocked.append(
            Blocked(
                "empty_config",
                f"this plan deletes every managed voice ({', '.join(sorted(state.voices))}): voices.yaml declares "
                "none of them. If that is what you mean, pass --allow-delete for each",
                tuple(f"voice.{n}" for n in sorted(state.voices)),
            )
        )
    return blocked
