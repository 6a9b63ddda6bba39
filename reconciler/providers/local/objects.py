"""The local audio store: blobs under `.voicectl/local/objects/<key>`, handed out as expiring URLs.

The URL scheme `voicectl-local://objects/<percent-encoded key>?expires=<unix>` stands in for a signed OSS
URL: it carries the key in its path (so `reconciler.model.resource_link_matches` recognises it) and stops
working after its TTL, which is what the voice service checks when it "fetches" it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
import uuid
from urllib.parse import parse_qs, quote, unquote, urlsplit

from reconciler.errors import ProviderError, VoicectlError
from reconciler.providers.local.db import AccountDb

URL_SCHEME = "voicectl-local"
URL_HOST = "objects"
_CHUNK = 1 << 20


def object_path(objects_dir: str, key: str) -> str:
    """The file of `key`, refusing keys that would leave the objects directory."""
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ProviderError(f"invalid object key {key!r}", code="InvalidObjectName")
    return os.path.join(objects_dir, *parts)


def resolve_audio_url(objects_dir: str, url: str, now: float | None = None) -> str:
    """The object file behind a local signed URL, as the cloning service would fetch it.

    Anything it cannot fetch (another scheme, an expired URL, a missing object) fails like the cloud's
    unreachable URL: InternalError."""
    now = time.time() if now is None else now
    parts = urlsplit(url)
    if parts.scheme != URL_SCHEME or parts.netloc != URL_HOST:
        raise _unreachable(url, "the local provider only fetches its own voicectl-local:// URLs")
    try:
        expires = int(parse_qs(parts.query)["expires"][0])
    except (KeyError, ValueError, IndexError):
        raise _unreachable(url, "the URL carries no valid expiry") from None
    if expires < now:
        raise _unreachable(url, "the signed URL has expired")
    try:
        path = object_path(objects_dir, unquote(parts.path.lstrip("/")))
    except ProviderError:
        raise _unreachable(url, "the URL names no valid object") from None
    if not os.path.isfile(path):
        raise _unreachable(url, "no object under that key")
    return path


def _unreachable(url: str, why: str) -> ProviderError:
    # Only the key part is shown: the whole URL is a credential in the cloud, so messages never carry one.
    key = unquote(urlsplit(url).path.lstrip("/")) or url.split("?", 1)[0]
    return ProviderError(f"audio url not reachable ({key}): {why}", code="InternalError")


class LocalAudioStore:
    """The `AudioStore` port: content-addressed copies of local audio files."""

    def __init__(self, db: AccountDb):
        self._db = db
        self.objects_dir = db.objects_dir

    def ensure_uploaded(self, *, path: str, key: str, sha256: str, content_type: str) -> bool:
        with self._db.call():
            target = object_path(self.objects_dir, key)
            if os.path.isfile(target):
                return False  # content-addressed key: present means identical
            os.makedirs(os.path.dirname(target), exist_ok=True)
            tmp = f"{target}.{uuid.uuid4().hex}.tmp"
            digest = hashlib.sha256()
            try:
                with open(path, "rb") as src, open(tmp, "wb") as dst:
                    while chunk := src.read(_CHUNK):
                        digest.update(chunk)
                        dst.write(chunk)
                    dst.flush()
                    os.fsync(dst.fileno())
                # Like OSS's Content-MD5 check: a file edited since it was hashed must not land under
                # the old content's key.
                if digest.hexdigest() != sha256.lower():
                    raise ProviderError(
                        f"{path} changed while uploading (sha256 {digest.hexdigest()}, expected {sha256}); "
                        "run plan again",
                        code="InvalidDigest",
                    )
                os.replace(tmp, target)
            except OSError as exc:
                raise ProviderError(f"cannot copy {path} into the local account: {exc}") from exc
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
            return True

    def signed_url(self, key: str, ttl: int) -> str:
        with self._db.call():
            object_path(self.objects_dir, key)  # refuse a bad key now rather than at fetch time
            expires = int(time.time() + ttl)
            return f"{URL_SCHEME}://{URL_HOST}/{quote(key, safe='')}?expires={expires}"

    def url_for(self, ref: str, ttl: int) -> str:
        raise VoicectlError(
            f"audio {ref!r} cannot be fetched by the local provider (it simulates the cloud offline and "
            "reads no oss:// or https:// URL): use a local file with provider local, or provider aliyun"
        )

    def close(self) -> None:
        self._db.close()
