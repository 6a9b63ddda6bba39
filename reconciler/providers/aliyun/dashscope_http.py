"""One request to the DashScope voice-enrollment endpoint, rate limited, mapped to our error types.

Both families go over `requests` with the body and headers the dashscope SDK sends
(`dashscope.client.base_api.BaseApi.call`, what `VoiceEnrollmentService` uses for CosyVoice), not through
the SDK itself: `import dashscope` loads aiohttp, httpx, pydantic and rich (0.6-1 s), which every `plan` and
`apply` paid before its first request, for one JSON POST. `VoiceEnrollmentService` was never usable anyway:
it re-sends every action three times on a connection error (create included, so a dropped response clones
twice) and raises `UnboundLocalError` when all attempts fail. Qwen enrollment has no SDK wrapper at all.

Exactly one attempt per call: retrying is the caller's decision, because create is not idempotent.
"""

from __future__ import annotations

import json
import logging
import platform
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import requests

from reconciler.errors import ProviderError
from reconciler.providers.aliyun.errors import TransportFailure, dashscope_error, missing_credentials
from reconciler.providers.aliyun.ratelimit import (
    DASHSCOPE_RATE,
    QWEN_RATE_PER_MINUTE,
    account_key,
    shared_limiter,
)

log = logging.getLogger("voicectl.aliyun")

DEFAULT_BASE_URL = "https://dashscope.aliyuncs.com/api/v1"
COSYVOICE_MODEL = "voice-enrollment"
QWEN_MODEL = "qwen-voice-enrollment"
PATH = "services/audio/tts/customization"
# Identifies the client to the service, as the SDK's user-agent does (the SDK's own telemetry headers,
# x-dashscope-sdk-*, are not sent: they describe the SDK, which is not used).
USER_AGENT = f"voicectl/0.1.0; python/{platform.python_version()}; platform/{platform.system()}"
WORKSPACE_PLACEHOLDER = "{workspace_id}"


class _NoResendSession(requests.Session):
    """A Session whose transport errors are `TransportFailure`, not `requests.ConnectionError`.

    So no layer above re-sends a POST on ConnectionError (dashscope's HTTP layer does, once, for stale pooled
    connections): after a response was lost such a re-send would run create_voice a second time."""

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        try:
            return super().request(method, url, *args, **kwargs)
        except requests.RequestException as exc:
            host = urlsplit(url if isinstance(url, str) else url.decode()).netloc
            timed_out = isinstance(exc, requests.Timeout) and not isinstance(exc, requests.ConnectTimeout)
            raise TransportFailure(
                f"connection to DashScope at {host} failed ({type(exc).__name__})", timed_out=timed_out
            ) from None


class DashScopeHttp:
    """The endpoint, key, session and shared limiters of one DashScope account."""

    def __init__(self, env: Mapping[str, str], *, timeout: tuple[float, float] = (5.0, 60.0)) -> None:
        self.base_url = (env.get("DASHSCOPE_HTTP_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        # The SDK resolves a {workspace_id} placeholder (MaaS regional endpoints) from DASHSCOPE_WORKSPACE_ID.
        workspace = env.get("DASHSCOPE_WORKSPACE_ID")
        if workspace and WORKSPACE_PLACEHOLDER in self.base_url:
            self.base_url = self.base_url.replace(WORKSPACE_PLACEHOLDER, workspace)
        self._api_key = env.get("DASHSCOPE_API_KEY") or None
        self.timeout = timeout
        self._session: _NoResendSession | None = None
        self._session_lock = threading.Lock()
        account = account_key(self.base_url, self._api_key or "")
        self.limiter = shared_limiter("dashscope", account, DASHSCOPE_RATE)
        self.qwen_limiter = shared_limiter("dashscope-qwen", account, QWEN_RATE_PER_MINUTE, 60.0)

    # -- plumbing -----------------------------------------------------------------------------------

    def _key(self) -> str:
        if not self._api_key:
            raise missing_credentials("DASHSCOPE_API_KEY", purpose="voice cloning (DashScope)")
        return self._api_key

    def session(self) -> _NoResendSession:
        with self._session_lock:
            if self._session is None:
                s = _NoResendSession()
                # The executor runs up to --parallelism threads against one account.
                adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=32)
                s.mount("http://", adapter)
                s.mount("https://", adapter)
                self._session = s
            return self._session

    def close(self) -> None:
        with self._session_lock:
            if self._session is not None:
                self._session.close()
                self._session = None

    def _error(
        self, status: int, code: str | None, message: Any, request_id: str | None, action: str, voice_id: str | None
    ) -> Exception:
        return dashscope_error(
            status=status,
            code=code,
            message=str(message) if message is not None else None,
            request_id=request_id,
            action=action,
            voice_id=voice_id,
            secrets=(self._api_key,),
        )

    # -- calls --------------------------------------------------------------------------------------

    def cosyvoice(self, payload: dict[str, Any], *, voice_id: str | None = None) -> dict[str, Any]:
        """One CosyVoice enrollment action; returns `output`."""
        body = {"model": COSYVOICE_MODEL, "input": payload, "parameters": {}}  # what BaseApi.call sends
        return self._post(body, action=str(payload["action"]), voice_id=voice_id)

    def qwen(self, payload: dict[str, Any], *, voice_id: str | None = None) -> dict[str, Any]:
        """One Qwen enrollment action (no SDK wrapper exists); returns `output`."""
        self.qwen_limiter.acquire()  # then the account's shared cloning budget, in _post
        return self._post(
            {"model": QWEN_MODEL, "input": payload}, action=f"qwen {payload['action']}", voice_id=voice_id
        )

    def _post(self, body: dict[str, Any], *, action: str, voice_id: str | None) -> dict[str, Any]:
        key = self._key()
        if WORKSPACE_PLACEHOLDER in self.base_url:
            raise ProviderError(
                f"DASHSCOPE_HTTP_BASE_URL contains {WORKSPACE_PLACEHOLDER} but DASHSCOPE_WORKSPACE_ID is not set"
            )
        self.limiter.acquire()
        response = self.session().post(
            f"{self.base_url}/{PATH}",
            data=json.dumps(body, ensure_ascii=False).encode("utf-8"),
            headers={
                "Authorization": f"Bearer {key}",
                "Accept": "application/json; charset=utf-8",
                "Content-Type": "application/json; charset=utf-8",
                "User-Agent": USER_AGENT,
            },
            timeout=self.timeout,
        )
        try:
            reply = response.json()
        except ValueError:
            reply = {"message": response.text[:300]}
        if not isinstance(reply, dict):
            reply = {}
        request_id = reply.get("request_id") or response.headers.get("x-request-id")
        log.debug(
            "dashscope %s voice=%s status=%s request_id=%s",
            action,
            voice_id or "-",
            response.status_code,
            request_id or "-",
        )
        if response.status_code != 200:
            raise self._error(
                response.status_code, reply.get("code"), reply.get("message"), request_id, action, voice_id
            )
        return dict(reply.get("output") or {})
