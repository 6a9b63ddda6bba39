"""An in-memory account behind our own ports, for testing the planner and executor exhaustively.

It keeps the cloud's rules that the properties are about: the quota is enforced on create, reviews take one
`list_voices` tick, deleting a voice that a binding in config still speaks with is recorded as a violation,
and the peak number of voices is tracked. (The real adapters are tested against the emulator instead.)
"""

from __future__ import annotations

import dataclasses
import itertools
import threading
import uuid
from collections.abc import Iterable

from reconciler.catalog import MODELS
from reconciler.errors import LockHeld, QuotaExceeded, StateConflict, VoicectlError, VoiceNotFound
from reconciler.model import (
    AccountSpec,
    AudioSource,
    BindingSpec,
    CloneOptions,
    CreatedVoice,
    Desired,
    Guards,
    LiveBinding,
    LiveVoice,
    LockInfo,
    StateDoc,
    VoiceSpec,
)
from reconciler.naming import cosyvoice_prefix_of
from reconciler.providers.base import Provider


class FakeAccount:
    def __init__(self, quota: int = 30, review_ticks: int = 1):
        self.quota = quota
        self.review_ticks = review_ticks
        self.voices: dict[str, dict] = {}
        self.nodes: dict[tuple[str, str], str | None] = {}
        self.objects: dict[str, str] = {}
        self.peak = 0
        self.violations: list[str] = []
        self.calls: list[str] = []
        self.protected_bindings: set[tuple[str, str]] = set()  # nodes whose voice must never be deleted
        self.fail_review: set[str] = set()  # audio keys whose review fails
        self._ids = itertools.count(1)
        self._mutex = threading.RLock()

    # -- VoiceService -------------------------------------------------------------------------------
    def list_voices(self) -> list[LiveVoice]:
        with self._mutex:
            self.calls.append("list")
            out = []
            for v in self.voices.values():
                if v["status"] == "DEPLOYING":
                    v["ticks"] -= 1
                    if v["ticks"] < 0:
                        v["status"] = "UNDEPLOYED" if v["fail"] else "OK"
                out.append(self._live(v, with_link=False))
            return out

    def list_for_review(self, voice_ids: Iterable[str]) -> list[LiveVoice]:
        return self.list_voices()

    def _live(self, v: dict, with_link: bool) -> LiveVoice:
        return LiveVoice(
            voice_id=v["id"],
            model=v["model"],
            status=v["status"],
            prefix=v["prefix"],
            created=v["created"],
            modified=v["modified"],
            resource_link=v["link"] if with_link else None,
        )

    def query_voice(self, voice_id: str) -> LiveVoice:
        with self._mutex:
            self.calls.append("query")
            if voice_id not in self.voices:
                raise VoiceNotFound(f"voice {voice_id} not found", code="BadRequest.ResourceNotExist")
            return self._live(self.voices[voice_id], with_link=True)

    def create_voice(
        self, *, name: str, model: str, prefix: str, audio_url: str, audio_key: str | None, options: CloneOptions
    ) -> CreatedVoice:
        with self._mutex:
            self.calls.append("create")
            if len(self.voices) >= self.quota:
                raise QuotaExceeded(f"quota of {self.quota} voices reached", code="Throttling.AllocationQuota")
            voice_id = f"{model}-{prefix}-{next(self._ids):032x}"
            self.add(voice_id, model, status="DEPLOYING" if MODELS[model].has_review else "OK", link=audio_url)
            self.voices[voice_id]["fail"] = any(k in audio_url for k in self.fail_review)
            return CreatedVoice(voice_id)

    def update_voice(self, voice_id: str, *, audio_url: str) -> None:
        with self._mutex:
            self.calls.append("update")
            v = self.voices[voice_id]
            v.update(link=audio_url, status="DEPLOYING", ticks=self.review_ticks, modified=str(next(self._ids)))
            v["fail"] = any(k in audio_url for k in self.fail_review)

    def delete_voice(self, voice_id: str) -> None:
        with self._mutex:
            self.calls.append("delete")
            for node, current in self.nodes.items():
                if current == voice_id and node in self.protected_bindings:
                    self.violations.append(f"deleted {voice_id} while {node} still speaks with it")
            self.voices.pop(voice_id, None)

    # -- seeding ------------------------------------------------------------------------------------------
    def add(self, voice_id: str, model: str, status: str = "OK", link: str | None = None) -> None:
        with self._mutex:
            prefix = cosyvoice_prefix_of(voice_id)
            n = str(next(self._ids))
            self.voices[voice_id] = dict(
                id=voice_id, model=model, status=status, prefix=prefix, created=n, modified=n, link=link,
                ticks=self.review_ticks, fail=False,
            )  # fmt: skip
            self.peak = max(self.peak, len(self.voices))
            if len(self.voices) > self.quota:
                self.violations.append(f"quota exceeded: {len(self.voices)} > {self.quota}")

    # -- AudioStore -----------------------------------------------------------------------------------------
    def ensure_uploaded(self, *, path: str, key: str, sha256: str, content_type: str) -> bool:
        with self._mutex:
            if key in self.objects:
                return False
            self.objects[key] = sha256
            return True

    def signed_url(self, key: str, ttl: int) -> str:
        return f"https://bucket.example/{key}?Expires=1&Signature=x"

    def url_for(self, ref: str, ttl: int) -> str:
        return ref

    # -- Binder ----------------------------------------------------------------------------------------------
    def read_bindings(self, targets: Iterable[BindingSpec], state: StateDoc) -> list[LiveBinding]:
        with self._mutex:
            wanted = {(t.agent, t.node) for t in targets} | {(b.agent, b.node) for b in state.bindings.values()}
            return [LiveBinding(a, n, self.nodes.get((a, n))) for a, n in sorted(wanted)]

    def bind(self, *, agent: str, node: str, voice_id: str, instances: tuple[str, ...]) -> None:
        with self._mutex:
            self.calls.append("bind")
            v = self.voices.get(voice_id)
            if v is None or v["status"] != "OK":
                raise VoicectlError(f"cannot bind {voice_id}: not an OK voice")
            self.nodes[(agent, node)] = voice_id

    def unbind(self, *, agent: str, node: str, instances: tuple[str, ...]) -> None:
        with self._mutex:
            self.calls.append("unbind")
            self.nodes[(agent, node)] = None


class MemoryStateStore:
    location = "memory"

    def __init__(self) -> None:
        self.doc = StateDoc()
        self.lock: LockInfo | None = None
        self.writes = 0

    def read(self) -> StateDoc:
        return self.doc

    def write(self, doc: StateDoc, lock: LockInfo) -> StateDoc:
        if self.lock is None or self.lock.id != lock.id:
            raise StateConflict("lock was broken")
        if doc.serial != self.doc.serial:
            raise StateConflict(f"stored serial {self.doc.serial}, expected {doc.serial}")
        self.doc = dataclasses.replace(doc, serial=doc.serial + 1, lineage=doc.lineage or "test-lineage")
        self.writes += 1
        return self.doc

    def acquire_lock(self, operation: str, timeout: float = 0.0) -> LockInfo:
        if self.lock is not None:
            raise LockHeld(self.lock, self.location)
        self.lock = LockInfo(str(uuid.uuid4()), operation, "test@host", "2026-01-01T00:00:00Z")
        return self.lock

    def renew_lock(self, lock: LockInfo) -> LockInfo | None:
        return lock if self.lock and self.lock.id == lock.id else None

    def release_lock(self, lock: LockInfo) -> None:
        if self.lock and self.lock.id == lock.id:
            self.lock = None

    def current_lock(self) -> LockInfo | None:
        return self.lock

    def force_unlock(self, lock_id: str) -> LockInfo:
        assert self.lock and self.lock.id == lock_id
        held, self.lock = self.lock, None
        return held


def fake_provider(account: FakeAccount, store: MemoryStateStore) -> Provider:
    return Provider("fake", account, account, account, store)  # type: ignore[arg-type]


def voice(name: str, audio: str = "a", model: str = "cosyvoice-v2", **kw: object) -> VoiceSpec:
    sha = (audio * 64)[:64]
    src = AudioSource(ref=f"audio/{audio}.wav", path=f"/p/audio/{audio}.wav", sha256=sha, ext="wav")
    return VoiceSpec(name=name, audio=src, model=model, **kw)  # type: ignore[arg-type]


def desired(
    voices: Iterable[VoiceSpec],
    bindings: Iterable[BindingSpec] = (),
    *,
    quota: int = 30,
    prefix: str = "t",
    max_deletes: int = 3,
    fraction: float = 0.3,
) -> Desired:
    return Desired(
        path="/p/voices.yaml",
        base_dir="/p",
        file_sha256=uuid.uuid4().hex,
        account=AccountSpec(quota=quota, prefix=prefix, guards=Guards(max_deletes, fraction)),
        voices=tuple(voices),
        bindings=tuple(bindings),
    )


def binding(agent: str, voice_name: str, model: str = "cosyvoice-v2", **kw: object) -> BindingSpec:
    return BindingSpec(agent=agent, voice=voice_name, model=model, **kw)  # type: ignore[arg-type]
