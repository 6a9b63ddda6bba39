"""`voicectl audition` on the local provider: a labelled simulation, since nothing here can synthesize speech.

What comes back is the voice's own source audio (the file the simulated account cloned it from), cut to about
the length the text would take to read, at 24 kHz mono. It lets the command, its file, its duration and its
lint metrics be tried without an account; the label says plainly that no speech was synthesized.
"""

from __future__ import annotations

import numpy as np

from reconciler.audio.analysis import read_first_channel
from reconciler.audio.sample import wav_bytes
from reconciler.errors import ProviderError
from reconciler.providers.base import Synthesized
from reconciler.providers.local.db import AccountDb
from reconciler.providers.local.objects import resolve_audio_url
from reconciler.providers.local.voices import LocalVoiceService

SECONDS_PER_CHARACTER = 0.07  # a reading pace: about 14 characters a second
MIN_SECONDS, MAX_SECONDS = 2.0, 20.0
OUT_RATE = 24_000
LABEL = (
    "simulated by the local provider: the voice's own source audio, cut to the text's length; no speech was "
    "synthesized (provider aliyun synthesizes the text with the cloned voice)"
)


class LocalSpeech:
    def __init__(self, db: AccountDb, voices: LocalVoiceService):
        self._db, self._voices = db, voices

    def synthesize(self, *, voice_id: str, model: str, text: str) -> Synthesized:
        live = self._voices.query_voice(voice_id)
        if not live.resource_link:
            raise ProviderError(f"voice {voice_id} has no source audio in the local account")
        path = resolve_audio_url(self._db.objects_dir, live.resource_link)
        samples, rate = read_first_channel(path)
        seconds = min(MAX_SECONDS, max(MIN_SECONDS, len(text) * SECONDS_PER_CHARACTER))
        cut = samples[: int(seconds * rate)]
        out = np.interp(np.arange(0, len(cut), rate / OUT_RATE), np.arange(len(cut)), cut) if rate != OUT_RATE else cut
        return Synthesized(wav_bytes(out, OUT_RATE), simulated=LABEL)
