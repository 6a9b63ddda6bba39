"""The pure diff: `plan_changes(desired, state, live) -> Plan`.

No I/O here. `voices.py` and `bindings.py` decide the changes; the schedule (`schedule.py`) orders them into
steps with their dependencies, simulates the quota through them and chooses create-before-destroy where the
peak allows; `guards.py` decides what a safe apply may delete and whether the quota holds.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json

from reconciler.errors import VoicectlError
from reconciler.model import Desired, LiveSnapshot, StateDoc
from reconciler.naming import BINDING, VOICE, parse_address, voice_address
from reconciler.plan.approval import plan_inputs
from reconciler.plan.bindings import BindingPlanner
from reconciler.plan.changes import Action, Change
from reconciler.plan.guards import check_guards, quota_blocked
from reconciler.plan.plan import Plan, PlanOptions
from reconciler.plan.schedule import build_schedule
from reconciler.plan.voices import VoicePlanner


def plan_changes(
    desired: Desired,
    state: StateDoc,
    live: LiveSnapshot,
    options: PlanOptions | None = None,
    notes: tuple[str, ...] = (),
) -> Plan:
    options = options or PlanOptions()
    voices = VoicePlanner(desired, state, live, replace=frozenset(options.replace))
    voice_changes = voices.changes()
    bindings = BindingPlanner(desired, state, live, voices.resolved)
    changes = _apply_targets(voice_changes + bindings.changes(), desired, state, options)
    schedule = build_schedule(changes, desired, state, live)
    blocked = check_guards(schedule.changes, desired, state, options)
    if schedule.over_quota:
        blocked.append(quota_blocked(schedule.quota, schedule.changes, desired, state, live))
    prior = with_live_statuses(state, live)
    return Plan(
        changes=tuple(schedule.changes),
        steps=tuple(schedule.steps),
        quota=schedule.quota,
        blocked=tuple(blocked),
        drift=tuple(voices.drift + bindings.drift),
        fingerprint=fingerprint(desired, state, live, options),
        options=options,
        notes=notes + _lint_notes(desired) + _unknown_options_notes(desired, state),
        prior_state=prior,
        state_refreshed=prior != state,
        inputs=plan_inputs(desired, state, live),
    )


def _unknown_options_notes(desired: Desired, state: StateDoc) -> tuple[str, ...]:
    """Voices whose create-time options the state does not know (imported, or recorded by an older voicectl):
    the declared ones are not compared, so the plan says why a change to them plans nothing."""
    unknown = [
        v.name
        for v in desired.voices
        if v.create_options and (r := state.voices.get(v.name)) is not None and r.options is None
    ]
    if not unknown:
        return ()
    return (
        f"the create-time options of {', '.join(unknown)} are not known (imported, or recorded by an older "
        "voicectl): they are not compared, so no replacement is planned for them; `apply --replace NAME` clones "
        "the voice again with the declared options",
    )


def _lint_notes(desired: Desired) -> tuple[str, ...]:
    """Voices whose audio content the lint did not check, so the plan says why a review may still fail."""
    skipped = [v.address for v in desired.voices if not v.lint]
    remote = [v.address for v in desired.voices if v.lint and v.audio.path is None]
    notes = []
    if skipped:
        notes.append(
            f"audio lint skipped (lint: false or --no-lint) for {', '.join(skipped)}: its content is unchecked"
        )
    if remote:
        notes.append(f"audio lint cannot read remote audio offline: {', '.join(remote)} unchecked")
    return tuple(notes)


def fingerprint(desired: Desired, state: StateDoc, live: LiveSnapshot, options: PlanOptions) -> str:
    """Deterministic digest of every input of the plan: voices.yaml, audio content, state serial and the
    whole live account (unmanaged voices included). Any change makes a saved plan stale."""
    doc = {
        "desired": desired.file_sha256,
        "audio": sorted([v.name, v.audio.identity] for v in desired.voices),
        "state": [state.lineage, state.serial],
        "live": sorted([v.voice_id, v.model, v.status, v.modified or "", v.resource_link or ""] for v in live.voices),
        "bindings": sorted([b.agent, b.node, b.voice_id or "", sorted(b.drifted_instances)] for b in live.bindings),
        "options": options.to_json(),
    }
    digest = hashlib.sha256(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    return f"sha256:{digest}"


def with_live_statuses(state: StateDoc, live: LiveSnapshot) -> StateDoc:
    """The state with each voice's status as the account reports it (the state's copy is only the last one
    seen; `state list` shows it). Voices gone from the account keep theirs: the plan deals with them."""
    by_id = live.by_id()
    voices = {
        name: dataclasses.replace(r, status=by_id[r.voice_id].status)
        if r.voice_id in by_id and by_id[r.voice_id].status != r.status
        else r
        for name, r in state.voices.items()
    }
    return state if voices == state.voices else dataclasses.replace(state, voices=voices)


def _apply_targets(changes: list[Change], desired: Desired, state: StateDoc, options: PlanOptions) -> list[Change]:
    """`--target` narrows the plan to the named voices and bindings plus what they need: a targeted voice
    brings the bindings that point at it (so a replaced voice is never deleted while still bound), a
    targeted binding brings its voice."""
    if options.refresh_only:
        return [c for c in changes if c.state_only and c.action in (Action.NOOP, Action.DELETE)]
    if not options.targets:
        return changes
    addresses = {c.address for c in changes}
    wanted: set[str] = set()
    for target in options.targets:
        address = str(parse_address(target))
        if address not in addresses:
            raise VoicectlError(
                f"--target {target}: no voice or binding of that name in voices.yaml or the state "
                "(use a voice name, voice.NAME or binding.AGENT.NODE)"
            )
        wanted.add(address)
    bindings = {b.address: b for b in desired.bindings}
    for address in list(wanted):
        parsed = parse_address(address)
        if parsed.kind == VOICE:
            wanted |= {b.address for b in desired.bindings if b.voice == parsed.name}
            wanted |= {a for a, r in state.bindings.items() if r.voice == parsed.name}
        elif parsed.kind == BINDING and address in bindings:
            wanted.add(voice_address(bindings[address].voice))
    return [c for c in changes if c.address in wanted]
