"""OSS access shared by the audio store and the state store: V4-signed buckets, retries, error mapping.

Three endpoints, because they serve different readers:
- requests (upload, HEAD, state) go to `upload_endpoint` when set, e.g. a bucket region's `-internal` endpoint
  from inside its VPC, else to `endpoint`;
- signed audio URLs are fetched by Model Studio from outside any VPC, so they are always signed for the public
  form of `endpoint` (an `-internal` host would not resolve there);
- V4 signatures are scoped to the bucket's region, read from the endpoint's host (`oss-<region>[-internal]`),
  which may differ from `account.region`; only an endpoint that names no region (an IP) falls back to it.
`VOICECTL_OSS_ENDPOINT` overrides where requests and URLs go (private networks, tests), never the signing region.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from reconciler.errors import AuthError, ProviderError
from reconciler.naming import endpoint_region, public_endpoint
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
    """Credentials, endpoints and signing region of the OSS side of an account; hands out signed buckets."""

    def __init__(
        self,
        env: Mapping[str, str],
        *,
        region: str,
        endpoint: str | None,
        policy: RetryPolicy,
        upload_endpoint: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        configured = endpoint or f"https://oss-{region}.aliyuncs.com"
        override = env.get("VOICECTL_OSS_ENDPOINT")
        # The bucket's region, from the endpoint the config names (an override is only a network path to it).
        self.region = endpoint_region(configured) or endpoint_region(upload_endpoint) or region
        self.endpoint = override or upload_endpoint or configured
        self.url_endpoint = override or public_endpoint(configured)
        self.policy = policy
        self.timeout = timeout
        self._id = env.get(AK_ID) or None
        self._secret = env.get(AK_SECRET) or None
        self._token = env.get(STS_TOKEN) or None
        self._buckets: dict[str, Any] = {}
        self._session: Any = None
        self._lock = threading.Lock()

    def bucket(self, name: str, *, for_urls: bool = False) -> Any:
        """An `oss2.Bucket` signing with V4 (V1 is closed to accounts and buckets created since 2025).

        `for_urls`: the bucket whose signed URLs are handed to Model Studio (public endpoint)."""
        if not self._id or not self._secret:
            raise missing_credentials(AK_ID, AK_SECRET, purpose="OSS (audio upload and state)")
        endpoint = self.url_endpoint if for_urls else self.endpoint
        with self._lock:
            bucket = self._buckets.get(f"{endpoint} {name}")
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
                    endpoint,
                    name,
                    session=self._session,
                    connect_timeout=self.timeout,
                    region=self.region,
                )
                self._buckets[f"{endpoint} {name}"] = bucket
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
