"""Client-side rate limiting and retry policy shared by every aliyun adapter.

DashScope limits each enrollment family apart: CosyVoice (voice-enrollment) 10 requests per second across
its versions, qwen-voice-enrollment 180 per minute, which it also enforces per second (3 RPS) and answers
a burst over it with Throttling.BurstRate. Retrying after the fact wastes the budget of every other thread,
so each enrollment call first takes a permit from its family's limiter, shared by all threads of the process
for that account; the two families never wait on each other.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from reconciler.catalog import ENROLLMENT_RATE
from reconciler.errors import ProviderError

T = TypeVar("T")


class RateLimiter:
    """A token bucket of `rate` tokens in which a token comes back exactly `per` seconds after it was
    taken (a sliding window).

    A classic bucket that refills continuously lets a full burst and the refill land in the same second
    (up to 2x the rate in a one-second window); returning each token a full window later guarantees at
    most `rate` requests in any window. `margin` widens the window a little because the server counts
    arrivals, and two requests sent 1.0 s apart can arrive 0.99 s apart.
    """

    def __init__(self, rate: int, per: float = 1.0, margin: float = 0.1) -> None:
        if rate < 1 or per <= 0:
            raise ValueError("rate must be >= 1 and per > 0")
        self.rate = rate
        self.per = per
        self.window = per + margin
        self._taken: deque[float] = deque()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        while True:
            with self._lock:
                now = time.monotonic()
                while self._taken and now - self._taken[0] >= self.window:
                    self._taken.popleft()
                if len(self._taken) < self.rate:
                    self._taken.append(now)
                    return
                wait = self._taken[0] + self.window - now
            time.sleep(max(wait, 0.001))


_registry: dict[tuple[str, str], RateLimiter] = {}
_registry_lock = threading.Lock()


def account_key(*parts: str) -> str:
    """An opaque key for an account: a digest, so that no limiter registry ever holds an API key."""
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]


def shared_limiter(kind: str, account: str, rate: int, per: float = 1.0) -> RateLimiter:
    """The process-wide limiter of `kind` for `account` (one per account, whoever asks)."""
    with _registry_lock:
        limiter = _registry.get((kind, account))
        if limiter is None:
            limiter = _registry[(kind, account)] = RateLimiter(rate, per)
        return limiter


def enrollment_limiter(family: str, *account: str) -> RateLimiter:
    """The process-wide per-second limiter of one enrollment family (catalog.ENROLLMENT_RATE) of `account`."""
    return shared_limiter(f"dashscope-{family}", account_key(*account), ENROLLMENT_RATE[family])


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter for calls that may be repeated safely.

    `base` and `cap` are seconds; tests shrink them so that a burst of faults converges quickly."""

    attempts: int = 6
    base: float = 0.5
    cap: float = 8.0

    def sleep_for(self, attempt: int) -> float:
        import random

        return random.uniform(0, min(self.cap, self.base * (2 ** max(attempt - 1, 0))))

    def call(self, fn: Callable[[], T], *, retry_on: Callable[[BaseException], bool] | None = None) -> T:
        """Run `fn`, retrying while the error is retryable (by default a ProviderError flagged so)."""
        from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

        predicate = retry_on or is_retryable
        retrying = Retrying(
            retry=retry_if_exception(predicate),
            wait=wait_random_exponential(multiplier=self.base, max=self.cap),
            stop=stop_after_attempt(self.attempts),
            reraise=True,  # the caller sees our ProviderError, not tenacity's RetryError
        )
        return retrying(fn)


def is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, ProviderError) and exc.retryable
