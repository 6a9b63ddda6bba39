"""OSS signature V4 (`OSS4-HMAC-SHA256`), recomputed from the request the way oss2/auth.py builds it.

Both forms are checked: the Authorization header (`ProviderAuthV4._sign_request`) and presigned URLs
(`ProviderAuthV4._sign_url`, `x-oss-signature` and friends in the query). V1/V2 signatures are refused: OSS no
longer accepts them for accounts and buckets created since 2025, so an adapter that uses them must fail here.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.emulator._http import Request
    from tests.emulator.core import Emulator

ALGORITHM = "OSS4-HMAC-SHA256"
MAX_SKEW = 15 * 60
MAX_EXPIRES = 7 * 24 * 3600
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-~.")


@dataclass
class OssAuthError(Exception):
    status: int
    code: str
    message: str
    extra: dict[str, str] = field(default_factory=dict)


def v4_uri_encode(text: str, keep_slash: bool) -> str:
    return "".join(
        chr(b) if b in _UNRESERVED or (keep_slash and b == 0x2F) else f"%{b:02X}" for b in text.encode("utf-8")
    )


def _canonical_query(query: list[tuple[str, str]]) -> str:
    encoded = sorted((v4_uri_encode(k, False), v4_uri_encode(v, False)) for k, v in query)
    # oss2 writes a parameter with an empty value as the bare name, without "=".
    return "&".join(f"{k}={v}" if v else k for k, v in encoded)


def _canonical_headers(req: Request, additional: list[str]) -> str:
    signed = [
        (name, value)
        for name, value in req.header_items()
        if name.startswith("x-oss-") or name in ("content-type", "content-md5") or name in additional
    ]
    signed.sort(key=lambda item: item[0])
    return "".join(f"{name}:{value}\n" for name, value in signed)


def _signing_key(secret: str, date: str, region: str, product: str) -> bytes:
    key = hmac.new(f"aliyun_v4{secret}".encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, product, "aliyun_v4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def _parse_time(stamp: str) -> datetime:
    try:
        return datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError as exc:
        raise OssAuthError(403, "AccessDenied", f"Invalid x-oss-date: {stamp!r}") from exc


def verify_oss_v4(req: Request, bucket: str, key: str, emu: Emulator, bucket_region: str | None = None) -> None:
    """Raise OssAuthError unless the request carries a valid V4 signature of the emulator's credentials,
    scoped to the bucket's own region (a signature for another region is refused, as OSS does)."""
    q = req.query_dict
    auth = req.header("Authorization") or ""
    if "x-oss-signature" in q:
        presigned = True
        if q.get("x-oss-signature-version") != ALGORITHM:
            raise OssAuthError(400, "InvalidArgument", "x-oss-signature-version must be OSS4-HMAC-SHA256.")
        credential = q.get("x-oss-credential", "")
        stamp = q.get("x-oss-date", "")
        signature = q["x-oss-signature"]
        additional = [h for h in q.get("x-oss-additional-headers", "").split(";") if h]
        token = q.get("x-oss-security-token")
    elif auth.startswith(ALGORITHM + " "):
        presigned = False
        fields: dict[str, str] = {}
        for item in auth[len(ALGORITHM) + 1 :].split(","):
            name, _, value = item.strip().partition("=")
            fields[name] = value
        credential = fields.get("Credential", "")
        signature = fields.get("Signature", "")
        additional = [h for h in fields.get("AdditionalHeaders", "").split(";") if h]
        stamp = req.header("x-oss-date") or ""
        token = req.header("x-oss-security-token")
    elif auth.startswith(("OSS ", "OSS2 ")) or "Signature" in q or "OSSAccessKeyId" in q:
        raise OssAuthError(403, "AccessDenied", "Signature V1/V2 is not allowed for this account; use V4.")
    else:
        raise OssAuthError(403, "AccessDenied", "You have no right to access this object because of bucket acl.")

    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aliyun_v4_request":
        raise OssAuthError(400, "InvalidArgument", f"Malformed credential scope {credential!r}.")
    access_key_id, date, region, product, _ = parts
    if access_key_id != emu.access_key_id:
        raise OssAuthError(
            403,
            "InvalidAccessKeyId",
            "The OSS Access Key Id you provided does not exist in our records.",
            {"OSSAccessKeyId": access_key_id},
        )
    if token != emu.security_token and (token or emu.security_token):
        raise OssAuthError(403, "InvalidAccessKeyId", "The security token you provided is invalid.")
    when = _parse_time(stamp)
    if date != stamp[:8]:
        raise OssAuthError(403, "SignatureDoesNotMatch", "The date in the credential scope is not x-oss-date's.")
    if region != (bucket_region or emu.region) or product != "oss":
        raise OssAuthError(
            403,
            "SignatureDoesNotMatch",
            f"Invalid signing region or product {region}/{product} in the credential: the bucket is in "
            f"{bucket_region or emu.region}.",
        )
    now = datetime.now(UTC)
    if presigned:
        try:
            expires = int(q.get("x-oss-expires", ""))
        except ValueError:
            expires = -1
        if not 0 < expires <= MAX_EXPIRES:
            raise OssAuthError(400, "InvalidArgument", "x-oss-expires must be between 1 and 604800 seconds.")
        if (now - when).total_seconds() > expires:
            raise OssAuthError(
                403,
                "AccessDenied",
                "Request has expired.",
                {"Expires": str(expires), "ServerTime": now.strftime("%Y-%m-%dT%H:%M:%SZ")},
            )
    elif abs((now - when).total_seconds()) > MAX_SKEW:
        raise OssAuthError(
            403, "RequestTimeTooSkewed", "The difference between the request time and the current time is too large."
        )

    canonical_uri = v4_uri_encode(f"/{bucket}/{key}", True)
    query = [(k, v) for k, v in req.query if k != "x-oss-signature"]
    additional_lc = sorted(h.lower() for h in additional)
    canonical_request = "\n".join(
        [
            req.method,
            canonical_uri,
            _canonical_query(query),
            _canonical_headers(req, additional_lc),
            ";".join(additional_lc),
            req.header("x-oss-content-sha256") or "UNSIGNED-PAYLOAD",
        ]
    )
    scope = f"{date}/{region}/{product}/aliyun_v4_request"
    string_to_sign = "\n".join([ALGORITHM, stamp, scope, hashlib.sha256(canonical_request.encode()).hexdigest()])
    key_bytes = _signing_key(emu.access_key_secret, date, region, product)
    expected = hmac.new(key_bytes, string_to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        raise OssAuthError(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. "
            "Check your key and signing method.",
            {"CanonicalRequest": canonical_request, "StringToSign": string_to_sign},
        )
