"""The emulator's rules for speech synthesis (`voicectl audition`), shared by both WebSocket endpoints: which
voice may speak through which model, the account's synthesis rate, and the faults a test injects (a dropped
connection, a failed task). A mixin of `Emulator` (it holds the voices these methods read)."""

from __future__ import annotations

import threading
import time
import uuid
from collections import deque
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.emulator._state import _Voice

THROTTLED = ("Throttling.RateQuota", "Requests rate limit exceeded, please try again later.")


class SynthesisRules:
    lock: threading.RLock
    _voices: dict[str, _Voice]

    def _init_synthesis(self, synthesis_rate: int | None) -> None:
        # Synthesis tasks the account may start per second, both families together (over it: Throttling).
        self.synthesis_rate = synthesis_rate
        self._synthesis_started: deque[float] = deque()
        self._synthesis_drops = 0
        self._synthesis_failures: deque[tuple[str, str]] = deque()
        self._muted: set[str] = set()
        self._synthesized: dict[str, bytes] = {}  # HTTP synthesis answers, by id, until downloaded (or forever)

    def drop_next_synthesis(self, times: int = 1) -> None:
        """The next `times` synthesis tasks lose their connection before they start (a dropped connection)."""
        with self.lock:
            self._synthesis_drops += times

    def fail_next_synthesis(
        self, code: str = "InternalError", message: str = "Internal server error", times: int = 1
    ) -> None:
        """The next `times` synthesis tasks fail with `code` once they have started (a `task-failed` frame on
        the inference endpoint, an `error` event on the realtime one)."""
        with self.lock:
            self._synthesis_failures.extend([(code, message)] * times)

    def mute_voice(self, voice_id: str) -> None:
        """`voice_id` passes its review but speaks low noise: a failed clone only a listener notices."""
        with self.lock:
            self._muted.add(voice_id)

    def _is_muted(self, voice_id: str) -> bool:
        with self.lock:
            return voice_id in self._muted

    def _keep_synthesized(self, wav: bytes) -> str:
        audio_id = uuid.uuid4().hex
        with self.lock:
            self._synthesized[audio_id] = wav
        return audio_id

    def _synthesized_audio(self, audio_id: str) -> bytes | None:
        with self.lock:
            return self._synthesized.get(audio_id)

    def _take_synthesis_drop(self) -> bool:
        with self.lock:
            if self._synthesis_drops > 0:
                self._synthesis_drops -= 1
                return True
            return False

    def _take_synthesis_failure(self) -> tuple[str, str] | None:
        with self.lock:
            return self._synthesis_failures.popleft() if self._synthesis_failures else None

    def _admit_synthesis(self) -> tuple[str, str] | None:
        """None when a new task fits the account's synthesis rate (sliding one-second window), else the error."""
        if self.synthesis_rate is None:
            return None
        now = time.monotonic()
        with self.lock:
            started = self._synthesis_started
            while started and now - started[0] >= 1.0:
                started.popleft()
            if len(started) >= self.synthesis_rate:
                return THROTTLED
            started.append(now)
        return None

    def _synthesis_problem(self, voice_id: str, model: str, family: str) -> tuple[str, str] | None:
        """Why `voice_id` cannot speak through `model` of `family`, as (code, message); None when it can."""
        with self.lock:
            voice = self._voices.get(voice_id)
            if voice is None:
                return "InvalidParameter", f"voice {voice_id} does not exist"
            if voice.family != family:
                return "InvalidParameter", f"voice {voice_id} is a {voice.family} voice: not for {model}"
            if voice.target_model != model:
                return "InvalidParameter", f"voice {voice_id} belongs to {voice.target_model}, not {model}"
            status = voice.status(time.monotonic())
        if status != "OK":
            return "InvalidParameter", f"voice {voice_id} is {status}"
        return None
