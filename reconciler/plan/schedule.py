"""Ordering the plan's changes into phased steps and simulating the quota through them.

Phases (steps within a phase may run in parallel; phases never overlap):
  0 state-only (adopt, move, forget, record)   1 detach (unbind)   2 free quota (delete)
  3 clone (create, update, adopt a found voice) 4 wait for review    5 bind, rebind
  6 retire (deletes that wait for a binding to move first)
A replacement is create-before-destroy (new voice in phase 3, old one retired in phase 6, after its bindings
moved) unless the quota peak does not allow it; then destroy-before-create: its bindings are detached in
phase 1 and the old voice deleted in phase 2, naming the bindings that speak with the console default
meanwhile. Unbound replacements switch first, so bindings keep their voice whenever possible.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from reconciler.catalog import MODELS
from reconciler.model import Desired, LiveSnapshot, StateDoc, VoiceStatus
from reconciler.plan.plan import CREATE_BEFORE_DESTROY, DESTROY_BEFORE_CREATE, Blocked, Change, Quota, Step

PHASES = {0: "state", 1: "detach", 2: "free", 3: "clone", 4: "review", 5: "bind", 6: "retire"}


@dataclass(frozen=True)
class Schedule:
    changes: list[Change]
    steps: list[Step]
    quota: Quota
    blocked: list[Blocked]


def build_schedule(changes: list[Change], desired: Desired, state: StateDoc, live: LiveSnapshot) -> Schedule:
    limit = desired.account.quota
    bound_to: dict[str, list[str]] = {}  # voice id -> binding addresses whose node speaks with it now
    for b in live.bindings:
        if b.voice_id:
            bound_to.setdefault(b.voice_id, []).append(f"binding.{b.agent}.{b.node}")
    live_addresses = {f"binding.{b.agent}.{b.node}" for b in live.bindings}
    for address, record in state.bindings.items():
        if address not in live_addresses:
            bound_to.setdefault(record.voice_id, []).append(address)

    order = {c.address: CREATE_BEFORE_DESTROY for c in changes if c.action == "replace"}
    while True:
        changes = [_with_order(c, order, bound_to) for c in changes]
        steps = _steps(changes, desired, bound_to)
        quota, over = _simulate(steps, len(live.voices), limit)
        switchable = [
            c
            for c in changes
            if c.action == "replace" and order[c.address] == CREATE_BEFORE_DESTROY and not c.adopt_voice_id
        ]
        if not over or not switchable:
            break
        # Switch the replacement whose old voice has the fewest bindings: an unbound one costs no one a voice.
        pick = min(switchable, key=lambda c: (len(bound_to.get(_old_id(c) or "", [])), c.address))
        order[pick.address] = DESTROY_BEFORE_CREATE
    blocked = [_quota_blocked(quota, changes, desired, state, live)] if over else []
    return Schedule(changes, steps, quota, blocked)


def _old_id(change: Change) -> str | None:
    return (change.before or {}).get("voice_id")


def _with_order(change: Change, order: dict[str, str], bound_to: dict[str, list[str]]) -> Change:
    if change.action != "replace":
        return change
    chosen = order[change.address]
    affected = tuple(sorted(bound_to.get(_old_id(change) or "", []))) if chosen == DESTROY_BEFORE_CREATE else ()
    notes = tuple(n for n in change.notes if not n.startswith("destroy-before-create"))
    if affected:
        notes += (
            "destroy-before-create: the quota has no room for both voices at once; "
            f"{', '.join(affected)} fall back to the workflow's console default voice until the new one passes review",
        )
    elif chosen == DESTROY_BEFORE_CREATE:
        notes += ("destroy-before-create: the quota has no room for both voices at once",)
    return dataclasses.replace(change, order=chosen, affected_bindings=affected, notes=notes)


def _steps(changes: list[Change], desired: Desired, bound_to: dict[str, list[str]]) -> list[Step]:
    steps: list[Step] = []
    rebinding = {c.address for c in changes if c.kind == "binding" and c.action in ("bind", "rebind")}
    unbinding = {c.address for c in changes if c.kind == "binding" and c.action == "unbind"}
    # Voices still under review: the planner makes each a state-only change with its own wait (below), which
    # also covers bindings that need them.
    reviewing = {
        c.address
        for c in changes
        if c.kind == "voice" and c.action == "no-op" and (c.before or {}).get("status") == VoiceStatus.DEPLOYING
    }
    detached: set[str] = set()

    def has_review(change: Change) -> bool:
        model = (change.after or {}).get("model") or ""
        return MODELS[model].has_review if model in MODELS else False

    for c in changes:
        if c.kind != "voice":
            continue
        old_id = _old_id(c)
        if c.state_only:
            op = {"create": "adopt", "delete": "forget"}.get(c.action, "move" if c.moved_from else "record")
            steps.append(Step(0, op, c.address, c.adopt_voice_id or old_id))
            if c.action == "create" and has_review(c):
                steps.append(Step(4, "wait", c.address, c.adopt_voice_id))
            elif c.address in reviewing:
                steps.append(Step(4, "wait", c.address, old_id))
            continue
        if c.action == "create":
            steps += [Step(3, "create", c.address, None, +1)]
            if has_review(c):
                steps.append(Step(4, "wait", c.address))
        elif c.action == "update":
            steps += [Step(3, "update", c.address, old_id), Step(4, "wait", c.address, old_id)]
        elif c.action == "replace":
            if c.adopt_voice_id:
                steps.append(Step(3, "adopt", c.address, c.adopt_voice_id, 0))
            else:
                steps.append(Step(3, "create", c.address, None, +1))
            if has_review(c):
                steps.append(Step(4, "wait", c.address, c.adopt_voice_id))
            if c.order == DESTROY_BEFORE_CREATE:
                for b in c.affected_bindings:
                    if b not in unbinding and b not in detached:
                        detached.add(b)
                        steps.append(Step(1, "unbind", b, old_id))
                steps.append(Step(2, "delete", c.address, old_id, -1))
            else:
                steps.append(Step(6, "delete", c.address, old_id, -1))
        elif c.action == "delete":
            users = set(bound_to.get(old_id or "", []))
            # An old half (deposed) whose replacement is still under review is retired after the review wait.
            waits = c.reason == "replaced" and c.address in reviewing
            phase = 6 if users & rebinding or waits else 2
            steps.append(Step(phase, "delete", c.address, old_id, -1))
    for c in changes:
        if c.kind != "binding":
            continue
        if c.state_only:
            steps.append(Step(0, "forget" if c.action == "unbind" else "record", c.address))
        elif c.action == "unbind":
            steps.append(Step(1, "unbind", c.address, (c.before or {}).get("voice_id")))
        elif c.action in ("bind", "rebind"):
            steps.append(Step(5, "bind", c.address))
    return sorted(steps, key=lambda s: (s.phase, s.op, s.address))


def _simulate(steps: list[Step], before: int, limit: int) -> tuple[Quota, bool]:
    """Account usage through the phases: before, after, peak, and whether a phase that adds voices ends above
    the limit (a plan that only deletes is never blocked, even in an account already over its quota)."""
    usage, peak, over = before, before, False
    for phase in sorted(PHASES):
        in_phase = [s.quota_delta for s in steps if s.phase == phase]
        usage += sum(in_phase)
        peak = max(peak, usage)
        over = over or (any(d > 0 for d in in_phase) and usage > limit)
    return Quota(limit=limit, before=before, after=usage, peak=peak), over


def _quota_blocked(
    quota: Quota, changes: list[Change], desired: Desired, state: StateDoc, live: LiveSnapshot
) -> Blocked:
    need = quota.peak - quota.limit
    known = state.voice_ids()
    unmanaged = [v.voice_id for v in live.voices if v.prefix != desired.account.prefix and v.voice_id not in known]
    creating = [c.name for c in changes if c.kind == "voice" and c.action in ("create", "replace") and not c.state_only]
    parts = [
        f"the account allows {quota.limit} voices but this plan needs {quota.peak} at its peak "
        f"({quota.before} now, {len(unmanaged)} of them unmanaged): free {need} slot{'s' if need != 1 else ''}"
    ]
    if unmanaged:
        shown = ", ".join(unmanaged[:5]) + (f" and {len(unmanaged) - 5} more" if len(unmanaged) > 5 else "")
        parts.append(f"delete unmanaged voices in the console ({shown})")
    parts.append(f"or remove voices from voices.yaml (this plan creates {', '.join(creating)})")
    parts.append("or raise account.quota if your account allows more")
    return Blocked("quota", "; ".join(parts), tuple(f"voice.{n}" for n in creating))
