"""Binding changes: which voice each agent's TTS node should speak with, given where its voice stands."""

from __future__ import annotations

from dataclasses import dataclass, field

from reconciler.model import BindingRecord, BindingSpec, Desired, LiveBinding, LiveSnapshot, StateDoc, VoiceStatus
from reconciler.plan.changes import Action, BindingState, Change, Kind, Reason
from reconciler.plan.plan import Drift
from reconciler.plan.voices import Resolved


@dataclass
class BindingPlanner:
    desired: Desired
    state: StateDoc
    live: LiveSnapshot
    resolved: dict[str, Resolved]  # by voice name, from the voice planner
    drift: list[Drift] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.known_ids = self.state.voice_ids()
        self.live_by_node = {(b.agent, b.node): b for b in self.live.bindings}

    def changes(self) -> list[Change]:
        changes = [self._desired(b, self.live_by_node.get((b.agent, b.node))) for b in self.desired.bindings]
        desired_addresses = {b.address for b in self.desired.bindings}
        for address, record in sorted(self.state.bindings.items()):
            if address not in desired_addresses:
                changes.append(self._removed(address, record))
        return changes

    def _removed(self, address: str, record: BindingRecord) -> Change:
        current = self.live_by_node.get((record.agent, record.node))
        gone = current is not None and current.voice_id is None
        before = self._before(record, current)
        return Change(address, Kind.BINDING, Action.UNBIND, Reason.NOT_IN_CONFIG, before, None, state_only=gone)

    def _desired(self, spec: BindingSpec, current: LiveBinding | None) -> Change:
        resolved = self.resolved[spec.voice]
        record = self.state.bindings.get(spec.address)
        before = self._before(record, current) if (record or (current and current.voice_id)) else None
        after = BindingState(
            spec.agent, spec.node, spec.workflow, spec.voice, resolved.voice_id, spec.model, spec.instances
        )
        live_id = current.voice_id if current else None
        failed = resolved.status == VoiceStatus.UNDEPLOYED
        waits = (f"voice {spec.voice} failed review: binding waits for new audio that passes",) if failed else ()

        def change(
            action: Action, reason: Reason, *, state_only: bool = False, notes: tuple[str, ...] = waits
        ) -> Change:
            return Change(spec.address, Kind.BINDING, action, reason, before, after, state_only=state_only, notes=notes)

        if live_id is None:
            if record is None:
                return change(Action.BIND, Reason.NEW_BINDING)
            self.drift.append(Drift(spec.address, Reason.BINDING_DRIFT, "the node no longer has the voice set"))
            return change(Action.BIND, Reason.MISSING_IN_ACCOUNT)
        if resolved.voice_id is None:
            return change(Action.REBIND, Reason.VOICE_REPLACED)
        if live_id != resolved.voice_id:
            if record is None or record.voice_id != resolved.voice_id:
                return change(Action.REBIND, Reason.VOICE_CHANGED)
            self.drift.append(
                Drift(spec.address, Reason.BINDING_DRIFT, f"the node speaks with {live_id}, not {resolved.voice_id}")
            )
            return change(Action.REBIND, Reason.BINDING_DRIFT)
        if current and current.drifted_instances:
            self.drift.append(
                Drift(spec.address, Reason.INSTANCE_DRIFT, f"instances {', '.join(current.drifted_instances)} differ")
            )
            return change(Action.REBIND, Reason.INSTANCE_DRIFT, notes=())
        in_sync = record == BindingRecord.of(spec, live_id)
        return change(Action.NOOP, Reason.UP_TO_DATE, state_only=not in_sync)

    def _before(self, record: BindingRecord | None, current: LiveBinding | None) -> BindingState:
        voice_id = current.voice_id if current else (record.voice_id if record else None)
        if record is not None:
            name = self.known_ids.get(voice_id or "") or record.voice
            return BindingState(
                record.agent, record.node, record.workflow, name, voice_id, record.model, record.instances
            )
        assert current is not None
        return BindingState(
            current.agent, current.node, None, self.known_ids.get(voice_id or "") or None, voice_id, None, ()
        )
