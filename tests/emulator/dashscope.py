"""DashScope voice enrollment: `POST /api/v1/services/audio/tts/customization` (CosyVoice and Qwen)."""

from __future__ import annotations

import json
import re
import secrets
import time
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tests.emulator import _audio
from tests.emulator._http import Reply, Request
from tests.emulator._state import COSYVOICE_MODELS, QWEN_MODELS, SERVICE_TZ, _Voice

if TYPE_CHECKING:
    from tests.emulator.core import Emulator

PATH = "/api/v1/services/audio/tts/customization"
PREFIX_RE = re.compile(r"^[a-z0-9]{1,9}$")
PREFERRED_NAME_RE = re.compile(r"^[A-Za-z0-9_]{1,16}$")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _bad(message: str) -> ApiError:
    return ApiError(400, "InvalidParameter", message)


def _not_found(voice_id: str) -> ApiError:
    return ApiError(400, "BadRequest.ResourceNotExist", f"The voice {voice_id} does not exist.")


def _int(params: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = params.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _bad(f"{name} must be an integer in [{low}, {high}], got {value!r}")
    return value


def _str(params: dict[str, Any], name: str) -> str:
    value = params.get(name)
    if not isinstance(value, str) or not value:
        raise _bad(f"Missing or invalid parameter: {name}")
    return value


class DashScopeService:
    name = "dashscope"

    def __init__(self, emulator: Emulator) -> None:
        self.emu = emulator

    # ------------------------------------------------------------------------------------------ framing

    def identify(self, req: Request) -> tuple[str, dict[str, Any]]:
        try:
            body = json.loads(req.body or b"{}")
        except ValueError:
            return "InvalidBody", {}
        if not isinstance(body, dict):
            return "InvalidBody", {}
        inp = body.get("input") if isinstance(body.get("input"), dict) else {}
        params = {"model": body.get("model"), **inp}
        return str(inp.get("action") or "MissingAction"), params

    def _json(self, status: int, payload: dict[str, Any]) -> Reply:
        return Reply(
            status,
            json.dumps(payload, ensure_ascii=False).encode(),
            [("Content-Type", "application/json"), ("req-cost-time", "12")],
        )

    def _error(self, status: int, code: str, message: str) -> Reply:
        return self._json(status, {"request_id": str(uuid.uuid4()), "code": code, "message": message})

    def fault_reply(self, req: Request, action: str, status: int) -> Reply:
        if status == 429:
            return self._error(429, "Throttling.RateQuota", "Requests rate limit exceeded, please try again later.")
        return self._error(status, "InternalError", "An internal error has occured, please try again later.")

    def handle(self, req: Request, action: str, params: dict[str, Any]) -> Reply:
        if req.path.rstrip("/") != PATH:
            return self._error(404, "NotFound", f"No route for {req.path}")
        if req.method != "POST":
            return self._error(405, "MethodNotAllowed", f"{req.method} is not allowed")
        auth = req.header("Authorization") or ""
        if not auth.startswith("Bearer ") or auth[len("Bearer ") :].strip() != self.emu.api_key:
            return self._error(401, "InvalidApiKey", "Invalid API-key provided.")
        if action == "InvalidBody":
            return self._error(400, "InvalidParameter", "The request body is not a JSON object.")
        if not self.emu._admit_enrollment():
            return self._error(429, "Throttling.RateQuota", "Requests rate limit exceeded, please try again later.")
        model = params.get("model")
        try:
            if model == "voice-enrollment":
                output = self._cosyvoice(action, params)
            elif model == "qwen-voice-enrollment":
                output = self._qwen(action, params)
            elif not model:
                raise _bad("Model not specified.")
            else:
                raise _bad(f"Model not exist: {model}")
        except ApiError as err:
            return self._error(err.status, err.code, err.message)
        return self._json(200, {"output": output, "usage": {"count": 1}, "request_id": str(uuid.uuid4())})

    # ------------------------------------------------------------------------------------------ shared

    def _check_quota(self, family: str) -> None:
        with self.emu.lock:
            used = sum(1 for v in self.emu._voices.values() if v.family == family)
        if used >= self.emu.voice_limit:
            raise ApiError(
                400,
                "Throttling.AllocationQuota",
                f"The number of voices has reached the upper limit ({self.emu.voice_limit}).",
            )

    def _get_audio(self, url: str, target_model: str) -> list[str]:
        """Fetch and check the audio; returns the findings that will fail the review later."""
        try:
            data, ext = _audio.fetch(url)
        except _audio.BadAudioData as exc:
            raise _bad(str(exc)) from exc
        except _audio.AudioUnreachable as exc:
            raise ApiError(500, "InternalError", f"audio url not reachable: {exc}") from exc
        verdict = _audio.review(data, ext, target_model)
        if verdict.reject:
            raise ApiError(400, *verdict.reject)
        return verdict.review_failures

    def _voice(self, voice_id: str, family: str) -> _Voice:
        voice = self.emu._voices.get(voice_id)
        if voice is None or voice.family != family:
            raise _not_found(voice_id)
        return voice

    @staticmethod
    def _sorted(voices: list[_Voice]) -> list[_Voice]:
        return sorted(voices, key=lambda v: (v.created, v.seq), reverse=True)

    # ------------------------------------------------------------------------------------------ CosyVoice

    def _cosyvoice(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        emu = self.emu
        if action == "create_voice":
            target_model = _str(params, "target_model")
            if target_model not in COSYVOICE_MODELS:
                raise _bad(f"target_model {target_model!r} does not support voice cloning")
            prefix = _str(params, "prefix")
            if not PREFIX_RE.match(prefix):
                raise _bad("prefix must be lowercase letters and digits, at most 9 characters")
            url = _str(params, "url")
            hints = params.get("language_hints")
            if hints is not None and not (isinstance(hints, list) and all(isinstance(h, str) for h in hints)):
                raise _bad("language_hints must be a list of strings")
            self._check_quota("cosyvoice")
            failures = self._get_audio(url, target_model)
            now = datetime.now(SERVICE_TZ)
            with emu.lock:
                self._check_quota("cosyvoice")  # again: the fetch ran without the lock
                voice = _Voice(
                    voice_id=f"{target_model}-{prefix}-{uuid.uuid4().hex}",
                    family="cosyvoice",
                    target_model=target_model,
                    prefix=prefix,
                    preferred_name=None,
                    resource_link=url,
                    language=hints[0] if hints else None,
                    created=now,
                    modified=now,
                    seq=emu._next_seq(),
                )
                emu._start_review(voice, failures)
                emu._voices[voice.voice_id] = voice
            return {"voice_id": voice.voice_id}
        if action == "list_voice":
            page_index = _int(params, "page_index", 0, 0, 1_000_000)
            page_size = _int(params, "page_size", 10, 1, 1000)
            prefix = params.get("prefix")
            now_m = time.monotonic()
            with emu.lock:
                found = [
                    v for v in emu._voices.values() if v.family == "cosyvoice" and (not prefix or v.prefix == prefix)
                ]
                page = self._sorted(found)[page_index * page_size : (page_index + 1) * page_size]
                listed = [
                    {
                        "voice_id": v.voice_id,
                        "gmt_create": v.created.strftime(TIME_FORMAT),
                        "gmt_modified": v.modified.strftime(TIME_FORMAT),
                        "status": v.status(now_m),
                    }
                    for v in page
                ]
            return {"voice_list": listed}
        if action == "query_voice":
            with emu.lock:
                v = self._voice(_str(params, "voice_id"), "cosyvoice")
                return {
                    "gmt_create": v.created.strftime(TIME_FORMAT),
                    "gmt_modified": v.modified.strftime(TIME_FORMAT),
                    "resource_link": v.resource_link,
                    "target_model": v.target_model,
                    "status": v.status(time.monotonic()),
                }
        if action == "update_voice":
            voice_id, url = _str(params, "voice_id"), _str(params, "url")
            with emu.lock:
                target_model = self._voice(voice_id, "cosyvoice").target_model
            failures = self._get_audio(url, target_model)
            with emu.lock:
                v = self._voice(voice_id, "cosyvoice")  # it may have been deleted meanwhile
                v.resource_link = url
                v.modified = datetime.now(SERVICE_TZ)
                emu._start_review(v, failures)
            return {}
        if action == "delete_voice":
            voice_id = _str(params, "voice_id")
            with emu.lock:
                self._voice(voice_id, "cosyvoice")
                del emu._voices[voice_id]
            return {}
        raise _bad(f"Unsupported action for voice-enrollment: {action}")

    # ------------------------------------------------------------------------------------------ Qwen

    def _qwen(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        emu = self.emu
        if action == "create":
            target_model = _str(params, "target_model")
            if target_model not in QWEN_MODELS:
                raise _bad(f"target_model {target_model!r} does not support voice cloning")
            name = _str(params, "preferred_name")
            if not PREFERRED_NAME_RE.match(name):
                raise _bad("preferred_name must be letters, digits or underscores, at most 16 characters")
            audio = params.get("audio")
            if not isinstance(audio, dict) or not isinstance(audio.get("data"), str) or not audio["data"]:
                raise _bad('audio must be {"data": "<URL or data URI>"}')
            language = params.get("language")
            self._check_quota("qwen")
            failures = self._get_audio(audio["data"], target_model)
            if failures:  # no asynchronous review for Qwen: every finding rejects the create
                code, _, message = failures[0].partition(":")
                raise ApiError(400, code.strip(), message.strip())
            now = datetime.now(SERVICE_TZ)
            stamp = now.strftime("%Y%m%d%H%M%S") + f"{now.microsecond // 1000:03d}"
            link = audio["data"] if not audio["data"].startswith("data:") else None
            with emu.lock:
                self._check_quota("qwen")
                voice = _Voice(
                    voice_id=f"qwen-tts-vc-{name}-voice-{stamp}-{secrets.token_hex(2)}",
                    family="qwen",
                    target_model=target_model,
                    prefix=None,
                    preferred_name=name,
                    resource_link=link,
                    language=language if isinstance(language, str) else None,
                    created=now,
                    modified=now,
                    seq=emu._next_seq(),
                )
                emu._voices[voice.voice_id] = voice
            return {"voice": voice.voice_id, "target_model": target_model}
        if action == "list":
            page_index = _int(params, "page_index", 0, 0, 1_000_000)
            page_size = _int(params, "page_size", 10, 1, 1000)
            with emu.lock:
                found = self._sorted([v for v in emu._voices.values() if v.family == "qwen"])
                page = found[page_index * page_size : (page_index + 1) * page_size]
                return {
                    "page_index": page_index,
                    "page_size": page_size,
                    "total_count": len(found),
                    "voice_list": [self._qwen_entry(v) for v in page],
                }
        if action == "query":
            with emu.lock:
                return self._qwen_entry(self._voice(_str(params, "voice"), "qwen"))
        if action == "delete":
            voice_id = _str(params, "voice")
            with emu.lock:
                self._voice(voice_id, "qwen")
                del emu._voices[voice_id]
            return {}
        raise _bad(f"Unsupported action for qwen-voice-enrollment: {action}")

    @staticmethod
    def _qwen_entry(v: _Voice) -> dict[str, Any]:
        return {
            "voice": v.voice_id,
            "target_model": v.target_model,
            "language": v.language,
            "gmt_create": v.created.strftime(TIME_FORMAT),
            "gmt_modified": v.modified.strftime(TIME_FORMAT),
        }
