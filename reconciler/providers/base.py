"""The ports: what the core needs from an account, as small Protocols.

The planner never sees these; the reader (`reconciler.providers.snapshot`) and the executor do. Each provider (`local`,
`aliyun`) implements all four and is opened through `reconciler.providers.open_provider`. Nothing above this
package imports a cloud SDK.

Error contract for every method: raise `reconciler.errors.ProviderError` (or a subclass) with a message fit
for the user and `retryable=True` only when the same call may be repeated safely. Adapters retry throttling
and 5xx themselves; what reaches the core is final.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from reconciler.model import BindingSpec, CloneOptions, CreatedVoice, LiveBinding, LiveVoice, LockInfo, StateDoc


@runtime_checkable
class VoiceService(Protocol):
    """Cloned voices in one account (DashScope voice enrollment, or the local simulation)."""

    def list_voices(self) -> list[LiveVoice]:
        """Every voice in the account, all prefixes (unmanaged ones count toward the quota).

        Paged internally (100 per page); `resource_link` is not filled (list does not return it)."""
        ...

    def list_for_review(self, voice_ids: Iterable[str]) -> list[LiveVoice]:
        """At least every voice among `voice_ids` that still exists, for the review wait's one sweep per
        tick. A service may read less than the whole account (aliyun: only the pending voices' prefix)."""
        ...

    def query_voice(self, voice_id: str) -> LiveVoice:
        """One voice with its `resource_link`. Raises VoiceNotFound."""
        ...

    def create_voice(
        self, *, name: str, model: str, prefix: str, audio_url: str, audio_key: str | None, options: CloneOptions
    ) -> CreatedVoice:
        """Clone a voice and return its id (with any warning the service gave). Not idempotent: an adapter
        must never blindly retry it. `audio_url` may be a data URI where the model accepts one (inline
        delivery); `options` carries only what the model takes (the config checks that offline).

        After an ambiguous failure (timeout, dropped connection) the adapter looks for a voice of `prefix`
        whose resource_link points at `audio_key` (or `audio_url`) and returns its id instead of cloning
        twice. Raises QuotaExceeded, AudioRejected, ProviderError."""
        ...

    def update_voice(self, voice_id: str, *, audio_url: str) -> None:
        """Replace the audio of a voice, keeping its id (CosyVoice only); the voice goes back under review."""
        ...

    def delete_voice(self, voice_id: str) -> None:
        """Delete a voice. A voice that is already gone is not an error."""
        ...


@dataclass(frozen=True)
class Synthesized:
    """Speech made with a cloned voice: a WAV file's bytes, and what it is when it is not the service's own
    synthesis (the local provider's labelled simulation)."""

    wav: bytes
    simulated: str | None = None
    first_audio_seconds: float | None = None  # from the request to the first audio byte, when measured


@runtime_checkable
class SpeechService(Protocol):
    """Speech synthesis with a cloned voice (`voicectl audition`)."""

    def synthesize(self, *, voice_id: str, model: str, text: str) -> Synthesized: ...


@runtime_checkable
class AudioStore(Protocol):
    """Where local source audio is uploaded so the cloning service can fetch it."""

    def ensure_uploaded(self, *, path: str, key: str, sha256: str, content_type: str) -> bool:
        """Upload `path` under `key` unless an object is already there (content-addressed keys make
        presence proof of identity). Returns True when it uploaded."""
        ...

    def signed_url(self, key: str, ttl: int) -> str:
        """A URL the cloning service can GET for `ttl` seconds. Never stored anywhere."""
        ...

    def url_for(self, ref: str, ttl: int) -> str:
        """The fetchable URL for remote audio written in voices.yaml (`oss://bucket/key` is signed,
        `https://` passes through)."""
        ...


@runtime_checkable
class Binder(Protocol):
    """Agents' TTS nodes: which voice id each speaks with."""

    def read_bindings(self, targets: Iterable[BindingSpec], state: StateDoc) -> list[LiveBinding]:
        """The live binding of every agent/node in `targets` and in `state.bindings`."""
        ...

    def bind(self, *, agent: str, node: str, voice_id: str, instances: tuple[str, ...]) -> None:
        """Point the agent's TTS node (and the listed running instances) at `voice_id`."""
        ...

    def unbind(self, *, agent: str, node: str, instances: tuple[str, ...]) -> None:
        """Stop setting a voice on the node: sessions fall back to the workflow's console default."""
        ...


@runtime_checkable
class StateStore(Protocol):
    """The state document and its lock. Writes are compare-and-swap on the serial."""

    location: str  # human-readable: a path or oss://bucket/key

    def read(self) -> StateDoc:
        """The newest state; an empty document (serial 0) when none exists. Raises StateCorrupt."""
        ...

    def write(self, doc: StateDoc, lock: LockInfo) -> StateDoc:
        """Store `doc` as serial `doc.serial + 1` (lineage kept, or set when empty) and return what was
        stored. Raises StateConflict when a newer serial exists or `lock` is no longer the lock held."""
        ...

    def acquire_lock(self, operation: str, timeout: float = 0.0) -> LockInfo:
        """Take the lock, waiting up to `timeout` seconds; take it over (with a logged note) when its holder
        is dead or its lease expired. Raises LockHeld naming the holder."""
        ...

    def renew_lock(self, lock: LockInfo) -> LockInfo | None:
        """Extend `lock`'s lease; the renewed lock, or None when the lock is no longer `lock`."""
        ...

    def release_lock(self, lock: LockInfo) -> None: ...

    def current_lock(self) -> LockInfo | None: ...

    def force_unlock(self, lock_id: str) -> LockInfo:
        """Remove the lock if its id is `lock_id`; raises VoicectlError for a wrong id or no lock."""
        ...


@dataclass
class Provider:
    """An opened account: the four ports plus a name for messages."""

    name: str
    voices: VoiceService
    audio: AudioStore
    binder: Binder
    state: StateStore
    # Things the plan must say plainly because no API can reach them (shown as notes in plans).
    notes: tuple[str, ...] = ()
    # None where audition is not built yet (provider aliyun: DashScope's WebSocket synthesis is the next slice).
    speech: SpeechService | None = None

    def close(self) -> None:
        for port in (self.voices, self.audio, self.binder, self.state):
            close = getattr(port, "close", None)
            if callable(close):
                close()

    def __enter__(self) -> Provider:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
