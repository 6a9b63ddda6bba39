"""`voicectl audition` on Alibaba Cloud: speech with a cloned voice through the dashscope SDK's own clients, on the
region's or workspace's host that enrollment uses.

- CosyVoice voices: `SpeechSynthesizer` on the WebSocket inference endpoint (run-task, continue-task,
  finish-task; binary audio frames), or `DASHSCOPE_WEBSOCKET_BASE_URL`.
- Qwen realtime voices: `QwenTtsRealtime` on the realtime endpoint (session.update, the text buffer's append
  and commit, response.audio.delta ... response.done), the same host's `/api-ws/v1/realtime`.
- The other Qwen voices: the SDK's Qwen-TTS `SpeechSynthesizer` over HTTP (multimodal-generation), whose
  answer links a WAV file, downloaded here (`DASHSCOPE_HTTP_BASE_URL` moves it, as it moves enrollment).

Both stream 24 kHz 16-bit PCM, which is put in a WAV container here. Long text is split at sentence ends
within each API's limit (`catalog.SYNTHESIS_TEXT_LIMIT`) and the pieces' audio joined. A dropped connection is
retried once and throttling a few times with a pause, then reported.
"""

from __future__ import annotations

import base64
import functools
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, NoReturn

from reconciler.audio.sample import pcm16_wav
from reconciler.catalog import (
    GENERATION,
    INFERENCE,
    REALTIME,
    SYNTHESIS_TEXT_LIMIT,
    billed_characters,
    dashscope_endpoints,
    speech_api,
)
from reconciler.errors import AuthError, ProviderError, VoicectlError
from reconciler.providers.base import Synthesized

log = logging.getLogger("voicectl.aliyun")

RATE = 24_000
DROP_RETRIES = 1  # a dropped connection is retried once, then reported
THROTTLE_PAUSES = (1.0, 2.0, 4.0)  # seconds before each retry of a throttled task
TIMEOUT_SECONDS = 60.0
_SENTENCE = re.compile(r"(?<=[。！？；.!?;\n])")


class _Dropped(Exception):
    """The connection closed before the audio was complete: worth one retry."""


class _Throttled(Exception):
    """The service refused a new task for the account's rate: worth a retry after a pause."""


def split_text(text: str, limit: int, weigh: Callable[[str], int] = len) -> list[str]:
    """`text` cut into pieces of at most `limit` (as `weigh` counts), at sentence ends where it can be, inside a
    sentence only when one sentence is longer than the limit."""
    pieces: list[str] = []
    current = ""
    for sentence in (s for s in _SENTENCE.split(text) if s):
        while weigh(sentence) > limit:
            cut = max(1, _longest_prefix(sentence, limit, weigh))
            if current:
                pieces.append(current)
                current = ""
            pieces.append(sentence[:cut])
            sentence = sentence[cut:]
        if current and weigh(current + sentence) > limit:
            pieces.append(current)
            current = ""
        current += sentence
    if current:
        pieces.append(current)
    return pieces


def _longest_prefix(text: str, limit: int, weigh: Callable[[str], int]) -> int:
    low, high = 0, len(text)
    while low < high:
        mid = (low + high + 1) // 2
        low, high = (mid, high) if weigh(text[:mid]) <= limit else (low, mid - 1)
    return low


class AliyunSpeech:
    def __init__(self, env: Mapping[str, str], *, region: str, workspace: str | None):
        self.api_key = env.get("DASHSCOPE_API_KEY") or ""
        self.workspace = workspace or None
        endpoints = dashscope_endpoints(region, self.workspace)
        self.http_url = (env.get("DASHSCOPE_HTTP_BASE_URL") or endpoints.http).rstrip("/")
        override = env.get("DASHSCOPE_WEBSOCKET_BASE_URL")
        self.inference_url = override or endpoints.websocket
        # The SDK has no variable for the realtime endpoint: it is the same host's /api-ws/v1/realtime.
        self.realtime_url = re.sub(r"/inference/?$", "/realtime", override) if override else endpoints.realtime

    def synthesize(self, *, voice_id: str, model: str, text: str) -> Synthesized:
        api = speech_api(model)
        if api is None:
            raise VoicectlError(f"audition: no speech synthesis is known for model {model}")
        if not self.api_key:
            raise AuthError("speech synthesis needs DASHSCOPE_API_KEY: export it", code="InvalidApiKey")
        import dashscope

        dashscope.api_key = self.api_key
        speak = {INFERENCE: self._cosyvoice, REALTIME: self._qwen_realtime, GENERATION: self._qwen_http}[api]
        pcm = bytearray()
        first: float | None = None
        started = time.monotonic()
        for piece in split_text(text, SYNTHESIS_TEXT_LIMIT[api], lambda t: billed_characters(t, api)):
            audio, first_at = self._retrying(voice_id, functools.partial(speak, voice_id, model, piece))
            if first is None and first_at is not None:
                first = first_at - started
            pcm += audio
        return Synthesized(pcm16_wav(bytes(pcm), RATE), first_audio_seconds=first)

    def _retrying(self, voice_id: str, attempt: Callable[[], tuple[bytes, float | None]]) -> tuple[bytes, float | None]:
        drops, pauses = 0, list(THROTTLE_PAUSES)
        while True:
            try:
                return attempt()
            except _Dropped as e:
                drops += 1
                if drops > DROP_RETRIES:
                    raise ProviderError(
                        f"speech synthesis with {voice_id}: the connection dropped twice ({e})"
                    ) from None
                log.info("speech synthesis with %s: the connection dropped (%s); retrying once", voice_id, e)
            except _Throttled as e:
                if not pauses:
                    raise ProviderError(
                        f"speech synthesis with {voice_id}: still throttled after retries ({e})"
                    ) from None
                pause = pauses.pop(0)
                log.info("speech synthesis with %s: throttled (%s); retrying in %.0f s", voice_id, e, pause)
                time.sleep(pause)

    # -- CosyVoice: the inference endpoint ------------------------------------------------------------

    def _cosyvoice(self, voice_id: str, model: str, text: str) -> tuple[bytes, float | None]:
        from dashscope.audio.tts_v2 import AudioFormat, SpeechSynthesizer
        from dashscope.common.error import RequestFailure

        synthesizer = SpeechSynthesizer(
            model=model,
            voice=voice_id,
            format=AudioFormat.PCM_24000HZ_MONO_16BIT,
            url=self.inference_url,
            workspace=self.workspace,
        )
        handshake = _Handshake()
        synthesizer.on_error = handshake.on_socket_error  # type: ignore[method-assign]
        started = time.monotonic()
        try:
            audio = synthesizer.call(text, timeout_millis=int(TIMEOUT_SECONDS * 1000))
        except RequestFailure as e:  # a task-failed event
            _raise_refusal(voice_id, str(e.name or ""), str(e.message or e))
        except Exception as e:  # the SDK raises plain exceptions for a handshake refused or a connection lost
            handshake.raise_refusal(self.workspace)
            # A task-failed frame and the close after it race in the SDK: its send on the closed socket can
            # raise before its receiving thread has read the frame. Give that thread a moment, then prefer
            # what the service said (kept on the synthesizer, dashscope pinned at 2.0.2) to "dropped".
            time.sleep(0.2)
            said = getattr(synthesizer, "_receiver_error", None)
            if isinstance(said, RequestFailure):
                _raise_refusal(voice_id, str(said.name or ""), str(said.message or said))
            raise _Dropped(str(e)) from None
        if not audio:
            raise _Dropped("the connection closed before any audio came back")
        # From the task's start to its first audio frame, in milliseconds.
        delay_ms = synthesizer.get_first_package_delay()  # type: ignore[no-untyped-call]
        return bytes(audio), started + delay_ms / 1000 if delay_ms and delay_ms > 0 else None

    # -- Qwen over HTTP: multimodal-generation, then the WAV it links ------------------------------------

    def _qwen_http(self, voice_id: str, model: str, text: str) -> tuple[bytes, float | None]:
        import requests
        from dashscope.audio.qwen_tts import SpeechSynthesizer as QwenTts

        try:
            answer: Any = QwenTts.call(  # not streamed: one TextToSpeechResponse
                model=model,
                text=text,
                voice=voice_id,
                api_key=self.api_key,
                workspace=self.workspace,  # type: ignore[arg-type]
                base_address=self.http_url,
                request_timeout=(5.0, TIMEOUT_SECONDS),
            )
        except (requests.ConnectionError, requests.Timeout) as e:
            raise _Dropped(str(e)) from None
        status = int(answer.status_code)
        if status == 401:
            raise AuthError(f"speech synthesis: DashScope refused DASHSCOPE_API_KEY ({answer.code})")
        if status == 429:
            raise _Throttled(f"{answer.code}: {answer.message}")
        if status != 200:
            _raise_refusal(voice_id, str(answer.code or status), str(answer.message or ""))
        url = answer.output.audio["url"] if answer.output and answer.output.audio else ""
        if not url:
            raise ProviderError(f"speech synthesis with {voice_id}: the answer links no audio")
        try:
            download = requests.get(url, timeout=(5.0, TIMEOUT_SECONDS))
        except (requests.ConnectionError, requests.Timeout) as e:
            raise _Dropped(str(e)) from None
        if download.status_code != 200:
            raise ProviderError(
                f"speech synthesis with {voice_id}: its audio could not be downloaded ({download.status_code})"
            )
        return _wav_pcm(download.content, voice_id), time.monotonic()  # no stream: the audio is there once downloaded

    # -- Qwen: the realtime endpoint -----------------------------------------------------------------

    def _qwen_realtime(self, voice_id: str, model: str, text: str) -> tuple[bytes, float | None]:
        from dashscope.audio.qwen_tts_realtime import AudioFormat, QwenTtsRealtime

        listener, handshake = _RealtimeListener(voice_id), _Handshake()
        # The listener has the SDK callback's three methods; it is not its subclass so that dashscope loads lazily.
        client = QwenTtsRealtime(
            model=model,
            callback=listener,  # type: ignore[arg-type]
            url=self.realtime_url,
            workspace=self.workspace,
        )
        client.on_error = handshake.on_socket_error  # type: ignore[method-assign]
        try:
            client.connect()
        except (TimeoutError, ConnectionError) as e:
            handshake.raise_refusal(self.workspace)
            raise _Dropped(str(e)) from None
        try:
            listener.wait("session.created")
            client.update_session(voice=voice_id, response_format=AudioFormat.PCM_24000HZ_MONO_16BIT, mode="commit")
            listener.wait("session.updated")
            client.append_text(text)
            client.commit()
            listener.wait("response.done")
            client.finish()
            listener.wait("session.finished", required=False)
        except ConnectionError as e:  # the SDK's send on a closed socket
            listener.raise_error()
            raise _Dropped(str(e)) from None
        finally:
            if client.ws is not None:
                client.close()
        return bytes(listener.pcm), listener.first_audio_at


class _Handshake:
    """The status of a refused WebSocket handshake: both SDK clients only log it, then time out connecting."""

    def __init__(self) -> None:
        self.status: int | None = None

    def on_socket_error(self, ws: object, error: object) -> None:  # replaces the SDK client's own, which logs
        self.status = getattr(error, "status_code", None) or self.status
        log.debug("speech synthesis connection: %s", error)

    def raise_refusal(self, workspace: str | None) -> None:
        if self.status == 401:
            raise AuthError("speech synthesis: DashScope refused DASHSCOPE_API_KEY (401 InvalidApiKey)")
        if self.status == 403:
            raise AuthError(
                f"speech synthesis: DashScope refused the key for workspace {workspace!r} (403): use a key of "
                "that workspace, or remove account.workspace"
            )


class _RealtimeListener:
    """Collects the realtime endpoint's events (the SDK calls `on_event` from its receiving thread)."""

    def __init__(self, voice_id: str) -> None:
        self.voice_id = voice_id
        self.pcm = bytearray()
        self.first_audio_at: float | None = None
        self.error: dict[str, Any] | None = None
        self._seen: set[str] = set()
        self._changed = threading.Condition()
        self._closed = False

    def on_open(self) -> None:
        pass

    def on_event(self, message: dict[str, Any]) -> None:
        kind = str(message.get("type"))
        if kind == "response.audio.delta":
            if self.first_audio_at is None:
                self.first_audio_at = time.monotonic()
            self.pcm += base64.b64decode(message.get("delta") or "")
        elif kind == "error":
            self.error = message.get("error") or {"message": str(message)}
        with self._changed:
            self._seen.add(kind)
            self._changed.notify_all()

    def on_close(self, close_status_code: object, close_msg: object) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def wait(self, kind: str, *, required: bool = True) -> None:
        """Until the event `kind` came; raises what an error event said, or _Dropped if the connection closed."""
        deadline = time.monotonic() + TIMEOUT_SECONDS
        with self._changed:
            while kind not in self._seen and self.error is None and not self._closed:
                if not self._changed.wait(max(0.0, deadline - time.monotonic())):
                    break
        if kind in self._seen:
            self._seen.discard(kind)
            return
        if not required:
            return
        self.raise_error()
        raise _Dropped(f"the connection closed while waiting for {kind}")

    def raise_error(self) -> None:
        if self.error is not None:
            _raise_refusal(self.voice_id, str(self.error.get("code") or ""), str(self.error.get("message") or ""))


def _raise_refusal(voice_id: str, code: str, message: str) -> NoReturn:
    if code.startswith("Throttling"):
        raise _Throttled(f"{code}: {message}")
    if code == "InvalidApiKey":
        raise AuthError(f"speech synthesis: DashScope refused DASHSCOPE_API_KEY ({message})")
    raise ProviderError(f"speech synthesis with {voice_id} failed: {code} {message}".rstrip())


def _wav_pcm(wav: bytes, voice_id: str) -> bytes:
    """The 16-bit mono PCM of a downloaded WAV, at the rate the other pieces have."""
    import io
    import wave

    try:
        with wave.open(io.BytesIO(wav)) as w:
            shape = (w.getnchannels(), w.getsampwidth(), w.getframerate())
            frames: bytes = w.readframes(w.getnframes())
    except (wave.Error, EOFError) as e:
        raise ProviderError(f"speech synthesis with {voice_id}: the audio is not a WAV file ({e})") from None
    if shape != (1, 2, RATE):
        raise ProviderError(f"speech synthesis with {voice_id}: expected 16-bit mono {RATE} Hz WAV, got {shape}")
    return frames
