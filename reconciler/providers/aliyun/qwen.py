"""Qwen voice enrollment (`model: qwen-voice-enrollment`): create, list, delete over plain HTTP.

Qwen voices have no review (usable at once, reported as OK) and no update. voicectl creates them with
`preferred_name = qwen_preferred_name(prefix, name)`, so the ownership prefix is the part before `_`.
"""

from __future__ import annotations

import logging
from typing import Any

from reconciler.errors import ProviderError, VoiceNotFound
from reconciler.model import LiveVoice, VoiceStatus
from reconciler.naming import qwen_preferred_name, qwen_preferred_name_of
from reconciler.providers.aliyun.create import EnrollmentClient, create_without_duplicates

log = logging.getLogger("voicectl.aliyun")

PAGE_SIZE = 100
MAX_PAGES = 100


def preferred_name_of(item: dict[str, Any]) -> str | None:
    name = item.get("preferred_name")
    if name:
        return str(name)
    return qwen_preferred_name_of(str(item.get("voice") or ""))


class QwenVoiceClient(EnrollmentClient):
    def list_all(self) -> list[LiveVoice]:
        items: list[dict[str, Any]] = []
        for index in range(MAX_PAGES):
            out = self.policy.call(
                lambda i=index: self.http.qwen({"action": "list", "page_index": i, "page_size": PAGE_SIZE})
            )
            page = list(out.get("voice_list") or [])
            items.extend(page)
            total = out.get("total_count")
            if len(page) < PAGE_SIZE or (isinstance(total, int) and len(items) >= total):
                break
        else:
            raise ProviderError(f"listing Qwen voices did not end after {MAX_PAGES} pages of {PAGE_SIZE}")
        return [self._live(item) for item in items if item.get("voice")]

    def find(self, voice_id: str) -> LiveVoice:
        """Qwen has no query action: find the voice in the list."""
        for voice in self.list_all():
            if voice.voice_id == voice_id:
                return voice
        raise VoiceNotFound(f"voice {voice_id} does not exist in the account", code="BadRequest.ResourceNotExist")

    def delete(self, voice_id: str) -> None:
        try:
            self.policy.call(lambda: self.http.qwen({"action": "delete", "voice": voice_id}, voice_id=voice_id))
        except VoiceNotFound:
            log.debug("dashscope qwen delete voice=%s already absent", voice_id)

    def create(self, *, name: str, model: str, prefix: str, audio_url: str, language: str | None) -> str:
        """Like CosyVoice's create: never repeated blindly. Qwen's list gives no resource_link, so the
        voice a lost create made is recognised by its preferred_name; a replace (new audio) reuses the
        same preferred_name while the old voice still exists, hence the snapshot of the ids that already
        carry it, taken before the create, which the lookup excludes."""
        preferred = qwen_preferred_name(prefix, name)
        payload: dict[str, Any] = {
            "action": "create",
            "target_model": model,
            "preferred_name": preferred,
            "audio": {"data": audio_url},
        }
        if language:
            payload["language"] = language
        existing = {v.voice_id for v in self.list_all() if v.display_name == preferred}

        def find() -> str | None:
            fresh = [
                v
                for v in self.list_all()
                if v.display_name == preferred and v.model == model and v.voice_id not in existing
            ]
            fresh.sort(key=lambda v: v.created or "", reverse=True)
            return fresh[0].voice_id if fresh else None

        return create_without_duplicates(
            lambda: str(self.http.qwen(payload)["voice"]),
            find,
            policy=self.policy,
            create_attempts=self.create_attempts,
            settle=self.settle,
            what="qwen create",
        )

    @staticmethod
    def _live(item: dict[str, Any]) -> LiveVoice:
        preferred = preferred_name_of(item)
        prefix = preferred.split("_", 1)[0] if preferred and "_" in preferred else None
        return LiveVoice(
            voice_id=str(item["voice"]),
            model=str(item.get("target_model") or ""),
            status=VoiceStatus.OK.value,
            prefix=prefix,
            created=item.get("gmt_create"),
            modified=item.get("gmt_modified"),
            display_name=preferred,
        )
