"""Reading the live account through the ports: the third input of the planner.

The floor is one `list_voice` page per 100 voices. Voices that carry our prefix but that the state does not
know are queried for their `resource_link` (the audio they were cloned from), because that is how a voice
whose create response was lost is recognised; in a healthy account there are none, so no extra calls.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from reconciler.catalog import COSYVOICE, MODELS
from reconciler.errors import VoiceNotFound
from reconciler.model import Desired, LiveSnapshot, LiveVoice, StateDoc
from reconciler.providers.base import Provider


def read_live(provider: Provider, desired: Desired, state: StateDoc) -> LiveSnapshot:
    voices = provider.voices.list_voices()
    known = state.voice_ids()
    unknown = [
        v
        for v in voices
        if v.prefix == desired.account.prefix
        and v.voice_id not in known
        and v.resource_link is None
        and MODELS.get(v.model) is not None
        and MODELS[v.model].family == COSYVOICE
    ]
    if unknown:
        with ThreadPoolExecutor(max_workers=min(10, len(unknown))) as pool:
            detailed = {v.voice_id: v for v in pool.map(lambda v: _query(provider, v), unknown)}
        voices = [detailed.get(v.voice_id, v) for v in voices]
    bindings = provider.binder.read_bindings(desired.bindings, state)
    return LiveSnapshot(voices=tuple(sorted(voices, key=lambda v: v.voice_id)), bindings=tuple(bindings))


def _query(provider: Provider, voice: LiveVoice) -> LiveVoice:
    try:
        return provider.voices.query_voice(voice.voice_id)
    except VoiceNotFound:
        return voice  # deleted between list and query: the planner sees it as listed
