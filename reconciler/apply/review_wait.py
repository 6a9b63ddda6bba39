"""Waiting for the service's review of new and updated voices: DEPLOYING -> OK, or UNDEPLOYED.

One `list_voice` sweep per tick covers every pending voice (not one `query_voice` per voice), so the cost of
waiting is a page per 100 voices per tick whatever the number of voices. Ticks start short, because reviews
often finish within seconds, and back off so that a long review costs few calls; a tick that sees some voices
settle starts short again, since the rest of that wave is close behind.

The sweep is the port's `list_for_review(voice_ids)`, which may read less than the whole account (the aliyun
adapter lists only the CosyVoice voices of the pending voices' prefix: Qwen voices have no review, and in an
account shared by several configs the other prefixes' pages are not read).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from reconciler.model import VoiceStatus
from reconciler.providers.base import VoiceService

FIRST_TICK = 0.25
BACKOFF = 1.25
MAX_TICK = 5.0


@dataclass
class ReviewOutcome:
    statuses: dict[str, str] = field(default_factory=dict)  # voice id -> last status seen (absent: vanished)


def wait_for_review(
    voices: VoiceService,
    voice_ids: set[str],
    *,
    timeout: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    on_tick: Callable[[int, float], None] | None = None,
) -> ReviewOutcome:
    """Sweep until every voice left review or `timeout` passed. `on_tick(pending, elapsed)` hears of each
    sweep that leaves voices pending (a heartbeat for logs that would otherwise be silent for minutes)."""
    outcome = ReviewOutcome()
    pending = set(voice_ids)
    start = clock()
    deadline = start + timeout
    tick = FIRST_TICK
    while True:
        listed = {v.voice_id: v.status for v in voices.list_for_review(pending)}
        waiting = len(pending)
        for voice_id in list(pending):
            status = listed.get(voice_id)
            if status is None:
                outcome.statuses.pop(voice_id, None)
                pending.discard(voice_id)
            else:
                outcome.statuses[voice_id] = status
                if status != VoiceStatus.DEPLOYING:
                    pending.discard(voice_id)
        if not pending:
            return outcome
        if on_tick is not None:
            on_tick(len(pending), clock() - start)
        remaining = deadline - clock()
        if remaining <= 0:
            return outcome  # what is still DEPLOYING in it timed out
        sleep(min(tick, remaining))
        # Reviews end in waves (voices cloned in the same second finish close together), so once some of the
        # pending voices settled, the rest are probably close behind: go back to the short tick rather than
        # keep the backed-off one, which would see the last wave up to a quarter of the wait late. Each wave
        # costs a few extra calls; a wait with no progress still backs off to MAX_TICK.
        tick = FIRST_TICK if len(pending) < waiting else min(tick * BACKOFF, MAX_TICK)
