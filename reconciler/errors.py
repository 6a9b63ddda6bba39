"""Exceptions that cross module boundaries. Each carries a message fit for the user as it stands."""

from __future__ import annotations

from dataclasses import dataclass


class VoicectlError(Exception):
    """Base: an error voicectl reports to the user (exit 1) rather than a crash."""

    exit_code = 1


# --- input -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One finding of `validate`: an error or a warning tied to a place in a file."""

    file: str
    line: int | None
    column: int | None
    message: str

    def to_json(self) -> dict[str, object]:
        return {"file": self.file, "line": self.line, "column": self.column, "message": self.message}

    def where(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return where

    def __str__(self) -> str:
        return f"{self.where()}: {self.message}"


class ConfigError(VoicectlError):
    """voices.yaml (or its audio) is invalid. Carries every problem found, not only the first."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


# --- providers ---------------------------------------------------------------------------------


class ProviderError(VoicectlError):
    """A cloud (or simulated cloud) call failed. `code` is the service's error code when it gave one."""

    def __init__(self, message: str, *, code: str | None = None, retryable: bool = False):
        self.code = code
        self.retryable = retryable
        super().__init__(message)


class VoiceNotFound(ProviderError):
    """The voice id does not exist in the account (BadRequest.ResourceNotExist)."""


class QuotaExceeded(ProviderError):
    """The account's voice limit was hit (Throttling.AllocationQuota)."""


class AudioRejected(ProviderError):
    """The service refused the source audio (Audio.* / BadRequest.UnsupportedFileFormat)."""


class AuthError(ProviderError):
    """Credentials missing or refused. The message says which variable to set; it never echoes a secret."""


# --- state -------------------------------------------------------------------------------------


class LockHeld(VoicectlError):
    def __init__(self, holder: object, path: str):
        self.holder = holder
        describe = getattr(holder, "describe", lambda: str(holder))
        super().__init__(
            f"state is locked ({path}): {describe()}.\n"
            "Another voicectl run holds it. Wait for it to finish, or, if that run died, remove the lock with\n"
            f"  voicectl force-unlock {getattr(holder, 'id', '?')}"
        )


class StateConflict(VoicectlError):
    """The state changed under us (our lock was broken, or a newer serial exists)."""


class LockLost(StateConflict):
    """This run's lease on the state lock ended (it stalled past it, or another run took the lock over)."""


class StateCorrupt(VoicectlError):
    """The state document cannot be read. The message names a previous version to recover from."""


class PlanStale(VoicectlError):
    pass


class ChangesNotApproved(PlanStale):
    """`apply --expect-changes`: the plan computed now does not do what was approved."""


class PlanBlocked(VoicectlError):
    exit_code = 3
