"""What an apply did, per address: done, failed, not attempted, left under review, deferred."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ApplyReport:
    done: list[tuple[str, str]] = field(default_factory=list)  # (address, what was done)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (address, error)
    not_attempted: list[tuple[str, str]] = field(default_factory=list)  # (address, why)
    pending_review: list[str] = field(default_factory=list)  # voice addresses left under review (--no-wait)
    # Steps that need a voice still under review, left for the next apply as --no-wait asked: not failures.
    deferred: list[tuple[str, str]] = field(default_factory=list)
    # Done, but the service said something the user should act on (Qwen's fallback mode): not failures.
    warnings: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.not_attempted

    @property
    def waiting(self) -> bool:
        """Complete for now: what is left waits for a review that --no-wait left running."""
        return bool(self.deferred or self.pending_review)
