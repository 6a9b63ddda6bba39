"""The pure diff: `plan_changes(desired, state, live) -> Plan`.

No I/O here. Voices are matched by name through the state (or a former name, `renamed_from`), and voices the
state does not know are recognised by their ownership prefix and the audio key in their `resource_link`, so a
voice whose create response was lost is adopted, never cloned twice. The schedule (`schedule.py`) orders the
steps, simulates the quota through them and chooses create-before-destroy where the peak allows; `guards.py`
decides what a safe apply may delete.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from reconciler.catalog import MODELS
from reconciler.errors import VoicectlError
from reconciler.model import (
    BindingRecord,
    BindingSpec,
    Desired,
    LiveBinding,
    LiveSnapshot,
    LiveVoice,
    StateDoc,
    VoiceRecord,
    VoiceSpec,
    VoiceStatus,
)
from reconciler.naming import desired_audio_key, qwen_preferred_name, resource_link_matches
from reconciler.plan.guards import check_guards
from reconciler.plan.plan import Change, Drift, Plan
from reconciler.plan.schedule import build_schedule


@dataclass(frozen=True)
class PlanOptions:
    targets: tuple[str, ...] = ()
    refresh_only: bool = False
    allow_delete: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "targets": sorted(self.targets),
            "refresh_only": self.refresh_only,
            "allow_delete": sorted(self.allow_delete),
        }


def plan_changes(
    desired: Desired,
    state: StateDoc,
    live: LiveSnapshot,
    options: PlanOptions | None = None,
    notes: tuple[str, ...] = (),
) -> Plan:
    options = options or PlanOptions()
    planner = _Planner(desired, state, live, options)
    changes = planner.voice_changes() + planner.binding_changes()
    changes = _apply_targets(changes, desired, state, options)
    schedule = build_schedule(changes, desired, state, live)
    blocked = check_guards(schedule.changes, desired, state, options) + schedule.blocked
    return Plan(
        changes=tuple(schedule.changes),
        steps=tuple(schedule.steps),
        quota=schedule.quota,
        blocked=tuple(blocked),
        drift=tuple(planner.drift),
        fingerprint=fingerprint(desired, state, live, options),
        options=options.to_json(),
        notes=notes,
    )


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


@dataclass
class _Resolved:
    """Where a desired voice stands after matching: its change and the voice id bindings should get."""

    change: Change
    voice_id: str | None  # None: known after apply (created or replaced)
    status: str | None


@dataclass
class _Planner:
    desired: Desired
    state: StateDoc
    live: LiveSnapshot
    options: PlanOptions
    drift: list[Drift] = field(default_factory=list)
    resolved: dict[str, _Resolved] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.prefix = self.desired.account.prefix
        self.live_by_id = self.live.by_id()
        self.known_ids = self.state.voice_ids()
        # Voices carrying our prefix that the state does not know: adopted when they match, else deleted.
        self.orphans = sorted(
            (v for v in self.live.voices if v.prefix == self.prefix and v.voice_id not in self.known_ids),
            key=lambda v: (v.status != VoiceStatus.OK, v.created or "", v.voice_id),
        )
        self.adopted: set[str] = set()

    # -- voices -------------------------------------------------------------------------------------
    def voice_changes(self) -> list[Change]:
        changes: list[Change] = []
        claimed: set[str] = set()
        for voice in self.desired.voices:
            record, moved_from = self.state.voices.get(voice.name), None
            if record is None:
                for old in voice.renamed_from:
                    if old in self.state.voices and old not in claimed:
                        record, moved_from = self.state.voices[old], old
                        break
            claimed.add(moved_from or voice.name)
            resolved = self.resolve_voice(voice, record, moved_from)
            self.resolved[voice.name] = resolved
            changes.append(resolved.change)
        for name, record in sorted(self.state.voices.items()):
            if name not in claimed:
                changes.append(self.removed_voice(name, record))
        for voice_id, record in sorted(self.state.deposed.items()):
            change = self.deposed_voice(voice_id, record)
            if change is not None:
                changes.append(change)
        for orphan in self.orphans:
            if orphan.voice_id not in self.adopted:
                changes.append(self.orphan_voice(orphan))
        return changes

    def find_orphan(self, voice: VoiceSpec) -> LiveVoice | None:
        """A voice of ours that the state lost track of (create response lost, crash before the state
        write), recognised by the audio key in its resource_link (Qwen: by its preferred_name)."""
        key = desired_audio_key(self.desired.account.oss.key_prefix, voice)
        qwen_name = qwen_preferred_name(self.prefix, voice.name)
        for orphan in self.orphans:
            if orphan.voice_id in self.adopted or orphan.model != voice.model:
                continue
            if resource_link_matches(orphan.resource_link, key) or orphan.display_name == qwen_name:
                self.adopted.add(orphan.voice_id)
                return orphan
        return None

    def resolve_voice(self, voice: VoiceSpec, record: VoiceRecord | None, moved_from: str | None) -> _Resolved:
        after = _voice_after(voice)
        live = self.live_by_id.get(record.voice_id) if record else None
        address = voice.address
        if record is None or live is None:
            reason = "new_voice" if record is None else "missing_in_account"
            if record is not None:
                self.drift.append(
                    Drift(address, "missing_in_account", f"voice {record.voice_id} is gone from the account")
                )
            orphan = self.find_orphan(voice)
            if orphan is not None:
                return _Resolved(
                    Change(
                        address,
                        "voice",
                        "create",
                        "found_in_account",
                        None,
                        {**after, "voice_id": orphan.voice_id},
                        adopt_voice_id=orphan.voice_id,
                        state_only=True,
                        moved_from=moved_from,
                        notes=(f"adopting {orphan.voice_id}: it carries this voice's audio key, no new clone",),
                    ),
                    orphan.voice_id,
                    orphan.status,
                )
            return _Resolved(
                Change(address, "voice", "create", reason, _voice_before(record, None), after, moved_from=moved_from),
                None,
                None,
            )
        before = _voice_before(record, live)
        if record.model != voice.model:
            return self.replacement(voice, record, live, "model_changed", before, after, moved_from)
        if record.audio_identity != voice.audio.identity:
            if MODELS[voice.model].supports_update:
                change = Change(
                    address,
                    "voice",
                    "update",
                    "audio_changed",
                    before,
                    {**after, "voice_id": record.voice_id},
                    moved_from=moved_from,
                )
                return _Resolved(change, record.voice_id, VoiceStatus.DEPLOYING.value)
            return self.replacement(voice, record, live, "audio_changed", before, after, moved_from)
        if live.status == VoiceStatus.UNDEPLOYED:
            self.drift.append(
                Drift(
                    address,
                    "review_failed",
                    f"voice {live.voice_id} failed review (UNDEPLOYED); cloning the same audio would fail again: "
                    "give it new audio (content, format, clarity, noise)",
                )
            )
        elif live.status == VoiceStatus.DEPLOYING:
            self.drift.append(Drift(address, "under_review", f"voice {live.voice_id} is still under review"))
        # Status differences are refreshed by apply when it touches the voice; they are not changes. A voice
        # still under review is one: the next apply must wait for it and report a failed review (exit 1).
        reviewing = live.status == VoiceStatus.DEPLOYING
        needs_record = moved_from is not None or record.protect != voice.protect or reviewing
        change = Change(
            address,
            "voice",
            "no-op",
            "renamed" if moved_from else ("under_review" if reviewing else "up_to_date"),
            before,
            {**after, "voice_id": record.voice_id},
            moved_from=moved_from,
            state_only=needs_record,
            notes=("still under review: apply waits for the review and records its outcome",) if reviewing else (),
        )
        return _Resolved(change, record.voice_id, live.status)

    def replacement(
        self,
        voice: VoiceSpec,
        record: VoiceRecord,
        live: LiveVoice,
        reason: str,
        before: dict[str, Any],
        after: dict[str, Any],
        moved_from: str | None,
    ) -> _Resolved:
        orphan = self.find_orphan(voice)
        change = Change(
            voice.address,
            "voice",
            "replace",
            reason,
            before,
            {**after, "voice_id": orphan.voice_id if orphan else None},
            moved_from=moved_from,
            adopt_voice_id=orphan.voice_id if orphan else None,
        )
        return _Resolved(change, orphan.voice_id if orphan else None, orphan.status if orphan else None)

    def removed_voice(self, name: str, record: VoiceRecord) -> Change:
        live = self.live_by_id.get(record.voice_id)
        address = f"voice.{name}"
        if live is None:
            self.drift.append(Drift(address, "missing_in_account", f"voice {record.voice_id} is gone from the account"))
            return Change(
                address, "voice", "delete", "missing_in_account", _voice_before(record, None), None, state_only=True
            )
        return Change(address, "voice", "delete", "not_in_config", _voice_before(record, live), None)

    def deposed_voice(self, voice_id: str, record: VoiceRecord) -> Change | None:
        live = self.live_by_id.get(voice_id)
        address = f"voice.{record.name or voice_id}"
        before = _voice_before(record, live)
        if live is None:
            return Change(address, "voice", "delete", "deposed_gone", before, None, state_only=True)
        successor = self.state.voices.get(record.name or "")
        successor_live = self.live_by_id.get(successor.voice_id) if successor else None
        if successor_live is not None and successor_live.status == VoiceStatus.UNDEPLOYED:
            # Never retire a working voice whose replacement failed review.
            self.drift.append(
                Drift(
                    address,
                    "replacement_not_ready",
                    f"old voice {voice_id} is kept while its replacement {successor_live.voice_id} is "
                    f"{successor_live.status}",
                )
            )
            return None
        note = f"old half of a replacement: {voice_id}"
        if successor_live is not None and successor_live.status == VoiceStatus.DEPLOYING:
            note += f", retired once {successor_live.voice_id} passes review"
        return Change(address, "voice", "delete", "replaced", before, None, notes=(note,))

    def orphan_voice(self, orphan: LiveVoice) -> Change:
        return Change(
            f"voice.{orphan.display_name or orphan.voice_id}",
            "voice",
            "delete",
            "not_in_config",
            _voice_before(None, orphan),
            None,
            notes=(f"{orphan.voice_id} carries prefix {self.prefix!r} but is neither in state nor in voices.yaml",),
        )

    # -- bindings -----------------------------------------------------------------------------------
    def binding_changes(self) -> list[Change]:
        live = {(b.agent, b.node): b for b in self.live.bindings}
        changes = [self.binding_change(b, live.get((b.agent, b.node))) for b in self.desired.bindings]
        desired_addresses = {b.address for b in self.desired.bindings}
        for address, record in sorted(self.state.bindings.items()):
            if address in desired_addresses:
                continue
            current = live.get((record.agent, record.node))
            before = _binding_before(record, current, self.known_ids)
            gone = current is not None and current.voice_id is None
            changes.append(Change(address, "binding", "unbind", "not_in_config", before, None, state_only=gone))
        return changes

    def binding_change(self, spec: BindingSpec, current: LiveBinding | None) -> Change:
        resolved = self.resolved[spec.voice]
        record = self.state.bindings.get(spec.address)
        before = (
            _binding_before(record, current, self.known_ids) if (record or (current and current.voice_id)) else None
        )
        after = {
            "agent": spec.agent,
            "node": spec.node,
            "workflow": spec.workflow,
            "voice": spec.voice,
            "voice_id": resolved.voice_id,
            "model": spec.model,
            "instances": list(spec.instances),
        }
        live_id = current.voice_id if current else None
        notes: tuple[str, ...] = ()
        if resolved.status == VoiceStatus.UNDEPLOYED:
            notes = (f"voice {spec.voice} failed review: binding waits for new audio that passes",)
        if live_id is None:
            reason = "new_binding" if record is None else "missing_in_account"
            if record is not None:
                self.drift.append(Drift(spec.address, "binding_drift", "the node no longer has the voice set"))
            return Change(spec.address, "binding", "bind", reason, before, after, notes=notes)
        if resolved.voice_id is None or live_id != resolved.voice_id:
            if resolved.voice_id is None:
                reason = "voice_replaced"
            elif record is not None and record.voice_id == resolved.voice_id:
                reason = "binding_drift"
                self.drift.append(
                    Drift(spec.address, "binding_drift", f"the node speaks with {live_id}, not {resolved.voice_id}")
                )
            else:
                reason = "voice_changed"
            return Change(spec.address, "binding", "rebind", reason, before, after, notes=notes)
        if current and current.drifted_instances:
            self.drift.append(
                Drift(spec.address, "instance_drift", f"instances {', '.join(current.drifted_instances)} differ")
            )
            return Change(spec.address, "binding", "rebind", "instance_drift", before, after)
        in_sync = record is not None and record.to_json() == binding_record(spec, live_id).to_json()
        return Change(spec.address, "binding", "no-op", "up_to_date", before, after, state_only=not in_sync)


def _voice_after(voice: VoiceSpec) -> dict[str, Any]:
    return {
        "model": voice.model,
        "audio": voice.audio.identity,
        "audio_ref": voice.audio.ref,
        "language": voice.language,
        "protect": voice.protect,
    }


def _voice_before(record: VoiceRecord | None, live: LiveVoice | None) -> dict[str, Any] | None:
    if record is None and live is None:
        return None
    return {
        "voice_id": record.voice_id if record else live.voice_id,  # type: ignore[union-attr]
        "model": record.model if record else live.model,  # type: ignore[union-attr]
        "audio": record.audio_identity if record else None,
        "status": live.status if live else None,
    }


def _binding_before(
    record: BindingRecord | None, current: LiveBinding | None, known_ids: dict[str, str]
) -> dict[str, Any]:
    voice_id = current.voice_id if current else (record.voice_id if record else None)
    return {
        "agent": record.agent if record else current.agent,  # type: ignore[union-attr]
        "node": record.node if record else current.node,  # type: ignore[union-attr]
        "workflow": record.workflow if record else None,
        "voice": known_ids.get(voice_id or "") or (record.voice if record else None),
        "voice_id": voice_id,
        "model": record.model if record else None,
        "instances": list(record.instances) if record else [],
    }


def binding_record(spec: BindingSpec, voice_id: str) -> BindingRecord:
    return BindingRecord(
        agent=spec.agent,
        node=spec.node,
        voice=spec.voice,
        voice_id=voice_id,
        model=spec.model,
        workflow=spec.workflow,
        instances=spec.instances,
    )


def _apply_targets(changes: list[Change], desired: Desired, state: StateDoc, options: PlanOptions) -> list[Change]:
    """`--target` narrows the plan to the named voices and bindings plus what they need: a targeted voice
    brings the bindings that point at it (so a replaced voice is never deleted while still bound), a
    targeted binding brings its voice."""
    if options.refresh_only:
        return [c for c in changes if c.state_only and c.action in ("no-op", "delete")]
    if not options.targets:
        return changes
    addresses = {c.address for c in changes}
    wanted: set[str] = set()
    for target in options.targets:
        address = target if target.startswith(("voice.", "binding.")) else f"voice.{target}"
        if address not in addresses:
            raise VoicectlError(
                f"--target {target}: no voice or binding of that name in voices.yaml or the state "
                "(use a voice name, voice.NAME or binding.AGENT.NODE)"
            )
        wanted.add(address)
    bindings = {b.address: b for b in desired.bindings}
    for address in list(wanted):
        if address.startswith("voice."):
            name = address.removeprefix("voice.")
            wanted |= {b.address for b in desired.bindings if b.voice == name}
            wanted |= {a for a, r in state.bindings.items() if r.voice == name}
        elif address in bindings:
            wanted.add(f"voice.{bindings[address].voice}")
    return [c for c in changes if c.address in wanted]
