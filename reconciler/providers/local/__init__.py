"""The embedded local provider: a simulated Alibaba Cloud account in `.voicectl/local/` next to voices.yaml.

Same semantics as the cloud where voicectl depends on them: voice ids, review states (DEPLOYING -> OK or
UNDEPLOYED, lazily from timestamps), the quota, the audio checks, expiring audio URLs, and agents whose TTS
nodes and running instances bindings update. No credentials, no network.

Environment: `VOICECTL_LOCAL_REVIEW_DELAY` (seconds a CosyVoice review takes, default 2.0) and
`VOICECTL_LOCAL_LATENCY` (seconds added to every port call, for crash tests).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from reconciler.errors import VoicectlError
from reconciler.model import Desired
from reconciler.naming import prefix_of
from reconciler.providers.base import Provider
from reconciler.providers.local.account import LocalAccount
from reconciler.providers.local.binder import LocalBinder
from reconciler.providers.local.db import AccountDb, env_seconds, local_dir
from reconciler.providers.local.objects import LocalAudioStore, resolve_audio_url
from reconciler.providers.local.speech import LocalSpeech
from reconciler.providers.local.voices import (
    FORMAT_CODES,
    LocalVoiceService,
    Reviewer,
    review_with_audio_module,
)
from reconciler.state.local import LocalStateStore

DEFAULT_REVIEW_DELAY = 2.0

__all__ = [
    "DEFAULT_REVIEW_DELAY",
    "FORMAT_CODES",
    "LocalAccount",
    "LocalAudioStore",
    "LocalBinder",
    "LocalVoiceService",
    "Reviewer",
    "local_dir",
    "open_local",
    "prefix_of",
    "resolve_audio_url",
]


def open_local(desired: Desired, env: Mapping[str, str], *, reviewer: Reviewer = review_with_audio_module) -> Provider:
    """Open (creating if needed) the local account of `desired`. `reviewer` is for tests only."""
    if desired.account.state.backend == "oss":
        raise VoicectlError(
            "state backend 'oss' needs provider 'aliyun' (the local provider has no OSS bucket): "
            "set account.state.backend: local, or account.provider: aliyun"
        )
    review_delay = env_seconds(env, "VOICECTL_LOCAL_REVIEW_DELAY", DEFAULT_REVIEW_DELAY)
    db = AccountDb(desired.base_dir, env)
    state_path = os.path.join(desired.base_dir, desired.account.state.path)
    voices = LocalVoiceService(db, quota=desired.account.quota, review_delay=review_delay, reviewer=reviewer)
    return Provider(
        name="local",
        voices=voices,
        audio=LocalAudioStore(db),
        binder=LocalBinder(db),
        state=LocalStateStore(state_path),
        notes=(f"provider local is a simulation kept in {db.dir}: no cloud account is touched",),
        speech=LocalSpeech(db, voices),
    )
