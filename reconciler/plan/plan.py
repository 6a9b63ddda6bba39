"""The plan: a first-class object holding changes, the ordered steps that carry them out, the quota
simulation, guard verdicts and drift, with its own safety check (`raise_if_blocked`) and JSON form.

Renderers (text, markdown) live in `reconciler.ui.render`; the planner that builds a Plan is `reconciler.plan.planner`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from reconciler.errors import PlanBlocked

PLAN_FORMAT_VERSION = "1"

# Internal verbs. Voices: create update replace delete no-op; bindings: bind rebind unbind no-op.
VOICE_ACTIONS = ("create", "update", "replace", "delete", "no-op")
BINDING_ACTIONS = ("bind", "rebind", "unbind", "no-op")
CREATE_BEFORE_DESTROY = "create_before_destroy"
DESTROY_BEFORE_CREATE = "destroy_before_create"


@dataclass(frozen=True)
class Change:
    """One addressed change, Terraform style: what, why, before and after."""

    address: str  # voice.NAME | binding.AGENT.NODE
    kind: str  # "voice" | "binding"
    action: str
    reason: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    order: str | None = None  # replacements: CREATE_BEFORE_DESTROY | DESTROY_BEFORE_CREATE
    moved_from: str | None = None  # voice known under a former name (renamed_from)
    adopt_voice_id: str | None = None  # an existing voice found in the account is taken instead of cloning
    state_only: bool = False  # touches the state, never the account
    affected_bindings: tuple[str, ...] = ()  # bindings detached during a destroy-before-create
    notes: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """The voice name (voices) or `agent.node` (bindings)."""
        return self.address.split(".", 1)[1]

    @property
    def actions(self) -> list[str]:
        """Terraform's JSON action list."""
        if self.action == "replace":
            return ["delete", "create"] if self.order == DESTROY_BEFORE_CREATE else ["create", "delete"]
        return {"bind": ["create"], "rebind": ["update"], "unbind": ["delete"]}.get(self.action, [self.action])

    @property
    def is_change(self) -> bool:
        return self.action != "no-op" or self.state_only or self.moved_from is not None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "address": self.address,
            "actions": self.actions,
            "reason": self.reason,
            "before": self.before,
            "after": self.after,
        }
        for key in ("order", "moved_from", "adopt_voice_id"):
            if getattr(self, key):
                out[key] = getattr(self, key)
        if self.state_only:
            out["state_only"] = True
        if self.affected_bindings:
            out["affected_bindings"] = list(self.affected_bindings)
        if self.notes:
            out["notes"] = list(self.notes)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Change:
        kind = "voice" if data["address"].startswith("voice.") else "binding"
        actions = data["actions"]
        if actions in (["create", "delete"], ["delete", "create"]):
            action = "replace"
        elif kind == "binding":
            action = {"create": "bind", "update": "rebind", "delete": "unbind"}.get(actions[0], actions[0])
        else:
            action = actions[0]
        return cls(
            address=data["address"],
            kind=kind,
            action=action,
            reason=data["reason"],
            before=data.get("before"),
            after=data.get("after"),
            order=data.get("order"),
            moved_from=data.get("moved_from"),
            adopt_voice_id=data.get("adopt_voice_id"),
            state_only=bool(data.get("state_only", False)),
            affected_bindings=tuple(data.get("affected_bindings") or ()),
            notes=tuple(data.get("notes") or ()),
        )


@dataclass(frozen=True)
class Step:
    """One operation of the schedule. Phases run in order; steps within a phase may run in parallel.

    Phases: 0 state-only, 1 detach (unbind), 2 free quota (delete), 3 clone (create/update/adopt), 4 wait for
    review, 5 bind/rebind, 6 retire (deletes that had to wait for a binding to move)."""

    phase: int
    op: str  # forget | move | adopt | record | unbind | delete | create | update | wait | bind
    address: str
    voice_id: str | None = None  # the voice the step acts on, when known at plan time
    quota_delta: int = 0


@dataclass(frozen=True)
class Quota:
    limit: int
    before: int
    after: int
    peak: int

    def to_json(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class Blocked:
    guard: str  # quota | max_deletes | max_delete_fraction | protect | empty_config
    message: str
    addresses: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"guard": self.guard, "message": self.message, "addresses": list(self.addresses)}


@dataclass(frozen=True)
class Drift:
    address: str
    reason: str  # missing_in_account | review_failed | under_review | binding_drift | instance_drift | ...
    detail: str

    def to_json(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class Plan:
    changes: tuple[Change, ...]
    steps: tuple[Step, ...]
    quota: Quota
    blocked: tuple[Blocked, ...]
    drift: tuple[Drift, ...]
    fingerprint: str
    options: dict[str, Any] = field(default_factory=dict)  # targets, refresh_only, allow_delete
    notes: tuple[str, ...] = ()  # provider notes, e.g. what no API can reach

    # -- queries ------------------------------------------------------------------------------------
    @property
    def pending(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.is_change)

    @property
    def has_changes(self) -> bool:
        return bool(self.pending)

    @property
    def is_blocked(self) -> bool:
        return bool(self.blocked)

    def change(self, address: str) -> Change | None:
        return next((c for c in self.changes if c.address == address), None)

    def counts(self) -> dict[str, int]:
        voice = [c for c in self.changes if c.kind == "voice" and not c.state_only]
        return {
            "create": sum(c.action == "create" for c in voice),
            "update": sum(c.action == "update" for c in voice),
            "replace": sum(c.action == "replace" for c in voice),
            "delete": sum(c.action == "delete" for c in voice),
            "bindings": sum(c.kind == "binding" and c.action != "no-op" and not c.state_only for c in self.changes),
        }

    def summary(self) -> str:
        """The one summary line of the text output (exact wording is part of the contract)."""
        q = self.quota
        if not self.has_changes:
            return f"No changes. Quota: {q.before} of {q.limit}."
        n = self.counts()
        return (
            f"Plan: {n['create']} to create, {n['update']} to update, {n['replace']} to replace, "
            f"{n['delete']} to delete, {n['bindings']} bindings to change. "
            f"Quota: {q.before} -> {q.after} of {q.limit} (peak {q.peak})."
        )

    def raise_if_blocked(self) -> None:
        if self.blocked:
            raise PlanBlocked(
                "the plan is blocked by a guard, so apply refuses:\n"
                + "\n".join(f"  - [{b.guard}] {b.message}" for b in self.blocked)
            )

    # -- serialisation ------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {
            "format_version": PLAN_FORMAT_VERSION,
            "changes": [c.to_json() for c in self.changes],
            "quota": self.quota.to_json(),
            "blocked": [b.to_json() for b in self.blocked],
            "drift": [d.to_json() for d in self.drift],
            "fingerprint": self.fingerprint,
            "summary": self.summary(),
            "options": self.options,
            "notes": list(self.notes),
        }

    def to_json_text(self) -> str:
        return json.dumps(self.to_json(), indent=2, sort_keys=False) + "\n"

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Plan:
        """A plan read back from a plan file: enough to show it, never to apply it (apply re-plans and
        compares fingerprints)."""
        if str(data.get("format_version")) != PLAN_FORMAT_VERSION:
            raise ValueError(f"unsupported plan format_version {data.get('format_version')!r}")
        return cls(
            changes=tuple(Change.from_json(c) for c in data["changes"]),
            steps=(),
            quota=Quota(**data["quota"]),
            blocked=tuple(Blocked(b["guard"], b["message"], tuple(b.get("addresses") or ())) for b in data["blocked"]),
            drift=tuple(Drift(**d) for d in data["drift"]),
            fingerprint=data["fingerprint"],
            options=data.get("options") or {},
            notes=tuple(data.get("notes") or ()),
        )
