"""Speech synthesis over WebSocket, both of DashScope's endpoints, as strict as the enrollment one:

- CosyVoice, `/api-ws/v1/inference`: `run-task`, then `continue-task` only after `task-started` (each at most
  20,000 characters, Chinese characters counting two, 200,000 in all), then `finish-task`; `task-started`,
  `result-generated`, `task-finished` and `task-failed` events, audio as binary frames (PCM or WAV).
- Qwen, `/api-ws/v1/realtime?model=...`: `session.created` on connect, `session.update` (the voice) before any
  text, `input_text_buffer.append` / `.commit`, `response.created` ... `response.audio.delta` (base64 PCM) ...
  `response.done`, `session.finish` -> `session.finished`; every refusal is an `error` event.

Both check the API key (a key of this region) and the workspace header where one is sent; the voice must exist,
be OK and belong to the model (and family) asked for; the account's synthesis rate, `drop_next_synthesis()` and
`fail_next_synthesis()` (see `_synthesis.py`) apply to both. The audio is speech (the shipped readings) as long
as the text would take to read, so the lint hears a voice.

aiohttp serves them: it is already installed with dashscope (which depends on it), and it has a WebSocket server,
which websocket-client, the SDK's client library, does not.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

if TYPE_CHECKING:
    from tests.emulator.core import Emulator

SECONDS_PER_CHARACTER = 0.07
CHUNK = 4096
COSYVOICE_MESSAGE_LIMIT = 20_000  # characters per continue-task, a Chinese character counting two
COSYVOICE_TASK_LIMIT = 200_000  # characters in all of one task's continue-tasks
REALTIME_MODELS = ("qwen3-tts-vc-realtime-",)  # the cloned-voice models the realtime endpoint serves


def billed_characters(text: str) -> int:
    """CosyVoice's count: a CJK ideograph is two characters, anything else one."""
    return sum(2 if "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf" else 1 for ch in text)


def _speech_pcm(text: str, rate: int, *, muted: bool = False) -> bytes:
    """Speech (the shipped readings) as long as the text would take to read, or low noise for a muted voice:
    16-bit mono PCM."""
    import numpy as np

    from reconciler.audio.sample import pcm16, speech_float

    seconds = max(1.0, len(text) * SECONDS_PER_CHARACTER)
    if muted:
        return pcm16(np.random.default_rng(0).normal(0.0, 0.01, int(seconds * rate)))
    return pcm16(speech_float(seconds=seconds, sample_rate=rate))


def speech_wav(text: str, rate: int, *, muted: bool = False) -> bytes:
    from reconciler.audio.sample import pcm16_wav

    return pcm16_wav(_speech_pcm(text, rate, muted=muted), rate)


class SpeechServer:
    def __init__(self, emu: Emulator):
        self.emu = emu
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> int:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            app = web.Application()
            app.router.add_get("/api-ws/v1/inference", self._inference)
            app.router.add_get("/api-ws/v1/realtime", self._realtime)
            self._runner = web.AppRunner(app)
            loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            loop.run_until_complete(site.start())
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, name="emulator-speech", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self.port

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(5)

    def _refused(self, request: web.Request, endpoint: str) -> web.Response | None:
        """The handshake's answer when the key or the workspace header is not accepted (the real service refuses
        before the WebSocket opens), else None."""
        emu = self.emu
        auth = request.headers.get("Authorization", "")
        key = auth.removeprefix("Bearer ").strip()
        if not auth.startswith("Bearer ") or emu.api_keys.get(key) != emu.region:
            emu._record("speech", f"{endpoint}:connect", {}, 401, time.time(), None)
            return web.json_response({"code": "InvalidApiKey", "message": "Invalid API-key provided."}, status=401)
        workspace = request.headers.get("X-DashScope-WorkSpace")
        if workspace is not None and emu.workspaces.get(workspace.strip()) != key:
            emu._record("speech", f"{endpoint}:connect", {"workspace": workspace}, 403, time.time(), None)
            return web.json_response(
                {"code": "Workspace.AccessDenied", "message": f"the API key is not in {workspace!r}"}, status=403
            )
        return None

    async def _pace(self, first: bool) -> None:
        """The service's answer time: the emulator's latency before the first audio, a tenth of it per frame."""
        latency = self.emu.latency
        if latency:
            await asyncio.sleep(latency if first else latency / 10)

    # ------------------------------------------------------------------------------------------ CosyVoice

    async def _inference(self, request: web.Request) -> web.StreamResponse:
        emu = self.emu
        refused = self._refused(request, "inference")
        if refused is not None:
            return refused
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        task: dict[str, Any] = {}

        async def failed(task_id: str, code: str, message: str) -> None:
            emu._record("speech", "task-failed", {"code": code}, 400, time.time(), None)
            header = {"task_id": task_id, "event": "task-failed", "error_code": code, "error_message": message}
            await ws.send_str(json.dumps({"header": header, "payload": {}}))
            await ws.close()

        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            data = json.loads(msg.data)
            header, payload = data.get("header") or {}, data.get("payload") or {}
            action, task_id = header.get("action"), header.get("task_id") or str(uuid.uuid4())
            params = payload.get("parameters") or {}
            text = str((payload.get("input") or {}).get("text") or "")
            emu._record(
                "speech", str(action), {"voice": params.get("voice"), "characters": len(text)}, 200, time.time(), None
            )
            if action == "run-task":
                if emu._take_synthesis_drop():
                    await ws.close()  # the connection drops before the task starts
                    break
                fmt = str(params.get("format") or "mp3")
                problem = (
                    emu._admit_synthesis()
                    or emu._synthesis_problem(str(params.get("voice")), str(payload.get("model")), "cosyvoice")
                    or (
                        None
                        if fmt in ("pcm", "wav")
                        else ("InvalidParameter", f"the emulator speaks pcm or wav, not {fmt}")
                    )
                )
                if problem:
                    await failed(task_id, *problem)
                    break
                task = {
                    "id": task_id,
                    "rate": int(params.get("sample_rate") or 22050),
                    "format": fmt,
                    "billed": 0,
                    "muted": emu._is_muted(str(params.get("voice"))),
                }
                await ws.send_str(json.dumps({"header": {"task_id": task_id, "event": "task-started"}, "payload": {}}))
            elif action == "continue-task":
                if not task:
                    await failed(task_id, "InvalidParameter", "continue-task before task-started")
                    break
                billed = billed_characters(text)
                task["billed"] += billed
                if billed > COSYVOICE_MESSAGE_LIMIT or task["billed"] > COSYVOICE_TASK_LIMIT:
                    await failed(task_id, "InvalidParameter", "text too long: 20,000 characters per message at most")
                    break
                injected = emu._take_synthesis_failure()
                if injected:
                    await failed(task_id, *injected)
                    break
                audio = _speech_pcm(text, task["rate"], muted=task["muted"])
                if task["format"] == "wav":
                    from reconciler.audio.sample import pcm16_wav

                    audio = pcm16_wav(audio, task["rate"])
                event = {"header": {"task_id": task_id, "event": "result-generated"}, "payload": {"output": {}}}
                await ws.send_str(json.dumps(event))
                for i in range(0, len(audio), CHUNK):
                    await self._pace(i == 0)
                    await ws.send_bytes(audio[i : i + CHUNK])
            elif action == "finish-task":
                done = {"header": {"task_id": task_id, "event": "task-finished"}, "payload": {"usage": {}}}
                await ws.send_str(json.dumps(done))
                break
        emu._record("speech", "closed", {}, 200, time.time(), None)  # the end of the answer (benches time it)
        return ws

    # ------------------------------------------------------------------------------------------ Qwen realtime

    async def _realtime(self, request: web.Request) -> web.StreamResponse:
        emu = self.emu
        refused = self._refused(request, "realtime")
        if refused is not None:
            return refused
        model = request.query.get("model", "")
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        session: dict[str, Any] = {"id": f"sess_{uuid.uuid4().hex[:16]}", "model": model}
        buffer: list[str] = []

        async def send(kind: str, **fields: Any) -> None:
            await ws.send_str(json.dumps({"event_id": f"event_{uuid.uuid4().hex[:12]}", "type": kind, **fields}))

        async def error(code: str, message: str) -> None:
            emu._record("speech", "error", {"code": code}, 400, time.time(), None)
            await send("error", error={"type": "invalid_request_error", "code": code, "message": message})
            await ws.close()

        if not model.startswith(REALTIME_MODELS):
            await error("InvalidParameter", f"model {model!r} does not speak through the realtime API")
            return ws
        await send("session.created", session=session)

        async def respond() -> bool:
            text = "".join(buffer)
            buffer.clear()
            injected = emu._take_synthesis_failure()
            if injected:
                await error(*injected)
                return False
            response_id = f"resp_{uuid.uuid4().hex[:12]}"
            await send("response.created", response={"id": response_id, "status": "in_progress"})
            pcm = _speech_pcm(
                text, int(session.get("sample_rate") or 24000), muted=emu._is_muted(str(session.get("voice")))
            )
            for i in range(0, len(pcm), CHUNK):
                await self._pace(i == 0)
                delta = base64.b64encode(pcm[i : i + CHUNK]).decode()
                await send("response.audio.delta", response_id=response_id, delta=delta)
            await send("response.audio.done", response_id=response_id)
            await send("response.done", response={"id": response_id, "status": "completed"})
            return True

        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            data = json.loads(msg.data)
            kind = str(data.get("type"))
            config = data.get("session") or {}
            emu._record(
                "speech",
                kind,
                {"voice": config.get("voice"), "characters": len(data.get("text") or "")},
                200,
                time.time(),
                None,
            )
            if kind == "session.update":
                if emu._take_synthesis_drop():
                    await ws.close()
                    break
                problem = emu._admit_synthesis() or emu._synthesis_problem(str(config.get("voice")), model, "qwen")
                if config.get("response_format", "pcm") != "pcm":
                    problem = problem or ("InvalidParameter", "the emulator speaks pcm only")
                if problem:
                    await error(*problem)
                    break
                session.update(config, updated=True)
                await send("session.updated", session=session)
            elif kind == "input_text_buffer.append":
                if not session.get("updated"):
                    await error("InvalidParameter", "input_text_buffer.append before session.updated: set the voice")
                    break
                buffer.append(str(data.get("text") or ""))
            elif kind == "input_text_buffer.commit":
                if not buffer:
                    await error("InvalidParameter", "input_text_buffer.commit with an empty buffer")
                    break
                await send("input_text_buffer.committed", item_id=f"item_{uuid.uuid4().hex[:12]}")
                if not await respond():
                    break
            elif kind == "session.finish":
                if buffer and not await respond():
                    break
                await send("session.finished")
                await ws.close()
                break
            else:
                await error("InvalidParameter", f"unknown event type {kind!r}")
                break
        emu._record("speech", "closed", {}, 200, time.time(), None)
        return ws
