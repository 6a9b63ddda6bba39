"""What the simulated service review decides (local provider, cloud emulator): the service's rules, then the
audio lint's errors. A file that `voicectl lint` rejects fails the review here, so the local provider shows
what the cloud is expected to do, and the emulator and voicectl's own validation never disagree.

Lint warnings (noise, clipping, loudness, bandwidth, length) do not fail it: they predict a poor clone, not
a rejection. What the lint cannot hear (music without a steady bed, a second speaker) passes here and may
still fail the real review (see REVIEW_CHECKLIST, shown to users when a review fails).
"""

from __future__ import annotations

from reconciler.audio.lint import CHECKS, lint_file
from reconciler.catalog import ModelInfo


def review_audio(path: str, *, model: ModelInfo, recorded: bool = False) -> list[str]:
    """Failure reasons of a simulated service review, "Code: message"; an empty list passes.

    Like the service, it stops at the file's declared properties when those already fail (the cloud refuses
    those at once), and judges the content only when they pass."""
    errors = [f for f in lint_file(path, model=model, recorded=recorded).findings if f.error]
    declared = [f for f in errors if f.check not in CHECKS]
    return [f"{f.code}: {f.message}" for f in (declared or errors)]
