"""Qwen voice enrollment (`model: qwen-voice-enrollment`): create, list, delete over plain HTTP.

Qwen voices have no review (usable at once, reported as OK) and no update. voicectl creates them with
`preferred_name = qwen_preferred_name(prefix, name)`, so the ownership prefix is the part before `_`.
"""

from __future__ import annotations

import logging
from typing import Any

from reconciler.catalog import MODELS
from reconciler.errors import VoiceNotFound
from reconciler.model import CloneOptions, CreatedVoice, LiveVoice, VoiceStatus
from reconciler.naming import qwen_preferred_name, qwen_preferred_name_of
from reconciler.providers.aliyun.create import EnrollmentClient, create_without_duplicates
from reconciler.providers.aliyun.paging import PAGE_SIZE, paged

log = logging.getLogger("voicectl.aliyun")


LOST_FALLBACK_WARNING = (
    "the create's answer was lost and the voice was found by its name; that answer alone says whether the "
    "service cloned it in fallback mode (audio it could not fully use), so that is unknown: listen to the voice "
    "before use, and `voicectl apply --replace NAME` clones it again if it sounds wrong"
)


def fallback_warning(out: dict[str, Any]) -> str | None:
    """Qwen clones a voice it could not fully use the audio for in "fallback mode" and says so in the
    create answer only: the voice works but may sound less like the speaker."""
    if out.get("fallback_mode") is not True:
        return None
    reason = str(out.get("fallback_reason") or "no reason given")
    return (
        f"cloned in fallback mode ({reason}): the service could not use the audio fully, so the voice may "
        "sound less like the speaker; record cleaner audio (one speaker, no noise) and check that `text`, "
        "when given, is exactly what is said"
    )


def preferred_name_of(item: dict[str, Any]) -> str | None:
    name = item.get("preferred_name")
    if name:
        return str(name)
    return qwen_preferred_name_of(str(item.get("voice") or ""))


class QwenVoiceClient(EnrollmentClient):
    def list_all(self) -> list[LiveVoice]:
        def fetch(index: int) -> tuple[list[dict[str, Any]], int | None]:
            out = self.http.qwen({"action": "list", "page_index": index, "page_size": PAGE_SIZE})
            total = out.get("total_count")
            return list(out.get("voice_list") or []), total if isinstance(total, int) else None

        items = paged(fetch, self.policy, key="voice", what="Qwen voices")
        return [self._live(item) for item in items if item.get("voice")]

    def find(self, voice_id: str) -> LiveVoice:
        """Qwen has no query action: find the voice in the list."""
        for voice in self.list_all():
            if voice.voice_id == voice_id:
                return voice
        raise VoiceNotFound(f"voice {voice_id} does not exist in the account", code="BadRequest.VoiceNotFound")

    def delete(self, voice_id: str) -> None:
        try:
            self.policy.call(lambda: self.http.qwen({"action": "delete", "voice": voice_id}, voice_id=voice_id))
        except VoiceNotFound:
            # BadRequest.VoiceNotFound: already gone (or our first attempt's answer was lost).
            log.debug("dashscope qwen delete voice=%s already absent", voice_id)

    def create(self, *, name: str, model: str, prefix: str, audio_url: str, options: CloneOptions) -> CreatedVoice:
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
        info = MODELS.get(model)
        if options.language and (info is None or options.language in info.languages):
            payload["language"] = options.language
        if options.text:
            payload["text"] = options.text  # the transcript; the service checks it against the audio
        existing = {v.voice_id for v in self.list_all() if v.display_name == preferred}

        def find() -> str | None:
            fresh = [
                v
                for v in self.list_all()
                if v.display_name == preferred and v.model == model and v.voice_id not in existing
            ]
            fresh.sort(key=lambda v: v.created or "", reverse=True)
            return fresh[0].voice_id if fresh else None

        warning: str | None = None
        answered = False

        def once() -> str:
            nonlocal warning, answered
            out = self.http.qwen(payload)
            warning, answered = fallback_warning(out), True
            return str(out["voice"])

        voice_id = create_without_duplicates(
            once,
            find,
            policy=self.policy,
            create_attempts=self.create_attempts,
            settle=self.settle,
            what="qwen create",
        )
        if not answered:
            # Found by the lookup: the answer that says whether the voice was cloned in fallback mode was lost,
            # and no other call reports it. Say so rather than let the voice pass as a full clone.
            warning = LOST_FALLBACK_WARNING
        if warning:
            log.debug("dashscope qwen create voice=%s fallback_mode", voice_id)
        return CreatedVoice(voice_id, warning)

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
