"""Voice changes: each desired voice matched to what the state and the account hold, and what to do about it.

Voices are matched by name through the state (or a former name, `renamed_from`). Voices the state does not
know are recognised by their ownership prefix and the audio key in their `resource_link` (Qwen: their
preferred name), so a voice whose create response was lost is adopted, never cloned twice; the rest of them
are deleted as `not_in_config`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from reconciler.catalog import MODELS
from reconciler.model import (
    OPTION_NAMES,
    Desired,
    LiveSnapshot,
    LiveVoice,
    StateDoc,
    VoiceRecord,
    VoiceSpec,
    VoiceStatus,
)
from reconciler.naming import desired_audio_key, qwen_preferred_name, resource_link_matches, voice_address
from reconciler.plan.changes import Action, Change, Kind, Reason, VoiceAfter, VoiceBefore
from reconciler.plan.plan import Drift


@dataclass(frozen=True)
class Resolved:
    """Where a desired voice stands after matching: its change and the voice id bindings should get."""

    change: Change
    voice_id: str | None  # None: known after apply (created or replaced)
    status: str | None


@dataclass
class VoicePlanner:
    desired: Desired
    state: StateDoc
    live: LiveSnapshot
    replace: frozenset[str] = frozenset()  # names to clone anew from their audio (apply --replace)
    drift: list[Drift] = field(default_factory=list)
    resolved: dict[str, Resolved] = field(default_factory=dict)  # by voice name

    def __post_init__(self) -> None:
        self.prefix = self.desired.account.prefix
        self.live_by_id = self.live.by_id()
        self.known_ids = self.state.voice_ids()
        # Voices carrying our prefix that the state does not know: adopted when they match, else deleted.
        # Voices `state rm` forgot are neither: the user said to leave them alone.
        self.orphans = sorted(
            (
                v
                for v in self.live.voices
                if v.prefix == self.prefix
                and v.voice_id not in self.known_ids
                and v.voice_id not in self.state.forgotten
            ),
            key=lambda v: (v.status != VoiceStatus.OK, v.created or "", v.voice_id),
        )
        self.adopted: set[str] = set()

    def changes(self) -> list[Change]:
        changes: list[Change] = []
        claimed: set[str] = set()
        for voice in self.desired.voices:
            record, moved_from = self._record_for(voice, claimed)
            claimed.add(moved_from or voice.name)
            resolved = self._resolve(voice, record, moved_from)
            self.resolved[voice.name] = resolved
            changes.append(resolved.change)
        changes += [self._removed(name, r) for name, r in sorted(self.state.voices.items()) if name not in claimed]
        for voice_id, record in sorted(self.state.deposed.items()):
            change = self._deposed(voice_id, record)
            if change is not None:
                changes.append(change)
        changes += [self._orphan(o) for o in self.orphans if o.voice_id not in self.adopted]
        return changes

    def _record_for(self, voice: VoiceSpec, claimed: set[str]) -> tuple[VoiceRecord | None, str | None]:
        """The state record of a voice, under its name or the first unclaimed former name."""
        record = self.state.voices.get(voice.name)
        if record is not None:
            return record, None
        for old in voice.renamed_from:
            if old in self.state.voices and old not in claimed:
                return self.state.voices[old], old
        return None, None

    def _find_orphan(self, voice: VoiceSpec) -> LiveVoice | None:
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

    def _resolve(self, voice: VoiceSpec, record: VoiceRecord | None, moved_from: str | None) -> Resolved:
        live = self.live_by_id.get(record.voice_id) if record else None
        if record is None or live is None:
            return self._absent(voice, record, moved_from)
        before = _before(record, live)
        if record.model != voice.model:
            return self._replacement(voice, Reason.MODEL_CHANGED, before, moved_from, ("model",))
        if voice.name in self.replace:
            return self._replacement(voice, Reason.REPLACE_REQUESTED, before, moved_from, ())
        options = _changed_options(voice, record)
        audio_changed = record.audio_identity != voice.audio.identity
        if options:
            forced = ("audio", *options) if audio_changed else options
            return self._replacement(voice, Reason.OPTION_CHANGED, before, moved_from, forced)
        if audio_changed:
            if not MODELS[voice.model].supports_update:
                return self._replacement(voice, Reason.AUDIO_CHANGED, before, moved_from, ("audio",))
            change = Change(
                voice.address,
                Kind.VOICE,
                Action.UPDATE,
                Reason.AUDIO_CHANGED,
                before,
                _after(voice, record.voice_id),
                moved_from=moved_from,
            )
            return Resolved(change, record.voice_id, VoiceStatus.DEPLOYING.value)
        return self._unchanged(voice, record, live, before, moved_from)

    def _absent(self, voice: VoiceSpec, record: VoiceRecord | None, moved_from: str | None) -> Resolved:
        """A voice the state does not know, or whose voice is gone from the account: adopt or create."""
        if record is not None:
            self.drift.append(
                Drift(
                    voice.address,
                    Reason.MISSING_IN_ACCOUNT,
                    f"voice {record.voice_id} is gone from the account",
                    fix="`voicectl apply` clones it again from its audio (see the plan); bindings follow the new id",
                )
            )
        orphan = self._find_orphan(voice)
        if orphan is not None:
            change = Change(
                voice.address,
                Kind.VOICE,
                Action.CREATE,
                Reason.FOUND_IN_ACCOUNT,
                None,
                _after(voice, orphan.voice_id),
                adopt_voice_id=orphan.voice_id,
                state_only=True,
                moved_from=moved_from,
                notes=(f"adopting {orphan.voice_id}: it carries this voice's audio key, no new clone",),
            )
            return Resolved(change, orphan.voice_id, orphan.status)
        reason = Reason.NEW_VOICE if record is None else Reason.MISSING_IN_ACCOUNT
        before = _before(record, None) if record is not None else None
        change = Change(voice.address, Kind.VOICE, Action.CREATE, reason, before, _after(voice), moved_from=moved_from)
        return Resolved(change, None, None)

    def _unchanged(
        self, voice: VoiceSpec, record: VoiceRecord, live: LiveVoice, before: VoiceBefore, moved_from: str | None
    ) -> Resolved:
        if live.status == VoiceStatus.UNDEPLOYED:
            self.drift.append(
                Drift(
                    voice.address,
                    Reason.REVIEW_FAILED,
                    f"voice {live.voice_id} failed review (UNDEPLOYED); cloning the same audio would fail again",
                    fix=(
                        "give it new audio in voices.yaml (clear speech, little noise, the documented format), or "
                        f"`voicectl apply --replace {voice.name}` to clone the same audio once more"
                    ),
                )
            )
        elif live.status == VoiceStatus.DEPLOYING:
            self.drift.append(Drift(voice.address, Reason.UNDER_REVIEW, f"voice {live.voice_id} is still under review"))
        # Status differences are refreshed by apply when it touches the voice; they are not changes. A voice
        # still under review is one: the next apply must wait for it and report a failed review (exit 1).
        reviewing = live.status == VoiceStatus.DEPLOYING
        reason = Reason.RENAMED if moved_from else (Reason.UNDER_REVIEW if reviewing else Reason.UP_TO_DATE)
        change = Change(
            voice.address,
            Kind.VOICE,
            Action.NOOP,
            reason,
            before,
            _after(voice, record.voice_id),
            moved_from=moved_from,
            state_only=moved_from is not None or record.protect != voice.protect or reviewing,
            notes=("still under review: apply waits for the review and records its outcome",) if reviewing else (),
        )
        return Resolved(change, record.voice_id, live.status)

    def _replacement(
        self, voice: VoiceSpec, reason: Reason, before: VoiceBefore, moved_from: str | None, forced_by: tuple[str, ...]
    ) -> Resolved:
        orphan = self._find_orphan(voice)
        adopt = orphan.voice_id if orphan else None
        change = Change(
            voice.address,
            Kind.VOICE,
            Action.REPLACE,
            reason,
            before,
            _after(voice, adopt),
            moved_from=moved_from,
            adopt_voice_id=adopt,
            forced_by=forced_by,
        )
        return Resolved(change, adopt, orphan.status if orphan else None)

    def _removed(self, name: str, record: VoiceRecord) -> Change:
        live = self.live_by_id.get(record.voice_id)
        address = voice_address(name)
        if live is None:
            self.drift.append(
                Drift(address, Reason.MISSING_IN_ACCOUNT, f"voice {record.voice_id} is gone from the account")
            )
            return Change(
                address,
                Kind.VOICE,
                Action.DELETE,
                Reason.MISSING_IN_ACCOUNT,
                _before(record, None),
                None,
                state_only=True,
            )
        return Change(address, Kind.VOICE, Action.DELETE, Reason.NOT_IN_CONFIG, _before(record, live), None)

    def _deposed(self, voice_id: str, record: VoiceRecord) -> Change | None:
        live = self.live_by_id.get(voice_id)
        address = voice_address(record.name or voice_id)
        before = _before(record, live)
        if live is None:
            return Change(address, Kind.VOICE, Action.DELETE, Reason.DEPOSED_GONE, before, None, state_only=True)
        successor = self.state.voices.get(record.name or "")
        successor_live = self.live_by_id.get(successor.voice_id) if successor else None
        if successor_live is not None and successor_live.status == VoiceStatus.UNDEPLOYED:
            # Never retire a working voice whose replacement failed review.
            self.drift.append(
                Drift(
                    address,
                    Reason.REPLACEMENT_NOT_READY,
                    f"old voice {voice_id} is kept while its replacement {successor_live.voice_id} is "
                    f"{successor_live.status}",
                )
            )
            return None
        note = f"old half of a replacement: {voice_id}"
        if successor_live is not None and successor_live.status == VoiceStatus.DEPLOYING:
            note += f", retired once {successor_live.voice_id} passes review"
        return Change(address, Kind.VOICE, Action.DELETE, Reason.REPLACED, before, None, notes=(note,))

    def _orphan(self, orphan: LiveVoice) -> Change:
        return Change(
            voice_address(orphan.display_name or orphan.voice_id),
            Kind.VOICE,
            Action.DELETE,
            Reason.NOT_IN_CONFIG,
            _before(None, orphan),
            None,
            notes=(f"{orphan.voice_id} carries prefix {self.prefix!r} but is neither in state nor in voices.yaml",),
        )


def _changed_options(voice: VoiceSpec, record: VoiceRecord) -> tuple[str, ...]:
    """The create-time options whose declared value differs from the one the voice was cloned with. A state
    from before options were recorded knows only the language; the others are then taken as declared."""
    changed = ["language"] if record.language != voice.language else []
    if record.options is not None:
        old, new = dict(record.options), dict(voice.create_options)
        changed += [name for name in OPTION_NAMES if old.get(name) != new.get(name)]
    return tuple(changed)


def _after(voice: VoiceSpec, voice_id: str | None = None) -> VoiceAfter:
    return VoiceAfter(
        model=voice.model,
        audio=voice.audio.identity,
        audio_ref=voice.audio.ref,
        language=voice.language,
        protect=voice.protect,
        voice_id=voice_id,
        options=dict(voice.create_options),
    )


def _before(record: VoiceRecord | None, live: LiveVoice | None) -> VoiceBefore:
    """What the state and the account say of a voice; at least one of them knows it."""
    if record is not None:
        options = dict(record.options) if record.options is not None else None
        status = live.status if live else None
        return VoiceBefore(record.voice_id, record.model, record.audio_identity, status, record.language, options)
    assert live is not None
    return VoiceBefore(live.voice_id, live.model, None, live.status)
