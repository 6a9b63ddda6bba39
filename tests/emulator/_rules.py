"""The emulator's account-wide limits and access rules: rate windows per enrollment family, denied models
and OSS actions, degraded Qwen creates. A mixin of `Emulator` (it holds the state these methods read)."""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.emulator._state import Call


class AccountRules:
    lock: threading.RLock
    rate_limit: int | None
    qwen_rate_limit: int | None
    denied_models: set[str]
    denied_oss_actions: set[str]
    _admitted: dict[str, deque[float]]
    _qwen_fallbacks: deque[str]

    @property
    def calls(self) -> list[Call]:
        raise NotImplementedError

    def max_rate(self, service: str, window: float = 1.0, *, family: str | None = None) -> float:
        """The most requests (of any outcome) that arrived within one `window` seconds, per second.

        `family` ("cosyvoice" or "qwen") counts only that DashScope enrollment family's requests."""
        model = {"cosyvoice": "voice-enrollment", "qwen": "qwen-voice-enrollment"}.get(family or "")
        times = sorted(
            c.at for c in self.calls if c.service == service and (model is None or c.params.get("model") == model)
        )
        best, start = 0, 0
        for end, t in enumerate(times):
            while t - times[start] >= window:
                start += 1
            best = max(best, end - start + 1)
        return best / window

    def _admit_enrollment(self, family: str) -> tuple[str, str] | None:
        """None when the request is within its family's limits, else the (code, message) of the 429.

        The families are counted apart: CosyVoice 10 per second across its versions (sliding one-second
        window); Qwen 180 per minute, and at most RPM/60 in any one second (a burst over it is refused even
        while the minute's total is fine)."""
        if self.rate_limit is None:
            return None
        now = time.monotonic()
        with self.lock:
            seen = self._admitted[family]
            while seen and now - seen[0] >= 60.0:
                seen.popleft()
            last_second = sum(1 for t in seen if now - t < 1.0)
            if family == "cosyvoice":
                if last_second >= self.rate_limit:
                    return ("Throttling.RateQuota", "Requests rate limit exceeded, please try again later.")
            elif self.qwen_rate_limit is not None:
                if len(seen) >= self.qwen_rate_limit:
                    return ("Throttling.RateQuota", "Requests rate limit exceeded, please try again later.")
                if last_second >= max(1, self.qwen_rate_limit // 60):
                    return ("Throttling.BurstRate", "Request rate increased too quickly, please slow down.")
            seen.append(now)
            return None

    def deny_oss_action(self, action: str) -> None:
        """Answer `action` (e.g. "GetBucketVersioning") with 403 AccessDenied, as OSS does when the RAM
        policy of the AccessKey lacks `oss:<action>`."""
        with self.lock:
            self.denied_oss_actions.add(action)

    def deny_model(self, model: str) -> None:
        """Creates for `model` get 403 Model.AccessDenied (not activated for the account or workspace)."""
        with self.lock:
            self.denied_models.add(model)

    def degrade_next_qwen_create(self, reason: str = "no_valid_asr_segments") -> None:
        """The next Qwen create succeeds in degraded mode: `fallback_mode: true` with `reason`."""
        with self.lock:
            self._qwen_fallbacks.append(reason)

    def _take_qwen_fallback(self) -> str | None:
        with self.lock:
            return self._qwen_fallbacks.popleft() if self._qwen_fallbacks else None
