"""VoiceService on DashScope: CosyVoice enrollment (create/list/query/update/delete) plus Qwen (qwen.py).

Retries: list, query, update and delete are repeated on 429, 5xx and transport errors with backoff.
create is never repeated blindly: after an ambiguous failure the voice is looked up first (see `create`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from reconciler.catalog import MODELS, QWEN
from reconciler.errors import ProviderError, VoiceNotFound
from reconciler.model import CloneOptions, CreatedVoice, LiveVoice
from reconciler.naming import cosyvoice_model_of, cosyvoice_prefix_of, enrollment_family, resource_link_matches
from reconciler.providers.aliyun.create import DEFAULT_SETTLE, EnrollmentClient, create_without_duplicates
from reconciler.providers.aliyun.dashscope_http import DashScopeHttp
from reconciler.providers.aliyun.errors import strip_query
from reconciler.providers.aliyun.paging import PAGE_SIZE, paged
from reconciler.providers.aliyun.qwen import QwenVoiceClient
from reconciler.providers.aliyun.ratelimit import RetryPolicy

log = logging.getLogger("voicectl.aliyun")


class CosyVoiceClient(EnrollmentClient):
    """CosyVoice enrollment (`model: voice-enrollment`)."""

    def list_all(
        self, prefix: str | None = None, *, enough: Callable[[list[dict[str, Any]]], bool] | None = None
    ) -> list[LiveVoice]:
        def fetch(index: int) -> tuple[list[dict[str, Any]], int | None]:
            payload: dict[str, Any] = {"action": "list_voice", "page_index": index, "page_size": PAGE_SIZE}
            if prefix:
                payload["prefix"] = prefix
            # No total in the answer: only an empty page ends the list (a page may be shorter than asked).
            return list(self.http.cosyvoice(payload).get("voice_list") or []), None

        items = paged(fetch, self.policy, key="voice_id", what="CosyVoice voices", enough=enough)
        return [self._live(item) for item in items if item.get("voice_id")]

    def query(self, voice_id: str) -> LiveVoice:
        out = self.policy.call(
            lambda: self.http.cosyvoice({"action": "query_voice", "voice_id": voice_id}, voice_id=voice_id)
        )
        return self._live({**out, "voice_id": voice_id})

    def update(self, voice_id: str, audio_url: str) -> None:
        # Repeating an update with the same URL leaves the same result, so it is retried like a read.
        self.policy.call(
            lambda: self.http.cosyvoice(
                {"action": "update_voice", "voice_id": voice_id, "url": audio_url}, voice_id=voice_id
            )
        )

    def delete(self, voice_id: str) -> None:
        try:
            self.policy.call(
                lambda: self.http.cosyvoice({"action": "delete_voice", "voice_id": voice_id}, voice_id=voice_id)
            )
        except VoiceNotFound:
            # Already gone (or our first attempt's answer was lost): the goal is reached.
            log.debug("dashscope delete_voice voice=%s already absent", voice_id)

    def create(self, *, model: str, prefix: str, audio_url: str, audio_key: str | None, options: CloneOptions) -> str:
        """Clone once; after an ambiguous failure (timeout, dropped connection, 5xx) look for the voice
        this create may have made and return it, and only when it is absent try again. A 429 means the
        request was refused before any work, so it is repeated after backoff."""
        payload: dict[str, Any] = {"action": "create_voice", "target_model": model, "prefix": prefix, "url": audio_url}
        info = MODELS.get(model)
        # Only what the target takes (see catalog): the service refuses an option its model does not know.
        if options.language and (info is None or options.language in info.languages):
            payload["language_hints"] = [options.language]
        if options.max_prompt_audio_length is not None:
            payload["max_prompt_audio_length"] = options.max_prompt_audio_length
        if options.enable_preprocess is not None:
            payload["enable_preprocess"] = options.enable_preprocess
        return create_without_duplicates(
            lambda: str(self.http.cosyvoice(payload)["voice_id"]),
            lambda: self.find_created(model=model, prefix=prefix, source=audio_key or audio_url),
            policy=self.policy,
            create_attempts=self.create_attempts,
            settle=self.settle,
        )

    def find_created(self, *, model: str, prefix: str, source: str) -> str | None:
        """A voice of `prefix` and `model` cloned from `source` (object key or URL), newest first."""
        candidates = [v for v in self.list_all(prefix) if v.model == model and v.prefix == prefix]
        candidates.sort(key=lambda v: v.created or "", reverse=True)
        for voice in candidates:
            try:
                detail = self.query(voice.voice_id)
            except VoiceNotFound:
                continue
            if resource_link_matches(detail.resource_link, source):
                return voice.voice_id
        return None

    @staticmethod
    def _live(item: dict[str, Any]) -> LiveVoice:
        voice_id = str(item["voice_id"])
        return LiveVoice(
            voice_id=voice_id,
            model=str(item.get("target_model") or cosyvoice_model_of(voice_id)),
            status=str(item.get("status") or "DEPLOYING"),
            prefix=cosyvoice_prefix_of(voice_id),
            created=item.get("gmt_create"),
            modified=item.get("gmt_modified"),
            # Without its query: a signed URL's signature is a credential, and LiveVoice ends up in plans.
            # Matching needs only the path (resource_link_matches ignores queries).
            resource_link=strip_query(link) if (link := item.get("resource_link")) else None,
        )


class AliyunVoiceService:
    """The VoiceService port: both families in one account, routed by model (create) or id (the rest)."""

    def __init__(
        self, http: DashScopeHttp, policy: RetryPolicy | None = None, *, settle: tuple[float, ...] = DEFAULT_SETTLE
    ) -> None:
        self.http = http
        self.policy = policy or RetryPolicy()
        self.cosyvoice = CosyVoiceClient(http, self.policy, settle=settle)
        self.qwen = QwenVoiceClient(http, self.policy, settle=settle)

    def list_voices(self) -> list[LiveVoice]:
        # Both families always: unmanaged Qwen voices count toward the quota too.
        return self.cosyvoice.list_all() + self.qwen.list_all()

    def list_for_review(self, voice_ids: Iterable[str]) -> list[LiveVoice]:
        """The listings that can hold `voice_ids` (see reconciler.apply.review_wait): Qwen's only when a Qwen id is among
        them, and CosyVoice's filtered by prefix when they share one, so that waiting for one config's
        voices reads one page per tick instead of the whole account's pages of both families. A listing
        stops as soon as every id it can hold was seen; one that is missing makes it read to the end."""
        ids = set(voice_ids)
        cosyvoice = {v for v in ids if enrollment_family(v) != QWEN}
        found = self.qwen.list_all() if len(cosyvoice) < len(ids) else []

        def enough(items: list[dict[str, Any]]) -> bool:
            return cosyvoice <= {str(item.get("voice_id")) for item in items}

        prefixes = {cosyvoice_prefix_of(v) for v in cosyvoice}
        if len(prefixes) == 1 and None not in prefixes:
            found += self.cosyvoice.list_all(prefixes.pop(), enough=enough)
        elif cosyvoice:
            found += self.cosyvoice.list_all(enough=enough)
        return found

    # Routed by the enrollment family an id belongs to (naming.enrollment_family), never by its first word:
    # voice-enrollment also clones Qwen-Audio voices, whose ids start with "qwen" too.

    def query_voice(self, voice_id: str) -> LiveVoice:
        if enrollment_family(voice_id) == QWEN:
            return self.qwen.find(voice_id)
        return self.cosyvoice.query(voice_id)

    def create_voice(
        self, *, name: str, model: str, prefix: str, audio_url: str, audio_key: str | None, options: CloneOptions
    ) -> CreatedVoice:
        info = MODELS.get(model)
        if info is None:
            raise ProviderError(f"unknown cloning model {model!r}: use one of {', '.join(MODELS)}")
        if info.family == QWEN:
            return self.qwen.create(name=name, model=model, prefix=prefix, audio_url=audio_url, options=options)
        if audio_url.startswith("data:"):
            # voice-enrollment documents `url` as a URL the service downloads; validate refuses this offline.
            raise ProviderError(f"{model} takes its audio only as a URL: use account.audio_delivery: oss")
        voice_id = self.cosyvoice.create(
            model=model, prefix=prefix, audio_url=audio_url, audio_key=audio_key, options=options
        )
        return CreatedVoice(voice_id)

    def update_voice(self, voice_id: str, *, audio_url: str) -> None:
        if enrollment_family(voice_id) == QWEN:
            raise ProviderError(f"voice {voice_id}: Qwen voices cannot be updated in place; new audio is a replace")
        self.cosyvoice.update(voice_id, audio_url)

    def delete_voice(self, voice_id: str) -> None:
        if enrollment_family(voice_id) == QWEN:
            self.qwen.delete(voice_id)
        else:
            self.cosyvoice.delete(voice_id)

    def close(self) -> None:
        self.http.close()
