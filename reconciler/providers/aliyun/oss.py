"""OSS access shared by the audio store and the state store: V4-signed buckets, retries, error mapping."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from reconciler.errors import AuthError, ProviderError
from reconciler.providers.aliyun.errors import TransportFailure, missing_credentials, redact
from reconciler.providers.aliyun.ratelimit import RetryPolicy
from reconciler.providers.aliyun.sdklog import quiet_sdk_logging

log = logging.getLogger("voicectl.aliyun")

T = TypeVar("T")

AK_ID = "ALIBABA_CLOUD_ACCESS_KEY_ID"
AK_SECRET = "ALIBABA_CLOUD_ACCESS_KEY_SECRET"
STS_TOKEN = "ALIBABA_CLOUD_SECURITY_TOKEN"

_AUTH_CODES = frozenset(
    {
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "SecurityTokenExpired",
        "InvalidSecurityToken",
        "AccessDenied",
        "InvalidAccessKeyId.NotFound",
    }
)


class OssAccount:
    """Credentials, endpoint and region of the OSS side of an account; hands out signed buckets."""

    def __init__(
        self,
        env: Mapping[str, str],
        *,
        region: str,
        endpoint: str | None,
        policy: RetryPolicy,
        timeout: float = 30.0,
    ) -> None:
        self.region = region
        self.endpoint = env.get("VOICECTL_OSS_ENDPOINT") or endpoint or f"https://oss-{region}.aliyuncs.com"
        self.policy = policy
        self.timeout = timeout
        self._id = env.get(AK_ID) or None
        self._secret = env.get(AK_SECRET) or None
        self._token = env.get(STS_TOKEN) or None
        self._buckets: dict[str, Any] = {}
        self._session: Any = None
        self._lock = threading.Lock()

    def bucket(self, name: str) -> Any:
        """An `oss2.Bucket` signing with V4 (V1 is closed to accounts and buckets created since 2025)."""
        if not self._id or not self._secret:
            raise missing_credentials(AK_ID, AK_SECRET, purpose="OSS (audio upload and state)")
        with self._lock:
            bucket = self._buckets.get(name)
            if bucket is None:
                import oss2
                from oss2.credentials import StaticCredentialsProvider

                quiet_sdk_logging()
                if self._session is None:
                    self._session = oss2.Session(pool_size=32)
                # ProviderAuthV4 with a static provider covers both plain keys and STS tokens.
                auth = oss2.ProviderAuthV4(StaticCredentialsProvider(self._id, self._secret, self._token or ""))
                bucket = oss2.Bucket(
                    auth,
                    self.endpoint,
                    name,
                    session=self._session,
                    connect_timeout=self.timeout,
                    region=self.region,
                )
                self._buckets[name] = bucket
            return bucket

    def run(self, what: str, fn: Callable[[], T], *, retry: bool = True) -> T:
        """Run an OSS call, mapping oss2 errors and retrying the transient ones (when `retry`)."""

        def attempt() -> T:
            try:
                return fn()
            except ProviderError:
                raise
            except Exception as exc:
                mapped = self.error(exc, what)
                if mapped is None:
                    raise
                raise mapped from None

        return self.policy.call(attempt) if retry else attempt()

    def error(self, exc: BaseException, what: str) -> ProviderError | None:
        import oss2

        if isinstance(exc, oss2.exceptions.RequestError):
            return TransportFailure(f"{what}: connection to OSS failed")
        if not isinstance(exc, oss2.exceptions.OssError):
            return None
        code = exc.code or str(exc.status)
        ref = f" (code {code}" + (f", request {exc.request_id})" if exc.request_id else ")")
        detail = redact(str(exc.message or ""), self._secret, self._token)
        if exc.status in (401, 403) and (code in _AUTH_CODES or exc.status == 401):
            names = f"{AK_ID} / {AK_SECRET}" + (f" / {STS_TOKEN}" if self._token else "")
            return AuthError(
                f"{what}: OSS refused the credentials{ref}: check {names} and their permissions", code=code
            )
        if exc.status == 404 and code == "NoSuchBucket":
            return ProviderError(f"{what}: bucket does not exist at {self.endpoint}{ref}", code=code)
        retryable = exc.status >= 500 or exc.status == 429 or code == "SlowDown"
        return ProviderError(f"{what}: OSS error{': ' + detail if detail else ''}{ref}", code=code, retryable=retryable)

    def close(self) -> None:
        with self._lock:
            self._buckets.clear()
            if self._session is not None:
                self._session.session.close()
                self._session = None
