"""Whether a step may run, from what happened to the steps it needs and the status of the voice it needs.

A step runs when every step in `Step.needs` is done and its `needs_ok_voice` (if any) is approved. Otherwise
it is not attempted, or, when what it waits for is a review still going on under `--no-wait`, deferred to
the next apply. Outcomes are data, so no decision depends on the wording of a message.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from reconciler.model import VoiceStatus
from reconciler.naming import parse_address
from reconciler.plan.changes import Phase, Step, StepOp

UNDER_REVIEW = "under review (DEPLOYING)"


class Outcome(StrEnum):
    DONE = "done"
    FAILED = "failed"
    NOT_ATTEMPTED = "not_attempted"
    DEFERRED = "deferred"  # waits for a review that --no-wait left running


@dataclass(frozen=True)
class Held:
    """A step that does not run now, and why (the text is for people only)."""

    outcome: Outcome  # NOT_ATTEMPTED or DEFERRED
    why: str


def blocked_by_need(step: Step, need: Step, need_outcome: Outcome) -> Held | None:
    """The verdict on `step` given one of its needs; None when that need is done."""
    if need_outcome == Outcome.DONE:
        return None
    deferred = need_outcome == Outcome.DEFERRED
    return Held(Outcome.DEFERRED if deferred else Outcome.NOT_ATTEMPTED, _need_message(step, need, deferred))


def blocked_by_status(step: Step, status: str, *, waiting: bool) -> Held | None:
    """The verdict on `step` given the status of the voice it needs approved; None when it is OK."""
    if status == VoiceStatus.OK:
        return None
    if step.op == StepOp.BIND:
        name = step.needs_ok_voice
        if status == VoiceStatus.DEPLOYING:
            why = f"voice {name} is {UNDER_REVIEW}: bindings need an approved (OK) voice; rerun apply later"
        else:
            why = f"voice {name} is {status}: bindings need an approved (OK) voice"
    elif status == VoiceStatus.DEPLOYING:
        why = f"the new voice is {UNDER_REVIEW}, so the old one is kept until it passes"
    else:
        why = f"the new voice is {status}, so the old one is kept"
    # Under --wait a voice still DEPLOYING here had its wait time out: that is a failure, not a deferral.
    deferred = status == VoiceStatus.DEPLOYING and not waiting
    return Held(Outcome.DEFERRED if deferred else Outcome.NOT_ATTEMPTED, why)


def _need_message(step: Step, need: Step, deferred: bool) -> str:
    if step.op == StepOp.BIND:
        return _bind_waits(step, need, deferred)
    if step.op == StepOp.DELETE and step.phase == Phase.RETIRE:
        return _retire_waits(need, deferred)
    if step.op == StepOp.DELETE:
        return f"could not detach {need.address}"
    if step.op in (StepOp.CREATE, StepOp.ADOPT) and need.op == StepOp.DELETE:
        return "the old voice could not be deleted to make room"
    return f"{need.op} of {need.address} did not succeed"


def _bind_waits(step: Step, need: Step, deferred: bool) -> str:
    voice = step.needs_ok_voice or parse_address(need.address).name
    if deferred:
        return f"voice {voice} is {UNDER_REVIEW}: bindings need an approved (OK) voice; rerun apply later"
    return f"voice {voice} was not created or did not pass review"


def _retire_waits(need: Step, deferred: bool) -> str:
    """Why the old voice stays: a binding did not move off it, or its successor is not approved yet."""
    if need.op == StepOp.BIND:
        pending = f" (its voice is {UNDER_REVIEW})" if deferred else ""
        return f"still bound: {need.address} did not move to the new voice{pending}"
    if deferred:
        return f"the new voice is {UNDER_REVIEW}, so the old one is kept until it passes"
    return "the new voice is not ready, so the old one is kept"
