"""Creating a voice without ever cloning it twice: the one retry loop shared by CosyVoice and Qwen."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from reconciler.errors import ProviderError
from reconciler.providers.aliyun.errors import THROTTLING_CODES, TransportFailure
from reconciler.providers.aliyun.ratelimit import RetryPolicy

if TYPE_CHECKING:
    from reconciler.providers.aliyun.dashscope_http import DashScopeHttp

log = logging.getLogger("voicectl.aliyun")

# After a timeout the create may still be running on the server (fetching and checking the audio), so
# a voice that is absent right away may appear a little later: look again after these pauses.
DEFAULT_SETTLE = (1.0, 3.0)


class EnrollmentClient:
    """What the CosyVoice and Qwen clients share: the endpoint, the retry policy and the create settings."""

    def __init__(
        self,
        http: DashScopeHttp,
        policy: RetryPolicy,
        *,
        create_attempts: int = 3,
        settle: tuple[float, ...] = DEFAULT_SETTLE,
    ) -> None:
        self.http = http
        self.policy = policy
        self.create_attempts = create_attempts
        self.settle = settle


def is_throttled(exc: ProviderError) -> bool:
    """Refused before any work was done, so repeating it can never clone twice (a retryable
    AllocationQuota is the request quota, not the voice limit: see errors._allocation_quota)."""
    return exc.code in THROTTLING_CODES or exc.code in ("429", "Throttling.AllocationQuota")


def is_ambiguous(exc: ProviderError) -> bool:
    """The request may have been carried out although no (good) answer came back: transport or 5xx."""
    return isinstance(exc, TransportFailure) or (exc.retryable and not is_throttled(exc))


def create_without_duplicates(
    create: Callable[[], str],
    find: Callable[[], str | None],
    *,
    policy: RetryPolicy,
    create_attempts: int = 3,
    settle: tuple[float, ...] = DEFAULT_SETTLE,
    what: str = "create_voice",
) -> str:
    """Run `create` once; after an ambiguous failure run `find` and return what it finds, and only when it
    finds nothing create again (at most `create_attempts` creates in all). A 429 means the request was
    refused before any work, so it is repeated after backoff without a lookup."""
    ambiguous = 0
    for attempt in range(1, policy.attempts + 1):
        try:
            return create()
        except ProviderError as exc:
            if not exc.retryable:
                raise
            if is_ambiguous(exc):
                ambiguous += 1
                found = _find(find, exc, what)
                pauses = settle if isinstance(exc, TransportFailure) and exc.timed_out else ()
                for pause in pauses:
                    if found:
                        break
                    time.sleep(pause)
                    found = _find(find, exc, what)
                if found:
                    log.debug("dashscope %s voice=%s found after an ambiguous failure", what, found)
                    return found
                if ambiguous >= create_attempts:
                    raise
            if attempt == policy.attempts:
                raise
            time.sleep(policy.sleep_for(attempt))
    raise AssertionError("unreachable")


def _find(find: Callable[[], str | None], exc: ProviderError, what: str) -> str | None:
    try:
        return find()
    except ProviderError as lookup_exc:
        raise ProviderError(
            f"{what}: {exc}; looking up whether the voice was created failed too ({lookup_exc}). "
            "The voice may exist: the next run recognises it by its audio and adopts it.",
            code=exc.code,
        ) from None
