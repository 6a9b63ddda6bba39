"""`voicectl audition` on Alibaba Cloud: CosyVoice speech synthesis through the dashscope SDK's own
`SpeechSynthesizer` (DashScope's WebSocket inference endpoint: run-task, continue-task, finish-task; binary audio
frames), on the region's or workspace's host that enrollment uses, or `DASHSCOPE_WEBSOCKET_BASE_URL`.

Qwen voices speak through another API (the realtime endpoint): not built yet, and said so.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from reconciler.catalog import dashscope_endpoints
from reconciler.errors import AuthError, ProviderError, VoicectlError
from reconciler.providers.base import Synthesized

log = logging.getLogger("voicectl.aliyun")

ATTEMPTS = 2  # a dropped connection is retried once, then reported
TIMEOUT_MS = 60_000


class CosyVoiceSpeech:
    def __init__(self, env: Mapping[str, str], *, region: str, workspace: str | None):
        self.api_key = env.get("DASHSCOPE_API_KEY") or ""
        self.workspace = workspace or None
        self.url = env.get("DASHSCOPE_WEBSOCKET_BASE_URL") or dashscope_endpoints(region, self.workspace).websocket

    def synthesize(self, *, voice_id: str, model: str, text: str) -> Synthesized:
        if not model.startswith("cosyvoice"):
            raise VoicectlError(
                f"audition of {model} voices is not finished: Qwen speaks through the realtime API, not built yet"
            )
        if not self.api_key:
            raise AuthError("speech synthesis needs DASHSCOPE_API_KEY: export it", code="InvalidApiKey")
        import dashscope
        from dashscope.audio.tts_v2 import AudioFormat, SpeechSynthesizer

        dashscope.api_key = self.api_key
        last: Exception | None = None
        for attempt in range(1, ATTEMPTS + 1):
            try:
                synthesizer = SpeechSynthesizer(
                    model=model,
                    voice=voice_id,
                    format=AudioFormat.WAV_24000HZ_MONO_16BIT,
                    url=self.url,
                    workspace=self.workspace,
                )
                audio = synthesizer.call(text, timeout_millis=TIMEOUT_MS)
            except Exception as exc:  # the SDK raises plain exceptions for task-failed and for transport
                message = str(exc)
                if "InvalidApiKey" in message or "401" in message:
                    raise AuthError(f"speech synthesis: DashScope refused DASHSCOPE_API_KEY ({message})") from None
                if "task-failed" in message.lower() or "InvalidParameter" in message:
                    raise ProviderError(f"speech synthesis with {voice_id} failed: {message}") from None
                last = exc
                log.debug("synthesis attempt %d failed: %s", attempt, exc)
                continue
            if audio:
                return Synthesized(bytes(audio))
            last = ProviderError("the connection closed before any audio came back")
        raise ProviderError(f"speech synthesis with {voice_id}: the connection dropped twice ({last})")
