"""VoiceService on DashScope: CosyVoice enrollment (create/list/query/update/delete) plus Qwen (qwen.py).

Retries: list, query, update and delete are repeated on 429, 5xx and transport errors with backoff.
create is never repeated blindly: after an ambiguous failure the voice is looked up first (see `create`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from reconciler.catalog import MODELS
from reconciler.errors import ProviderError, VoiceNotFound
from reconciler.model import LiveVoice
from reconciler.naming import cosyvoice_model_of, cosyvoice_prefix_of, is_qwen_voice_id, resource_link_matches
from reconciler.providers.aliyun.create import DEFAULT_SETTLE, EnrollmentClient, create_without_duplicates
from reconciler.providers.aliyun.dashscope_http import DashScopeHttp
from reconciler.providers.aliyun.errors import strip_query
from reconciler.providers.aliyun.qwen import QwenVoiceClient
from reconciler.providers.aliyun.ratelimit import RetryPolicy

log = logging.getLogger("voicectl.aliyun")

PAGE_SIZE = 100
# The service keeps at most 1000 voices per account; a server that ignores page_index must not loop us.
MAX_PAGES = 100


def paged(fetch: Callable[[int], list[dict[str, Any]]], policy: RetryPolicy) -> list[dict[str, Any]]:
    """Fetch pages of PAGE_SIZE until a short page (the API returns no total)."""
    items: list[dict[str, Any]] = []
    for index in range(MAX_PAGES):
        page = policy.call(lambda i=index: fetch(i))
        items.extend(page)
        if len(page) < PAGE_SIZE:
            return items
    raise ProviderError(f"listing voices did not end after {MAX_PAGES} pages of {PAGE_SIZE}")


class CosyVoiceClient(EnrollmentClient):
    """CosyVoice enrollment (`model: voice-enrollment`)."""

    def list_all(self, prefix: str | None = None) -> list[LiveVoice]:
        def fetch(index: int) -> list[dict[str, Any]]:
            payload: dict[str, Any] = {"action": "list_voice", "page_index": index, "page_size": PAGE_SIZE}
            if prefix:
                payload["prefix"] = prefix
            return list(self.http.cosyvoice(payload).get("voice_list") or [])

        return [self._live(item) for item in paged(fetch, self.policy) if item.get("voice_id")]

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

    def create(self, *, model: str, prefix: str, audio_url: str, audio_key: str | None, language: str | None) -> str:
        """Clone once; after an ambiguous failure (timeout, dropped connection, 5xx) look for the voice
        this create may have made and return it, and only when it is absent try again. A 429 means the
        request was refused before any work, so it is repeated after backoff."""
        payload: dict[str, Any] = {"action": "create_voice", "target_model": model, "prefix": prefix, "url": audio_url}
        if language:
            payload["language_hints"] = [language]
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
        voices reads one page per tick instead of the whole account's pages of both families."""
        ids = set(voice_ids)
        cosyvoice = {v for v in ids if not is_qwen_voice_id(v)}
        found = self.qwen.list_all() if len(cosyvoice) < len(ids) else []
        prefixes = {cosyvoice_prefix_of(v) for v in cosyvoice}
        if len(prefixes) == 1 and None not in prefixes:
            found += self.cosyvoice.list_all(prefixes.pop())
        elif cosyvoice:
            found += self.cosyvoice.list_all()
        return found

    def query_voice(self, voice_id: str) -> LiveVoice:
        if is_qwen_voice_id(voice_id):
            return self.qwen.find(voice_id)
        return self.cosyvoice.query(voice_id)

    def create_voice(
        self, *, name: str, model: str, prefix: str, audio_url: str, audio_key: str | None, language: str | None
    ) -> str:
        info = MODELS.get(model)
        if info is None:
            raise ProviderError(f"unknown cloning model {model!r}: use one of {', '.join(MODELS)}")
        if info.family == "qwen":
            return self.qwen.create(name=name, model=model, prefix=prefix, audio_url=audio_url, language=language)
        return self.cosyvoice.create(
            model=model, prefix=prefix, audio_url=audio_url, audio_key=audio_key, language=language
        )

    def update_voice(self, voice_id: str, *, audio_url: str) -> None:
        if is_qwen_voice_id(voice_id):
            raise ProviderError(f"voice {voice_id}: Qwen voices cannot be updated in place; new audio is a replace")
        self.cosyvoice.update(voice_id, audio_url)

    def delete_voice(self, voice_id: str) -> None:
        if is_qwen_voice_id(voice_id):
            self.qwen.delete(voice_id)
        else:
            self.cosyvoice.delete(voice_id)

    def close(self) -> None:
        self.http.close()
