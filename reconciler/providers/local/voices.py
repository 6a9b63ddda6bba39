"""The simulated voice enrollment service: same ids, review states, quota and audio checks as the cloud."""

from __future__ import annotations

import datetime as dt
import re
import secrets
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from reconciler.catalog import COSYVOICE, MODELS, QWEN, ModelInfo
from reconciler.errors import AudioRejected, ProviderError, QuotaExceeded, VoiceNotFound
from reconciler.model import PREFIX_PATTERN, CloneOptions, CreatedVoice, LiveVoice, VoiceStatus
from reconciler.naming import QWEN_ID_HEAD, QWEN_ID_MARK, prefix_of, qwen_preferred_name
from reconciler.providers.local.db import AccountDb, Tx, iso
from reconciler.providers.local.objects import resolve_audio_url

# Review outcome of a file: "Code: message" strings, empty when it passes (reconciler.audio.review_audio).
Reviewer = Callable[[str, ModelInfo], list[str]]

# Refused synchronously by the cloud (HTTP 400 on create/update); every other finding is about the content,
# which CosyVoice only discovers in its review (the voice ends UNDEPLOYED).
FORMAT_CODES = frozenset(
    {
        "Audio.DecoderError",
        "Audio.AudioShortError",
        "Audio.FileSizeExceed",
        "Audio.AudioRateError",
        "BadRequest.UnsupportedFileFormat",
    }
)

VOICE_COLUMNS = "voice_id, model, display_name, resource_link, created, modified, ready_at, final_status, review_error"


def review_with_audio_module(path: str, model: ModelInfo) -> list[str]:
    """The simulated service review of `reconciler.audio.review` (imported on first use: it decodes with PyAV)."""
    from reconciler.audio.review import review_audio

    return list(review_audio(path, model=model))


def code_of(finding: str) -> str:
    return finding.split(":", 1)[0].strip()


def model_info(model: str) -> ModelInfo:
    # Seeded foreign voices may name a model voicectl does not clone with; treat those like CosyVoice.
    return MODELS.get(model) or ModelInfo(model, COSYVOICE, True, 16_000, False, True)


def status_at(ready_at: float, final_status: str, now: float) -> str:
    return VoiceStatus.DEPLOYING.value if now < ready_at else final_status


def row_to_live(row: tuple[Any, ...], now: float, *, with_link: bool) -> LiveVoice:
    voice_id, model, display_name, link, created, modified, ready_at, final_status, _ = row
    return LiveVoice(
        voice_id=voice_id,
        model=model,
        status=status_at(ready_at, final_status, now),
        prefix=prefix_of(voice_id),
        created=iso(created),
        modified=iso(modified),
        resource_link=link if with_link else None,
        display_name=display_name,
    )


def not_found(voice_id: str) -> VoiceNotFound:
    return VoiceNotFound(f"voice {voice_id} does not exist in the account", code="BadRequest.ResourceNotExist")


class LocalVoiceService:
    """The `VoiceService` port on the local account."""

    def __init__(
        self, db: AccountDb, *, quota: int, review_delay: float, reviewer: Reviewer = review_with_audio_module
    ):
        self._db = db
        self.quota = quota
        self.review_delay = review_delay
        self._reviewer = reviewer

    # ----------------------------------------------------------------------------------------- reads

    def list_voices(self) -> list[LiveVoice]:
        with self._db.call():
            rows = self._db.query(f"SELECT {VOICE_COLUMNS} FROM voices ORDER BY created, voice_id")
            now = time.time()
            # The cloud's list carries no resource_link; leaving it out keeps callers honest.
            return [row_to_live(r, now, with_link=False) for r in rows]

    def list_for_review(self, voice_ids: Iterable[str]) -> list[LiveVoice]:
        return self.list_voices()  # one local query either way

    def query_voice(self, voice_id: str) -> LiveVoice:
        with self._db.call():
            rows = self._db.query(f"SELECT {VOICE_COLUMNS} FROM voices WHERE voice_id = ?", (voice_id,))
            if not rows:
                raise not_found(voice_id)
            return row_to_live(rows[0], time.time(), with_link=True)

    # ---------------------------------------------------------------------------------------- writes

    def create_voice(
        self,
        *,
        name: str,
        model: str,
        prefix: str,
        audio_url: str,
        audio_key: str | None,
        options: CloneOptions,
    ) -> CreatedVoice:
        language = options.language
        with self._db.call():
            info = MODELS.get(model)
            if info is None:
                raise ProviderError(f"unknown target_model {model!r}", code="InvalidParameter")
            if not re.fullmatch(PREFIX_PATTERN, prefix or ""):
                raise ProviderError(f"invalid prefix {prefix!r}: must match {PREFIX_PATTERN}", code="InvalidParameter")
            # An early answer before reading the audio; the count that decides is the one inside the transaction.
            self._check_quota(self._db.query("SELECT COUNT(*) FROM voices")[0][0])
            findings = self._review(audio_url, info)
            display_name = None
            if info.family == QWEN:
                display_name = qwen_preferred_name(prefix, name)
                voice_id = _qwen_voice_id(display_name)
            else:
                voice_id = f"{model}-{prefix}-{uuid.uuid4().hex}"
            with self._db.transaction() as tx:
                self._check_quota(tx.scalar("SELECT COUNT(*) FROM voices"))
                now = time.time()
                ready_at, final, error = self._outcome(tx, info, findings, now)
                tx.execute(
                    "INSERT INTO voices (voice_id, model, display_name, language, resource_link, created,"
                    " modified, ready_at, final_status, review_error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (voice_id, model, display_name, language, audio_url, now, now, ready_at, final, error),
                )
            return CreatedVoice(voice_id)

    def update_voice(self, voice_id: str, *, audio_url: str) -> None:
        with self._db.call():
            rows = self._db.query("SELECT model FROM voices WHERE voice_id = ?", (voice_id,))
            if not rows:
                raise not_found(voice_id)
            info = model_info(rows[0][0])
            if not info.supports_update:
                raise ProviderError(
                    f"voice {voice_id} ({info.name}) cannot be updated: this model has no update, replace it",
                    code="BadRequest.UnsupportedOperation",
                )
            findings = self._review(audio_url, info)
            with self._db.transaction() as tx:
                if tx.one("SELECT 1 FROM voices WHERE voice_id = ?", (voice_id,)) is None:
                    raise not_found(voice_id)  # deleted while we read the audio
                now = time.time()
                ready_at, final, error = self._outcome(tx, info, findings, now)
                tx.execute(
                    "UPDATE voices SET resource_link = ?, modified = ?, ready_at = ?, final_status = ?,"
                    " review_error = ? WHERE voice_id = ?",
                    (audio_url, now, ready_at, final, error, voice_id),
                )

    def delete_voice(self, voice_id: str) -> None:
        with self._db.call(), self._db.transaction() as tx:
            tx.execute("DELETE FROM voices WHERE voice_id = ?", (voice_id,))

    # --------------------------------------------------------------------------------------- helpers

    def _check_quota(self, count: int) -> None:
        if count >= self.quota:
            raise QuotaExceeded(
                f"voice quota exceeded: the account holds {count} voices and its quota is {self.quota}; "
                "delete a voice first",
                code="Throttling.AllocationQuota",
            )

    def _review(self, audio_url: str, info: ModelInfo) -> list[str]:
        """Fetch and check the audio; raise AudioRejected for what the cloud refuses synchronously."""
        path = resolve_audio_url(self._db.objects_dir, audio_url)
        findings = self._reviewer(path, info)
        rejected = [f for f in findings if code_of(f) in FORMAT_CODES]
        if not info.has_review:
            rejected = findings  # no asynchronous review: content problems are refused at once too
        if rejected:
            raise AudioRejected("audio rejected: " + "; ".join(rejected), code=code_of(rejected[0]))
        return findings

    def _outcome(self, tx: Tx, info: ModelInfo, findings: list[str], now: float) -> tuple[float, str, str | None]:
        """(ready_at, final status, review error) of a voice whose audio was just accepted."""
        if not info.has_review:
            return now, VoiceStatus.OK.value, None
        errors = list(findings)
        forced = tx.one("SELECT seq, error FROM review_failures ORDER BY seq LIMIT 1")
        if forced is not None:
            tx.execute("DELETE FROM review_failures WHERE seq = ?", (forced[0],))
            errors.append(forced[1])
        final = VoiceStatus.UNDEPLOYED.value if errors else VoiceStatus.OK.value
        return now + self.review_delay, final, "; ".join(errors) or None

    def close(self) -> None:
        self._db.close()


def _qwen_voice_id(preferred_name: str) -> str:
    now = dt.datetime.now(dt.UTC)
    stamp = now.strftime("%Y%m%d%H%M%S") + f"{now.microsecond // 1000:03d}"
    return f"{QWEN_ID_HEAD}{preferred_name}{QWEN_ID_MARK}{stamp}-{secrets.token_hex(2)}"
