"""What an apply did, per address: done, failed, not attempted, left under review, deferred."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class ApplyReport:
    done: list[tuple[str, str]] = field(default_factory=list)  # (address, what was done)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (address, error)
    not_attempted: list[tuple[str, str]] = field(default_factory=list)  # (address, why)
    pending_review: list[str] = field(default_factory=list)  # voice addresses left under review (--no-wait)
    # Steps that need a voice still under review, left for the next apply as --no-wait asked: not failures.
    deferred: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.not_attempted

    def summary(self) -> str:
        counts = f"{len(self.done)} done, {len(self.failed)} failed, {len(self.not_attempted)} not attempted"
        if not self.ok:
            return f"Apply incomplete: {counts}."
        if self.deferred or self.pending_review:
            return (
                f"Apply complete for now: {counts}; {len(self.deferred)} waiting for a review to end "
                "(--no-wait): rerun apply to finish them."
            )
        return f"Apply complete: {counts}."

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "done": [{"address": a, "result": r} for a, r in self.done],
            "failed": [{"address": a, "error": e} for a, e in self.failed],
            "not_attempted": [{"address": a, "reason": r} for a, r in self.not_attempted],
            "pending_review": self.pending_review,
            "deferred": [{"address": a, "reason": r} for a, r in self.deferred],
            "summary": self.summary(),
        }
