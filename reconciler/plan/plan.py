"""The plan: a first-class object holding changes, the steps that carry them out, the quota simulation, guard
verdicts and drift, with its own safety check (`raise_if_blocked`) and its serialised form (plan files).

How a plan looks (text, markdown, JSON for people and pipelines) is `reconciler.ui`; how one is computed is
`reconciler.plan.planner`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from reconciler.errors import PlanBlocked
from reconciler.model import StateDoc
from reconciler.plan.approval import PlanInputs, change_set, changes_digest
from reconciler.plan.changes import Action, Change, Kind, Reason, Step

PLAN_FORMAT_VERSION = "1"


@dataclass(frozen=True)
class PlanOptions:
    targets: tuple[str, ...] = ()
    refresh_only: bool = False
    allow_delete: tuple[str, ...] = ()
    replace: tuple[str, ...] = ()  # voices to clone anew from their audio (Terraform's -replace)
    policies: tuple[str, ...] = ()  # `--policy` paths (Rego), besides account.policy: apply checks them again

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "targets": sorted(self.targets),
            "refresh_only": self.refresh_only,
            "allow_delete": sorted(self.allow_delete),
        }
        if self.replace:  # left out when empty, so fingerprints of plans without it stay as they were
            out["replace"] = sorted(self.replace)
        if self.policies:
            out["policies"] = list(self.policies)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PlanOptions:
        return cls(
            targets=tuple(data.get("targets") or ()),
            refresh_only=bool(data.get("refresh_only")),
            allow_delete=tuple(data.get("allow_delete") or ()),
            replace=tuple(data.get("replace") or ()),
            policies=tuple(data.get("policies") or ()),
        )


@dataclass(frozen=True)
class Quota:
    limit: int
    before: int
    after: int
    peak: int

    @property
    def exceeded(self) -> bool:
        return self.peak > self.limit

    def to_json(self) -> dict[str, int]:
        return asdict(self)


class Guard(StrEnum):
    QUOTA = "quota"
    MAX_DELETES = "max_deletes"
    MAX_DELETE_FRACTION = "max_delete_fraction"
    PROTECT = "protect"
    EMPTY_CONFIG = "empty_config"
    POLICY = "policy"  # a `deny` rule of a Rego policy


@dataclass(frozen=True)
class Blocked:
    guard: Guard
    message: str
    addresses: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"guard": self.guard.value, "message": self.message, "addresses": list(self.addresses)}


@dataclass(frozen=True)
class Drift:
    address: str
    reason: Reason  # missing_in_account | review_failed | under_review | binding_drift | instance_drift | ...
    detail: str
    # For a declared voice that cannot be used (failed review, gone from the account): what a person does
    # about it. Such findings keep a plan from reading "No changes" and keep the drift check failing.
    fix: str | None = None

    @property
    def needs_attention(self) -> bool:
        return self.fix is not None

    def to_json(self) -> dict[str, str]:
        out = {"address": self.address, "reason": self.reason.value, "detail": self.detail}
        if self.fix is not None:
            out["fix"] = self.fix
        return out


@dataclass(frozen=True)
class Plan:
    changes: tuple[Change, ...]
    steps: tuple[Step, ...]
    quota: Quota
    blocked: tuple[Blocked, ...]
    drift: tuple[Drift, ...]
    fingerprint: str
    options: PlanOptions = PlanOptions()
    notes: tuple[str, ...] = ()  # provider notes, e.g. what no API can reach
    # The state the plan was computed from, with each voice's status as the account reports it: what apply
    # starts from and writes. None for a plan read back from a plan file (apply re-plans).
    prior_state: StateDoc | None = None
    state_refreshed: bool = False  # prior_state differs from the stored state (a review ended between runs)
    inputs: PlanInputs = field(default_factory=PlanInputs)  # what it was computed from, to say which input moved

    @property
    def change_set(self) -> list[dict[str, Any]]:
        """What a reviewer approves: the pending changes as `approval.change_entry` entries."""
        return change_set(self.changes)

    @property
    def changes_digest(self) -> str:
        return changes_digest(self.change_set)

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

    @property
    def attention(self) -> tuple[Drift, ...]:
        """Declared voices that cannot be used (failed review, gone from the account) and what to do."""
        return tuple(d for d in self.drift if d.needs_attention)

    def change(self, address: str) -> Change | None:
        return next((c for c in self.changes if c.address == address), None)

    def counts(self) -> dict[str, int]:
        voice = [c for c in self.changes if c.kind == Kind.VOICE and not c.state_only]
        return {
            "create": sum(c.action == Action.CREATE for c in voice),
            "update": sum(c.action == Action.UPDATE for c in voice),
            "replace": sum(c.action == Action.REPLACE for c in voice),
            "delete": sum(c.action == Action.DELETE for c in voice),
            "bindings": sum(
                c.kind == Kind.BINDING and c.action != Action.NOOP and not c.state_only for c in self.changes
            ),
        }

    def raise_if_blocked(self) -> None:
        if self.blocked:
            raise PlanBlocked(
                "the plan is blocked by a guard, so apply refuses:\n"
                + "\n".join(f"  - [{b.guard}] {b.message}" for b in self.blocked)
            )

    # -- serialisation (plan files; the JSON view adds what people read) ----------------------------
    def to_json(self) -> dict[str, Any]:
        return {
            "format_version": PLAN_FORMAT_VERSION,
            "changes": [c.to_json() for c in self.changes],
            "quota": self.quota.to_json(),
            "blocked": [b.to_json() for b in self.blocked],
            "drift": [d.to_json() for d in self.drift],
            "attention": [d.to_json() for d in self.attention],
            "fingerprint": self.fingerprint,
            "changes_digest": self.changes_digest,
            "options": self.options.to_json(),
            "notes": list(self.notes),
            "inputs": self.inputs.to_json(),
        }

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
            blocked=tuple(
                Blocked(Guard(b["guard"]), b["message"], tuple(b.get("addresses") or ())) for b in data["blocked"]
            ),
            drift=tuple(Drift(d["address"], Reason(d["reason"]), d["detail"], d.get("fix")) for d in data["drift"]),
            fingerprint=data["fingerprint"],
            options=PlanOptions.from_json(data.get("options") or {}),
            notes=tuple(data.get("notes") or ()),
            inputs=PlanInputs.from_json(data.get("inputs")),
        )
