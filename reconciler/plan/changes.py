"""What a plan is made of, as typed data: changes (what, why, before and after) and the steps that carry
them out, with the steps each one needs (Terraform's graph edges).

The enums are StrEnums so that their JSON form is their value and comparisons with plain strings still hold.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any

from reconciler.naming import parse_address


class Kind(StrEnum):
    VOICE = "voice"
    BINDING = "binding"


class Action(StrEnum):
    """Internal verbs. Voices: create update replace delete no-op; bindings: bind rebind unbind no-op."""

    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"
    DELETE = "delete"
    NOOP = "no-op"
    BIND = "bind"
    REBIND = "rebind"
    UNBIND = "unbind"


class Reason(StrEnum):
    """Why a change is planned, or what a drift finding saw."""

    NEW_VOICE = "new_voice"
    FOUND_IN_ACCOUNT = "found_in_account"  # a voice of ours that the state lost track of: adopted
    MISSING_IN_ACCOUNT = "missing_in_account"
    MODEL_CHANGED = "model_changed"
    AUDIO_CHANGED = "audio_changed"
    OPTION_CHANGED = "option_changed"  # a create-time option (language, text, ...): the service cannot update it
    REPLACE_REQUESTED = "replace_requested"  # apply --replace NAME: clone the same audio again
    RENAMED = "renamed"
    UNDER_REVIEW = "under_review"
    UP_TO_DATE = "up_to_date"
    NOT_IN_CONFIG = "not_in_config"
    REPLACED = "replaced"  # the old half of a replacement (deposed), retired
    DEPOSED_GONE = "deposed_gone"
    REVIEW_FAILED = "review_failed"
    REPLACEMENT_NOT_READY = "replacement_not_ready"
    NEW_BINDING = "new_binding"
    VOICE_REPLACED = "voice_replaced"
    VOICE_CHANGED = "voice_changed"
    BINDING_DRIFT = "binding_drift"
    INSTANCE_DRIFT = "instance_drift"


class Order(StrEnum):
    """How a replacement runs: the new voice first (old one retired after the bindings moved), or the old
    voice first when the quota has no room for both."""

    CREATE_BEFORE_DESTROY = "create_before_destroy"
    DESTROY_BEFORE_CREATE = "destroy_before_create"


class Phase(StrEnum):
    """Phases run in this order (the order of definition); steps within a phase may run in parallel."""

    STATE = "state"  # state only: adopt, move, forget, record
    DETACH = "detach"  # unbind
    FREE = "free"  # deletes that free quota
    CLONE = "clone"  # upload + create, update, adopt a found voice
    REVIEW = "review"  # wait for the review, one shared poll
    BIND = "bind"  # bind, rebind
    RETIRE = "retire"  # deletes that wait for a binding to move or a replacement to pass review

    @property
    def rank(self) -> int:
        return _PHASE_RANK[self]


_PHASE_RANK = {phase: i for i, phase in enumerate(Phase)}


class StepOp(StrEnum):
    ADOPT = "adopt"
    MOVE = "move"
    RECORD = "record"
    FORGET = "forget"
    UNBIND = "unbind"
    DELETE = "delete"
    CREATE = "create"
    UPDATE = "update"
    WAIT = "wait"
    BIND = "bind"


# --------------------------------------------------------------------------------------------------
# Before and after
# --------------------------------------------------------------------------------------------------


class _Record:
    """JSON form of the small records below: their fields as they are (tuples as lists)."""

    def to_json(self) -> dict[str, Any]:
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}  # type: ignore[arg-type]


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


@dataclass(frozen=True)
class VoiceBefore(_Record):
    """A voice as it stands: from the state record, the live account, or both."""

    voice_id: str
    model: str
    audio: str | None  # audio identity in state; None for a voice the state never knew
    status: str | None  # the account's status; None when the voice is gone from it
    language: str | None = None  # as recorded in state
    options: dict[str, Any] | None = None  # create-time options recorded in state; None: not recorded

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> VoiceBefore:
        return cls(
            data["voice_id"],
            data["model"],
            data.get("audio"),
            data.get("status"),
            data.get("language"),
            data.get("options"),
        )


@dataclass(frozen=True)
class VoiceAfter(_Record):
    """A voice as voices.yaml wants it."""

    model: str
    audio: str  # audio identity: sha256:... or url:...
    audio_ref: str  # as written in voices.yaml
    language: str | None
    protect: bool
    voice_id: str | None = None  # None: known after apply (created or replaced)
    options: dict[str, Any] = field(default_factory=dict)  # create-time options set in voices.yaml

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> VoiceAfter:
        return cls(
            data["model"],
            data["audio"],
            data.get("audio_ref") or "",
            data.get("language"),
            bool(data.get("protect")),
            data.get("voice_id"),
            dict(data.get("options") or {}),
        )


@dataclass(frozen=True)
class BindingState(_Record):
    """A binding before or after: which voice an agent's TTS node speaks with."""

    agent: str
    node: str
    workflow: str | None
    voice: str | None  # voice name
    voice_id: str | None  # None after: known once the voice exists
    model: str | None
    instances: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BindingState:
        return cls(
            data["agent"],
            data["node"],
            data.get("workflow"),
            data.get("voice"),
            data.get("voice_id"),
            data.get("model"),
            tuple(data.get("instances") or ()),
        )


Before = VoiceBefore | BindingState
After = VoiceAfter | BindingState

# Terraform's JSON action lists.
_JSON_ACTIONS = {Action.BIND: ["create"], Action.REBIND: ["update"], Action.UNBIND: ["delete"]}
_FROM_JSON_BINDING = {"create": Action.BIND, "update": Action.REBIND, "delete": Action.UNBIND}


@dataclass(frozen=True)
class Change:
    """One addressed change, Terraform style: what, why, before and after."""

    address: str  # voice.NAME | binding.AGENT.NODE
    kind: Kind
    action: Action
    reason: Reason
    before: Before | None
    after: After | None
    order: Order | None = None  # replacements only
    moved_from: str | None = None  # voice known under a former name (renamed_from)
    adopt_voice_id: str | None = None  # an existing voice found in the account is taken instead of cloning
    state_only: bool = False  # touches the state, never the account
    affected_bindings: tuple[str, ...] = ()  # bindings detached during a destroy-before-create
    notes: tuple[str, ...] = ()
    # Replacements: the attributes whose change forces a new clone (Terraform's "forces replacement").
    forced_by: tuple[str, ...] = ()

    @property
    def sends_audio(self) -> bool:
        """A voice change that hands source audio to the service: a create that clones, an update, a
        replacement (an adoption or a state-only record sends nothing)."""
        return (
            self.kind == Kind.VOICE
            and not self.state_only
            and self.action in (Action.CREATE, Action.UPDATE, Action.REPLACE)
        )

    @property
    def name(self) -> str:
        """The voice name (voices) or `agent.node` (bindings)."""
        return parse_address(self.address).name

    @property
    def old_voice_id(self) -> str | None:
        """The voice this change acts on now (the one a delete removes, a replacement retires)."""
        return self.before.voice_id if self.before is not None else None

    @property
    def actions(self) -> list[str]:
        """Terraform's JSON action list."""
        if self.action == Action.REPLACE:
            return ["delete", "create"] if self.order == Order.DESTROY_BEFORE_CREATE else ["create", "delete"]
        return _JSON_ACTIONS.get(self.action, [self.action.value])

    @property
    def is_change(self) -> bool:
        return self.action != Action.NOOP or self.state_only or self.moved_from is not None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "address": self.address,
            "actions": self.actions,
            "reason": self.reason.value,
            "before": self.before.to_json() if self.before else None,
            "after": self.after.to_json() if self.after else None,
        }
        for key in ("order", "moved_from", "adopt_voice_id"):
            if getattr(self, key):
                out[key] = str(getattr(self, key))
        if self.state_only:
            out["state_only"] = True
        if self.affected_bindings:
            out["affected_bindings"] = list(self.affected_bindings)
        if self.forced_by:
            out["replace_paths"] = [[name] for name in self.forced_by]  # Terraform's JSON key
        if self.notes:
            out["notes"] = list(self.notes)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Change:
        kind = Kind(parse_address(data["address"]).kind)
        actions = data["actions"]
        if actions in (["create", "delete"], ["delete", "create"]):
            action = Action.REPLACE
        elif kind == Kind.BINDING:
            action = _FROM_JSON_BINDING.get(actions[0]) or Action(actions[0])
        else:
            action = Action(actions[0])
        before, after = data.get("before"), data.get("after")
        if kind == Kind.VOICE:
            before_rec: Before | None = VoiceBefore.from_json(before) if before else None
            after_rec: After | None = VoiceAfter.from_json(after) if after else None
        else:
            before_rec = BindingState.from_json(before) if before else None
            after_rec = BindingState.from_json(after) if after else None
        return cls(
            address=data["address"],
            kind=kind,
            action=action,
            reason=Reason(data["reason"]),
            before=before_rec,
            after=after_rec,
            order=Order(data["order"]) if data.get("order") else None,
            moved_from=data.get("moved_from"),
            adopt_voice_id=data.get("adopt_voice_id"),
            state_only=bool(data.get("state_only", False)),
            affected_bindings=tuple(data.get("affected_bindings") or ()),
            notes=tuple(data.get("notes") or ()),
            forced_by=tuple(p[0] for p in data.get("replace_paths") or () if p),
        )


# --------------------------------------------------------------------------------------------------
# Steps
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One operation of the schedule, with the steps it needs (Terraform's graph edges).

    The executor runs phases in order and the steps of a phase in parallel. A step runs only when every
    step in `needs` succeeded and, when `needs_ok_voice` names a voice, that voice is approved (OK) by then:
    a bind needs its voice OK; retiring the old half of a replacement needs its successor OK."""

    phase: Phase
    op: StepOp
    address: str
    voice_id: str | None = None  # the voice the step acts on, when known at plan time
    quota_delta: int = 0
    needs: tuple[str, ...] = ()  # ids of the steps that must succeed first
    needs_ok_voice: str | None = None  # a voice name whose voice must be OK when this step runs

    @property
    def id(self) -> str:
        """Unique within a plan: a delete names the voice it removes, since the old half of a replacement
        (deposed) shares its successor's address."""
        base = f"{self.op}:{self.address}"
        return f"{base}:{self.voice_id}" if self.op == StepOp.DELETE and self.voice_id else base
