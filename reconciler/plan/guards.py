"""Safety guards, octoDNS style: verdicts on a scheduled plan that block it (exit 3) so apply refuses it.

Destructive changes: `max_deletes`, `max_delete_fraction`, `protect` and deleting every managed voice;
`--allow-delete NAME` lifts every one of them for that voice and for no other. And the quota: a plan whose
peak does not fit the account is blocked with what to free.
"""

from __future__ import annotations

from reconciler.model import Desired, LiveSnapshot, StateDoc
from reconciler.naming import voice_address
from reconciler.plan.changes import Action, Change, Kind
from reconciler.plan.plan import Blocked, Guard, PlanOptions, Quota


def destructive(changes: list[Change]) -> list[Change]:
    """Deletes and replacements of voices that exist in the account (state-only forgets are not)."""
    return [
        c for c in changes if c.kind == Kind.VOICE and not c.state_only and c.action in (Action.DELETE, Action.REPLACE)
    ]


def _allowed(change: Change, allow: set[str]) -> bool:
    voice_id = change.old_voice_id
    return change.name in allow or change.address in allow or (voice_id is not None and voice_id in allow)


def _protected(change: Change, desired: Desired, state: StateDoc) -> bool:
    voice = desired.voice(change.name)
    record = state.voices.get(change.name) or (state.voices.get(change.moved_from) if change.moved_from else None)
    return bool((voice and voice.protect) or (record and record.protect))


def check_guards(changes: list[Change], desired: Desired, state: StateDoc, options: PlanOptions) -> list[Blocked]:
    allow = set(options.allow_delete)
    counted = [c for c in destructive(changes) if not _allowed(c, allow)]
    blocked = [_protect_verdict(c) for c in counted if _protected(c, desired, state)]
    blocked += _limit_verdicts(counted, desired, len(state.voices))
    empty = _empty_config_verdict(changes, state, allow)
    return blocked + ([empty] if empty else [])


def _protect_verdict(c: Change) -> Blocked:
    return Blocked(
        Guard.PROTECT,
        f"{c.address} is protected (protect: true) and this plan would {c.action} it ({c.reason}); "
        f"pass --allow-delete {c.name} if you mean it",
        (c.address,),
    )


def _limit_verdicts(counted: list[Change], desired: Desired, managed: int) -> list[Blocked]:
    guards = desired.account.guards
    names = ", ".join(c.name for c in counted)
    flags = " ".join(f"--allow-delete {c.name}" for c in counted)
    addresses = tuple(c.address for c in counted)
    blocked = []
    if len(counted) > guards.max_deletes:
        blocked.append(
            Blocked(
                Guard.MAX_DELETES,
                f"{len(counted)} deletes and replacements ({names}) exceed guards.max_deletes = "
                f"{guards.max_deletes}: raise the guard in voices.yaml, or pass {flags}",
                addresses,
            )
        )
    if counted and len(counted) > guards.max_delete_fraction * max(managed, 1):
        blocked.append(
            Blocked(
                Guard.MAX_DELETE_FRACTION,
                f"{len(counted)} deletes and replacements of {managed} managed voice{'s' if managed != 1 else ''} "
                f"exceed guards.max_delete_fraction = {guards.max_delete_fraction:g}: raise the guard in "
                f"voices.yaml, or pass {flags}",
                addresses,
            )
        )
    return blocked


def _empty_config_verdict(changes: list[Change], state: StateDoc, allow: set[str]) -> Blocked | None:
    # Only deletes of the voice a name has now: the old half of a replacement shares its name's address.
    deleted = {
        c.name
        for c in changes
        if c.kind == Kind.VOICE
        and c.action == Action.DELETE
        and not c.state_only
        and c.name in state.voices
        and c.old_voice_id == state.voices[c.name].voice_id
    }
    if not (state.voices and set(state.voices) <= deleted and any(n not in allow for n in state.voices)):
        return None
    return Blocked(
        Guard.EMPTY_CONFIG,
        f"this plan deletes every managed voice ({', '.join(sorted(state.voices))}): voices.yaml declares "
        "none of them. If that is what you mean, pass --allow-delete for each",
        tuple(voice_address(n) for n in sorted(state.voices)),
    )


def quota_blocked(
    quota: Quota, changes: list[Change], desired: Desired, state: StateDoc, live: LiveSnapshot
) -> Blocked:
    """The quota verdict: how many slots to free, and where they can come from."""
    need = quota.peak - quota.limit
    known = state.voice_ids()
    unmanaged = [
        v.voice_id
        for v in live.voices
        if (v.prefix != desired.account.prefix or v.voice_id in state.forgotten) and v.voice_id not in known
    ]
    creating = [
        c.name
        for c in changes
        if c.kind == Kind.VOICE and c.action in (Action.CREATE, Action.REPLACE) and not c.state_only
    ]
    parts = [
        f"the account allows {quota.limit} voices but this plan needs {quota.peak} at its peak "
        f"({quota.before} now, {len(unmanaged)} of them unmanaged): free {need} slot{'s' if need != 1 else ''}"
    ]
    if unmanaged:
        shown = ", ".join(unmanaged[:5]) + (f" and {len(unmanaged) - 5} more" if len(unmanaged) > 5 else "")
        parts.append(f"delete unmanaged voices in the console ({shown})")
    parts.append(f"or remove voices from voices.yaml (this plan creates {', '.join(creating)})")
    parts.append("or raise account.quota if your account allows more")
    return Blocked(Guard.QUOTA, "; ".join(parts), tuple(voice_address(n) for n in creating))
