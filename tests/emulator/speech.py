"""CosyVoice speech synthesis over WebSocket (`/api-ws/v1/inference`), as strict as the enrollment endpoint:
the API key (and the workspace header when the emulator has workspaces), a voice that exists, is OK and belongs
to the model asked for, the task protocol in order (`run-task`, then `continue-task` only after
`task-started`, then `finish-task`), and audio frames whose length follows the text and that are speech (the
shipped reading, so the lint hears a voice). `Emulator.drop_next_synthesis()` closes a connection mid-task.

aiohttp serves it: it is already installed with dashscope (which depends on it), and it has a WebSocket server,
which websocket-client, the SDK's client library, does not.
"""

from __future__ import annotations

import asyncio
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


def _speech_wav(text: str, rate: int) -> bytes:
    """Speech (the shipped readings) as long as the text would take to read, as a WAV file's bytes."""
    from reconciler.audio.sample import speech_float, wav_bytes

    return wav_bytes(speech_float(seconds=max(1.0, len(text) * SECONDS_PER_CHARACTER), sample_rate=rate), rate)


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
            app.router.add_get("/api-ws/v1/inference", self._handle)
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

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        emu = self.emu
        if request.headers.get("Authorization", "") != f"Bearer {emu.api_key}":
            emu._record("speech", "connect", {}, 401, time.time(), None)
            return web.json_response({"code": "InvalidApiKey", "message": "Invalid API-key provided."}, status=401)
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
            emu._record(
                "speech", str(action), {"voice": (payload.get("parameters") or {}).get("voice")}, 200, time.time(), None
            )
            if action == "run-task":
                if emu._take_synthesis_drop():
                    await ws.close()  # the connection drops before the task starts
                    break
                params = payload.get("parameters") or {}
                problem = emu._synthesis_problem(str(params.get("voice")), str(payload.get("model")))
                if problem:
                    await failed(task_id, *problem)
                    break
                task = {"id": task_id, "rate": int(params.get("sample_rate") or 24000)}
                await ws.send_str(json.dumps({"header": {"task_id": task_id, "event": "task-started"}, "payload": {}}))
            elif action == "continue-task":
                if not task:
                    await failed(task_id, "InvalidParameter", "continue-task before task-started")
                    break
                audio = _speech_wav(str((payload.get("input") or {}).get("text") or ""), task["rate"])
                event = {"header": {"task_id": task_id, "event": "result-generated"}, "payload": {"output": {}}}
                await ws.send_str(json.dumps(event))
                for i in range(0, len(audio), CHUNK):
                    await ws.send_bytes(audio[i : i + CHUNK])
                    await asyncio.sleep(emu.latency / 10 if emu.latency else 0)
            elif action == "finish-task":
                done = {"header": {"task_id": task_id, "event": "task-finished"}, "payload": {"usage": {}}}
                await ws.send_str(json.dumps(done))
                break
        return ws
