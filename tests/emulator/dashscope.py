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
from tests.emulator._state import (
    COSYVOICE_MODELS,
    MODEL_REGIONS,
    PREPROCESS_MODELS,
    PROMPT_LENGTH_MODELS,
    QWEN_MODELS,
    SERVICE_TZ,
    _Voice,
)

if TYPE_CHECKING:
    from tests.emulator.core import Emulator

PATH = "/api/v1/services/audio/tts/customization"
# Qwen-TTS over HTTP (the non-realtime cloned-voice models): the answer links a WAV file to download.
GENERATION_PATH = "/api/v1/services/aigc/multimodal-generation/generation"
AUDIO_PATH = "/api/v1/audio/"  # where the emulator serves what it synthesized (a stand-in for a signed OSS URL)
PREFIX_RE = re.compile(r"^[a-z0-9]{1,9}$")
PREFERRED_NAME_RE = re.compile(r"^[A-Za-z0-9_]{1,16}$")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _bad(message: str) -> ApiError:
    return ApiError(400, "InvalidParameter", message)


def _not_found(voice_id: str, family: str) -> ApiError:
    # The two enrollment APIs name a missing voice differently.
    if family == "qwen":
        return ApiError(400, "BadRequest.VoiceNotFound", f"Voice not found: {voice_id}")
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
    """One region's DashScope endpoint: its own voices, and only that region's API keys."""

    name = "dashscope"

    def __init__(self, emulator: Emulator, region: str | None = None) -> None:
        self.emu = emulator
        self.region = region or emulator.region

    # ------------------------------------------------------------------------------------------ framing

    def identify(self, req: Request) -> tuple[str, dict[str, Any]]:
        if req.path.startswith(AUDIO_PATH):
            return "download", {"id": req.path[len(AUDIO_PATH) :]}
        try:
            body = json.loads(req.body or b"{}")
        except ValueError:
            return "InvalidBody", {}
        if not isinstance(body, dict):
            return "InvalidBody", {}
        inp = body.get("input") if isinstance(body.get("input"), dict) else {}
        params = {"model": body.get("model"), **inp}
        if req.path.rstrip("/") == GENERATION_PATH:
            return "generation", {
                "model": body.get("model"),
                "voice": inp.get("voice"),
                "characters": len(str(inp.get("text") or "")),
            }
        return str(inp.get("action") or "MissingAction"), params

    def _json(self, status: int, payload: dict[str, Any]) -> Reply:
        return Reply(
            status,
            json.dumps(payload, ensure_ascii=False).encode(),
            [("Content-Type", "application/json"), ("req-cost-time", "12")],
        )

    def _error(self, status: int, code: str, message: str) -> Reply:
        return self._json(status, {"request_id": str(uuid.uuid4()), "code": code, "message": message})

    def fault_reply(
        self, req: Request, action: str, status: int, code: str | None = None, message: str | None = None
    ) -> Reply:
        if code:
            return self._error(status, code, message or code)
        if status == 429:
            return self._error(429, "Throttling.RateQuota", "Requests rate limit exceeded, please try again later.")
        return self._error(status, "InternalError", "An internal error has occured, please try again later.")

    def handle(self, req: Request, action: str, params: dict[str, Any]) -> Reply:
        if action == "download" and req.method == "GET":
            audio = self.emu._synthesized_audio(params["id"].removesuffix(".wav"))
            if audio is None:
                return self._error(404, "NotFound", "the audio has expired or never existed")
            return Reply(200, audio, [("Content-Type", "audio/wav")])
        if req.path.rstrip("/") not in (PATH, GENERATION_PATH):
            return self._error(404, "NotFound", f"No route for {req.path}")
        if req.method != "POST":
            return self._error(405, "MethodNotAllowed", f"{req.method} is not allowed")
        auth = req.header("Authorization") or ""
        key = auth[len("Bearer ") :].strip() if auth.startswith("Bearer ") else ""
        # A key belongs to one region: another region's endpoint does not know it at all.
        if self.emu.api_keys.get(key) != self.region:
            return self._error(401, "InvalidApiKey", "Invalid API-key provided.")
        workspace = req.header("X-DashScope-WorkSpace")
        if workspace is not None and self.emu.workspaces.get(workspace.strip()) != key:
            return self._error(
                403, "Workspace.AccessDenied", f"Workspace access denied: the API key is not in {workspace!r}."
            )
        if action == "InvalidBody":
            return self._error(400, "InvalidParameter", "The request body is not a JSON object.")
        if action == "generation":
            return self._generation(req)
        model = params.get("model")
        family = {"voice-enrollment": "cosyvoice", "qwen-voice-enrollment": "qwen"}.get(str(model))
        refused = self.emu._admit_enrollment(family) if family else None
        if refused:
            return self._error(429, *refused)
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

    def _generation(self, req: Request) -> Reply:
        """Qwen-TTS with a cloned voice over HTTP: {"model", "input": {"text", "voice"}} -> output.audio.url."""
        body = json.loads(req.body or b"{}")
        inp = body.get("input") if isinstance(body.get("input"), dict) else {}
        model, voice, text = str(body.get("model") or ""), str(inp.get("voice") or ""), str(inp.get("text") or "")
        if "realtime" in model or not model.startswith("qwen3-tts-vc-"):
            return self._error(400, "InvalidParameter", f"Model {model} does not speak through this API")
        if not text:
            return self._error(400, "InvalidParameter", "input.text is required")
        problem = self.emu._admit_synthesis() or self.emu._synthesis_problem(voice, model, "qwen")
        if problem:
            return self._error(429 if problem[0].startswith("Throttling") else 400, *problem)
        injected = self.emu._take_synthesis_failure()
        if injected:
            return self._error(500 if injected[0] == "InternalError" else 400, *injected)
        from tests.emulator.speech import speech_wav

        audio_id = self.emu._keep_synthesized(speech_wav(text, 24_000, muted=self.emu._is_muted(voice)))
        host = req.headers.get("Host", "127.0.0.1")
        url = f"http://{host}{AUDIO_PATH}{audio_id}.wav"
        audio = {"url": url, "id": audio_id, "data": "", "expires_at": int(time.time()) + 86_400}
        output = {"finish_reason": "stop", "audio": audio}
        return self._json(200, {"output": output, "usage": {"characters": len(text)}, "request_id": str(uuid.uuid4())})

    # ------------------------------------------------------------------------------------------ shared

    def _check_target(self, target_model: str, models: tuple[str, ...]) -> None:
        if target_model not in models:
            raise _bad(f"target_model {target_model!r} does not support voice cloning")
        if self.region not in MODEL_REGIONS.get(target_model, ()):
            raise _bad(f"target_model {target_model!r} is not supported in region {self.region}")
        if target_model in self.emu.denied_models:
            raise ApiError(403, "Model.AccessDenied", f"Model access denied: {target_model}.")

    def _page_size(self, params: dict[str, Any]) -> int:
        # Asked-for sizes above the service's own page size are served at its size, without saying so.
        return min(_int(params, "page_size", 10, 1, 1000), self.emu.max_page_size)

    def _check_quota(self, family: str) -> None:
        with self.emu.lock:
            used = sum(1 for v in self.emu._voices.values() if v.family == family and v.region == self.region)
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
        except _audio.AudioDownloadFailed as exc:
            raise ApiError(400, "BadRequest.InputDownloadFailed", f"Failed to download the input file: {exc}") from exc
        except _audio.AudioUnreachable as exc:
            raise ApiError(500, "InternalError", f"audio url not reachable: {exc}") from exc
        verdict = _audio.review(data, ext, target_model)
        if verdict.reject:
            raise ApiError(400, *verdict.reject)
        return verdict.review_failures

    def _voice(self, voice_id: str, family: str) -> _Voice:
        voice = self.emu._voices.get(voice_id)
        if voice is None or voice.family != family or voice.region != self.region:
            raise _not_found(voice_id, family)
        return voice

    def _listed(self, family: str) -> list[_Voice]:
        return [v for v in self.emu._voices.values() if v.family == family and v.region == self.region]

    @staticmethod
    def _sorted(voices: list[_Voice]) -> list[_Voice]:
        return sorted(voices, key=lambda v: (v.created, v.seq), reverse=True)

    # ------------------------------------------------------------------------------------------ CosyVoice

    def _cosyvoice(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        emu = self.emu
        if action == "create_voice":
            target_model = _str(params, "target_model")
            self._check_target(target_model, COSYVOICE_MODELS)
            self._check_create_options(params, target_model)
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
                    region=self.region,
                )
                emu._start_review(voice, failures)
                emu._voices[voice.voice_id] = voice
            return {"voice_id": voice.voice_id}
        if action == "list_voice":
            page_index = _int(params, "page_index", 0, 0, 1_000_000)
            page_size = self._page_size(params)
            prefix = params.get("prefix")
            now_m = time.monotonic()
            with emu.lock:
                found = [v for v in self._listed("cosyvoice") if not prefix or v.prefix == prefix]
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

    @staticmethod
    def _check_create_options(params: dict[str, Any], target_model: str) -> None:
        """The CosyVoice create options, each taken only by the targets documented for it."""
        length = params.get("max_prompt_audio_length")
        if length is not None:
            if target_model not in PROMPT_LENGTH_MODELS:
                raise _bad(f"max_prompt_audio_length is not supported by {target_model}")
            if isinstance(length, bool) or not isinstance(length, int | float) or not 3 <= length <= 30:
                raise _bad(f"max_prompt_audio_length must be a number in [3, 30], got {length!r}")
        preprocess = params.get("enable_preprocess")
        if preprocess is not None:
            if target_model not in PREPROCESS_MODELS:
                raise _bad(f"enable_preprocess is not supported by {target_model}")
            if not isinstance(preprocess, bool):
                raise _bad(f"enable_preprocess must be a boolean, got {preprocess!r}")

    # ------------------------------------------------------------------------------------------ Qwen

    def _qwen(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        emu = self.emu
        if action == "create":
            target_model = _str(params, "target_model")
            self._check_target(target_model, QWEN_MODELS)
            name = _str(params, "preferred_name")
            if not PREFERRED_NAME_RE.match(name):
                raise _bad("preferred_name must be letters, digits or underscores, at most 16 characters")
            audio = params.get("audio")
            if not isinstance(audio, dict) or not isinstance(audio.get("data"), str) or not audio["data"]:
                raise _bad('audio must be {"data": "<URL or data URI>"}')
            language = params.get("language")
            text = params.get("text")
            if text is not None and (not isinstance(text, str) or not text.strip()):
                raise _bad("text must be a non-empty string (the transcript of the audio)")
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
                    region=self.region,
                )
                emu._voices[voice.voice_id] = voice
            out: dict[str, Any] = {"voice": voice.voice_id, "target_model": target_model, "fallback_mode": False}
            reason = emu._take_qwen_fallback()
            if reason:  # cloned in degraded mode (poor audio, or a transcript that does not match)
                out.update(fallback_mode=True, fallback_reason=reason)
            return out
        if action == "list":
            page_index = _int(params, "page_index", 0, 0, 1_000_000)
            page_size = self._page_size(params)
            with emu.lock:
                found = self._sorted(self._listed("qwen"))
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
