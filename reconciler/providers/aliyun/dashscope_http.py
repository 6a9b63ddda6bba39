"""One request to the DashScope voice-enrollment endpoint, rate limited, mapped to our error types.

CosyVoice goes through the SDK's own HTTP call (`dashscope.client.base_api.BaseApi.call`, what
`VoiceEnrollmentService` uses) rather than `VoiceEnrollmentService` itself: the service class re-sends every
action three times on a connection error (create included, so a dropped response clones twice) and raises
`UnboundLocalError` when all attempts fail. Qwen enrollment has no SDK wrapper and goes over `requests`.

Exactly one attempt per call: retrying is the caller's decision, because create is not idempotent.

The endpoint follows `account.region` (a key belongs to one region; another region's host answers 401
InvalidApiKey), and `account.workspace` both picks the workspace's own host and sends `X-DashScope-WorkSpace`.
`DASHSCOPE_HTTP_BASE_URL`, the SDK's own variable, overrides the host for private networks and tests.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import requests

from reconciler.catalog import BEIJING, COSYVOICE, QWEN, REGIONS, DashScopeEndpoints, dashscope_endpoints
from reconciler.errors import ProviderError
from reconciler.providers.aliyun.dashscope_errors import CallContext, dashscope_error
from reconciler.providers.aliyun.errors import TransportFailure, missing_credentials
from reconciler.providers.aliyun.ratelimit import enrollment_limiter
from reconciler.providers.aliyun.sdklog import quiet_sdk_logging

log = logging.getLogger("voicectl.aliyun")

COSYVOICE_MODEL = "voice-enrollment"
QWEN_MODEL = "qwen-voice-enrollment"
PATH = "services/audio/tts/customization"


class _NoResendSession(requests.Session):
    """A Session whose transport errors are not `requests.ConnectionError`.

    dashscope's HTTP layer re-sends a POST once when it sees ConnectionError (meant for stale pooled
    connections); after a response was lost that re-send would run create_voice a second time."""

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
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

    def __init__(
        self,
        env: Mapping[str, str],
        *,
        region: str = BEIJING,
        workspace: str | None = None,
        timeout: tuple[float, float] = (5.0, 60.0),
    ) -> None:
        if region not in REGIONS:
            raise ProviderError(
                f"account.region {region!r}: Model Studio voice cloning is offered in {', '.join(REGIONS)}; "
                "set account.region to one of them"
            )
        self.region = region
        self.workspace = workspace or None
        self.endpoints: DashScopeEndpoints = dashscope_endpoints(region, self.workspace)
        override = env.get("DASHSCOPE_HTTP_BASE_URL")
        self.base_url = (override or self.endpoints.http).rstrip("/")
        if override:
            self.endpoints = dataclasses.replace(self.endpoints, http=self.base_url)
        self._api_key = env.get("DASHSCOPE_API_KEY") or None
        self.timeout = timeout
        self._session: _NoResendSession | None = None
        self._session_lock = threading.Lock()
        # One budget per family and account, shared by every thread and port of the process.
        self.limiter = enrollment_limiter(COSYVOICE, self.base_url, self._api_key or "")
        self.qwen_limiter = enrollment_limiter(QWEN, self.base_url, self._api_key or "")

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
        ctx = CallContext(action, voice_id, self.region, self.workspace, (self._api_key,))
        return dashscope_error(status, code, str(message) if message is not None else None, request_id, ctx)

    # -- calls --------------------------------------------------------------------------------------

    def cosyvoice(self, payload: dict[str, Any], *, voice_id: str | None = None) -> dict[str, Any]:
        """One CosyVoice enrollment action; returns `output`."""
        key = self._key()
        from dashscope.client.base_api import BaseApi
        from dashscope.common.constants import ApiProtocol, HTTPMethod

        quiet_sdk_logging()
        action = str(payload["action"])
        self.limiter.acquire()
        response = BaseApi.call(
            model=COSYVOICE_MODEL,
            input=payload,
            task_group="audio",
            task="tts",
            function="customization",
            api_protocol=ApiProtocol.HTTP,
            http_method=HTTPMethod.POST,
            api_key=key,
            # The SDK sends it as X-DashScope-WorkSpace; its stubs say str, None (no workspace) is what it checks.
            workspace=self.workspace,  # type: ignore[arg-type]
            # Per call rather than the module-global dashscope.base_http_api_url: threads and several
            # accounts may share the process.
            base_address=self.base_url,
            session=self.session(),
            request_timeout=self.timeout,
        )
        status = int(response.status_code)
        log.debug(
            "dashscope %s voice=%s status=%s request_id=%s",
            action,
            voice_id or "-",
            status,
            response.request_id or "-",
        )
        if status != 200:
            raise self._error(status, response.code, response.message, response.request_id, action, voice_id)
        return dict(response.output or {})

    def qwen(self, payload: dict[str, Any], *, voice_id: str | None = None) -> dict[str, Any]:
        """One Qwen enrollment action over plain HTTP (no SDK wrapper exists); returns `output`."""
        key = self._key()
        action = f"qwen {payload['action']}"
        self.qwen_limiter.acquire()  # Qwen's own budget: CosyVoice's is counted apart by the service
        headers = {"Authorization": f"Bearer {key}", "Accept": "application/json"}
        if self.workspace:
            headers["X-DashScope-WorkSpace"] = self.workspace
        response = self.session().post(
            f"{self.base_url}/{PATH}",
            json={"model": QWEN_MODEL, "input": payload},
            headers=headers,
            timeout=self.timeout,
        )
        try:
            body = response.json()
        except ValueError:
            body = {"message": response.text[:300]}
        if not isinstance(body, dict):
            body = {}
        request_id = body.get("request_id") or response.headers.get("x-request-id")
        log.debug(
            "dashscope %s voice=%s status=%s request_id=%s",
            action,
            voice_id or "-",
            response.status_code,
            request_id or "-",
        )
        if response.status_code != 200:
            raise self._error(response.status_code, body.get("code"), body.get("message"), request_id, action, voice_id)
        return dict(body.get("output") or {})
