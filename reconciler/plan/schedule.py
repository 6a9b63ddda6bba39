"""Ordering the plan's changes into steps with their dependencies, and simulating the quota through them.

Phases (`Phase`, in order): state-only records; detach (unbind); free quota (delete); clone (upload + create,
update, adopt a found voice); the review wait; bind and rebind; retire (deletes that wait for a binding to
move or for a replacement to pass review). Each step lists the steps it needs (`Step.needs`), so the
executor skips a step whose prerequisite failed without knowing why the schedule put it where it is.

A replacement is create-before-destroy (new voice cloned, old one retired after its bindings moved) unless the
quota peak does not allow it; then destroy-before-create: its bindings are detached and the old voice deleted
first, naming the bindings that speak with the console default meanwhile. Unbound replacements switch first,
so bindings keep their voice whenever possible.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from reconciler.catalog import MODELS
from reconciler.model import Desired, LiveSnapshot, StateDoc, VoiceStatus
from reconciler.naming import binding_address, voice_address
from reconciler.plan.changes import Action, BindingState, Change, Kind, Order, Phase, Reason, Step, StepOp, VoiceBefore
from reconciler.plan.plan import Quota


@dataclass(frozen=True)
class Schedule:
    changes: list[Change]
    steps: list[Step]
    quota: Quota
    over_quota: bool  # a phase that adds voices ends above the limit: the plan is blocked


def build_schedule(changes: list[Change], desired: Desired, state: StateDoc, live: LiveSnapshot) -> Schedule:
    limit = desired.account.quota
    bound_to = _bound_to(state, live)
    order = {c.address: Order.CREATE_BEFORE_DESTROY for c in changes if c.action == Action.REPLACE}
    while True:
        changes = [_with_order(c, order, bound_to) for c in changes]
        steps = _Steps(changes, bound_to).build()
        quota, over = _simulate(steps, len(live.voices), limit)
        switchable = [
            c
            for c in changes
            if c.action == Action.REPLACE and order[c.address] == Order.CREATE_BEFORE_DESTROY and not c.adopt_voice_id
        ]
        if not over or not switchable:
            return Schedule(changes, steps, quota, over)
        # Switch the replacement whose old voice has the fewest bindings: an unbound one costs no one a voice.
        pick = min(switchable, key=lambda c: (len(bound_to.get(c.old_voice_id or "", [])), c.address))
        order[pick.address] = Order.DESTROY_BEFORE_CREATE


def _bound_to(state: StateDoc, live: LiveSnapshot) -> dict[str, list[str]]:
    """voice id -> addresses of the bindings whose node speaks with it now."""
    bound_to: dict[str, list[str]] = {}
    for b in live.bindings:
        if b.voice_id:
            bound_to.setdefault(b.voice_id, []).append(binding_address(b.agent, b.node))
    live_addresses = {binding_address(b.agent, b.node) for b in live.bindings}
    for address, record in state.bindings.items():
        if address not in live_addresses:
            bound_to.setdefault(record.voice_id, []).append(address)
    return bound_to


def _with_order(change: Change, order: dict[str, Order], bound_to: dict[str, list[str]]) -> Change:
    if change.action != Action.REPLACE:
        return change
    chosen = order[change.address]
    dbc = chosen == Order.DESTROY_BEFORE_CREATE
    affected = tuple(sorted(bound_to.get(change.old_voice_id or "", []))) if dbc else ()
    notes = tuple(n for n in change.notes if not n.startswith("destroy-before-create"))
    if affected:
        notes += (
            "destroy-before-create: the quota has no room for both voices at once; "
            f"{', '.join(affected)} fall back to the workflow's console default voice until the new one passes review",
        )
    elif dbc:
        notes += ("destroy-before-create: the quota has no room for both voices at once",)
    return dataclasses.replace(change, order=chosen, affected_bindings=affected, notes=notes)


_STATE_OPS = {Action.CREATE: StepOp.ADOPT, Action.DELETE: StepOp.FORGET, Action.UNBIND: StepOp.FORGET}


@dataclass
class _Steps:
    """The steps of one ordering of the changes, each with the steps it needs."""

    changes: list[Change]
    bound_to: dict[str, list[str]]
    steps: list[Step] = field(default_factory=list)
    # Steps that bring a voice to its desired state (state record, clone, review wait), by voice address.
    readying: dict[str, list[str]] = field(default_factory=dict)

    def build(self) -> list[Step]:
        self.unbinding = {c.address for c in self.changes if c.kind == Kind.BINDING and c.action == Action.UNBIND}
        # Voices still under review: a state-only no-op with its own wait, which bindings and retirements need.
        self.reviewing = {
            c.address
            for c in self.changes
            if c.kind == Kind.VOICE
            and c.action == Action.NOOP
            and isinstance(c.before, VoiceBefore)
            and c.before.status == VoiceStatus.DEPLOYING
        }
        self.detached: dict[str, Step] = {}
        voices = [c for c in self.changes if c.kind == Kind.VOICE]
        bindings = [c for c in self.changes if c.kind == Kind.BINDING]
        for c in voices:
            self._voice(c)
        added = [self._binding(c) for c in bindings]
        self.binds = [s for s in added if s is not None and s.op == StepOp.BIND]
        for c in voices:
            self._retirement(c)
        return sorted(self.steps, key=lambda s: (s.phase.rank, s.op, s.address))

    def _add(self, step: Step, *, readies: bool = False) -> Step:
        self.steps.append(step)
        if readies:
            self.readying.setdefault(step.address, []).append(step.id)
        return step

    def _voice(self, c: Change) -> None:
        old_id = c.old_voice_id
        if c.state_only:
            op = _STATE_OPS.get(c.action) or (StepOp.MOVE if c.moved_from else StepOp.RECORD)
            first = self._add(Step(Phase.STATE, op, c.address, c.adopt_voice_id or old_id), readies=True)
            if (c.action == Action.CREATE and _has_review(c)) or c.address in self.reviewing:
                wait_id = c.adopt_voice_id if c.action == Action.CREATE else old_id
                self._add(Step(Phase.REVIEW, StepOp.WAIT, c.address, wait_id, needs=(first.id,)), readies=True)
            return
        if c.action in (Action.CREATE, Action.UPDATE):
            op = StepOp.CREATE if c.action == Action.CREATE else StepOp.UPDATE
            delta = 1 if c.action == Action.CREATE else 0
            clone = self._add(
                Step(Phase.CLONE, op, c.address, old_id if op == StepOp.UPDATE else None, delta), readies=True
            )
            if _has_review(c):
                self._add(Step(Phase.REVIEW, StepOp.WAIT, c.address, clone.voice_id, needs=(clone.id,)), readies=True)
        elif c.action == Action.REPLACE:
            self._replacement(c)

    def _replacement(self, c: Change) -> None:
        needs: tuple[str, ...] = ()
        if c.order == Order.DESTROY_BEFORE_CREATE:
            detach = []
            for address in c.affected_bindings:
                if address not in self.unbinding and address not in self.detached:
                    self.detached[address] = self._add(Step(Phase.DETACH, StepOp.UNBIND, address, c.old_voice_id))
                if address in self.detached:
                    detach.append(self.detached[address].id)
            free = self._add(Step(Phase.FREE, StepOp.DELETE, c.address, c.old_voice_id, -1, needs=tuple(detach)))
            needs = (free.id,)
        if c.adopt_voice_id:
            clone = Step(Phase.CLONE, StepOp.ADOPT, c.address, c.adopt_voice_id, 0, needs=needs)
        else:
            clone = Step(Phase.CLONE, StepOp.CREATE, c.address, None, +1, needs=needs)
        self._add(clone, readies=True)
        if _has_review(c):
            self._add(Step(Phase.REVIEW, StepOp.WAIT, c.address, c.adopt_voice_id, needs=(clone.id,)), readies=True)

    def _binding(self, c: Change) -> Step | None:
        if c.state_only:
            op = StepOp.FORGET if c.action == Action.UNBIND else StepOp.RECORD
            return self._add(Step(Phase.STATE, op, c.address))
        if c.action == Action.UNBIND:
            return self._add(Step(Phase.DETACH, StepOp.UNBIND, c.address, c.old_voice_id))
        if c.action in (Action.BIND, Action.REBIND):
            assert isinstance(c.after, BindingState) and c.after.voice
            voice = voice_address(c.after.voice)
            needs = tuple(self.readying.get(voice, []))
            return self._add(Step(Phase.BIND, StepOp.BIND, c.address, needs=needs, needs_ok_voice=c.after.voice))
        return None

    def _retirement(self, c: Change) -> None:
        """The delete of a voice that goes away: now if nothing waits on it, else after its bindings moved
        (and, for the old half of a replacement, after its successor passed review)."""
        if c.state_only or not (
            c.action == Action.DELETE or (c.action == Action.REPLACE and c.order == Order.CREATE_BEFORE_DESTROY)
        ):
            return
        old_id = c.old_voice_id
        # The binds that move a node off this voice (bound_to: the nodes that speak with it now).
        moving = [b.id for b in self.binds if b.address in self.bound_to.get(old_id or "", [])]
        successor = c.action == Action.REPLACE or c.reason == Reason.REPLACED
        waits = successor and (c.action == Action.REPLACE or c.address in self.reviewing)
        if not moving and not waits:
            self._add(Step(Phase.FREE, StepOp.DELETE, c.address, old_id, -1))
            return
        needs = tuple(moving) + (tuple(self.readying.get(c.address, [])) if successor else ())
        ok_voice = c.name if successor else None
        self._add(Step(Phase.RETIRE, StepOp.DELETE, c.address, old_id, -1, needs=needs, needs_ok_voice=ok_voice))


def _has_review(change: Change) -> bool:
    model = change.after.model if change.after is not None else None
    return MODELS[model].has_review if model in MODELS else False


def _simulate(steps: list[Step], before: int, limit: int) -> tuple[Quota, bool]:
    """Account usage through the phases: before, after, peak, and whether a phase that adds voices ends above
    the limit (a plan that only deletes is never blocked, even in an account already over its quota)."""
    usage, peak, over = before, before, False
    for phase in Phase:
        in_phase = [s.quota_delta for s in steps if s.phase == phase]
        usage += sum(in_phase)
        peak = max(peak, usage)
        over = over or (any(d > 0 for d in in_phase) and usage > limit)
    return Quota(limit=limit, before=before, after=usage, peak=peak), over
