"""AudioStore on OSS: content-addressed uploads and signed GET URLs for the cloning service."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
from urllib.parse import urlsplit

from reconciler.errors import ProviderError
from reconciler.providers.aliyun.oss import OssAccount

log = logging.getLogger("voicectl.aliyun")

MAX_URL_TTL = 7 * 24 * 3600  # V4 signed URLs live at most 7 days


def _digests(path: str) -> tuple[str, str, int]:
    """(base64 MD5, hex sha256, size) of a file, read once."""
    md5, sha = hashlib.md5(), hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            md5.update(chunk)
            sha.update(chunk)
            size += len(chunk)
    return base64.b64encode(md5.digest()).decode(), sha.hexdigest(), size


class OssAudioStore:
    """Uploads to `bucket` of `oss`; `url_for` may sign objects of other buckets on the same endpoint."""

    def __init__(self, oss: OssAccount, bucket: str | None) -> None:
        self.oss = oss
        self.bucket_name = bucket

    def _bucket(self) -> str:
        if not self.bucket_name:
            raise ProviderError("provider aliyun needs account.oss.bucket in voices.yaml to upload local audio")
        return self.bucket_name

    def ensure_uploaded(self, *, path: str, key: str, sha256: str, content_type: str) -> bool:
        import oss2

        bucket = self.oss.bucket(self._bucket())

        def present() -> bool:
            try:
                bucket.head_object(key)
                return True
            except oss2.exceptions.NoSuchBucket:
                raise
            except oss2.exceptions.NotFound:
                return False

        # Content-addressed keys: an object under the key is this content, so presence is proof enough.
        if self.oss.run(f"HEAD {key}", present):
            log.debug("oss head %s present, upload skipped", key)
            return False

        content_md5, actual_sha, size = _digests(path)
        if actual_sha != sha256:
            raise ProviderError(f"{path} changed since it was checked (sha256 differs): run plan again")
        headers = {
            "Content-MD5": content_md5,  # OSS rejects a body that arrived damaged
            "Content-Type": content_type,
            "x-oss-meta-sha256": sha256,
            # A concurrent run uploading the same content gets 409 instead of rewriting the object.
            "x-oss-forbid-overwrite": "true",
            # No x-oss-object-acl: the object inherits the (private) bucket ACL; never public.
        }

        attempts = 0

        def put() -> bool:
            nonlocal attempts
            attempts += 1
            try:
                with open(path, "rb") as fh:
                    result = bucket.put_object(key, fh, headers=headers)
            except oss2.exceptions.ServerError as exc:
                if exc.status == 409 and exc.code == "FileAlreadyExists":
                    # Uploaded meanwhile by another run, or by our own earlier attempt whose answer was lost.
                    return attempts > 1
                raise
            log.debug("oss put %s size=%d status=%s request_id=%s", key, size, result.status, result.request_id)
            return True

        return self.oss.run(f"upload {key}", put)

    def probe_read(self, key_prefix: str) -> str:
        """`voicectl doctor`: can these credentials read objects under the audio prefix? A HEAD of a key that
        does not exist answers 404 with the read permission, 403 without it; nothing is written."""
        import oss2

        bucket = self.oss.bucket(self._bucket())
        key = f"{key_prefix}voicectl-doctor-probe"

        def head() -> str:
            with contextlib.suppress(oss2.exceptions.NotFound):
                bucket.head_object(key)
            return f"oss://{self._bucket()}/{key_prefix} readable"

        return self.oss.run(f"HEAD {key}", head)

    def signed_url(self, key: str, ttl: int) -> str:
        return self._sign(self._bucket(), key, ttl)

    def url_for(self, ref: str, ttl: int) -> str:
        if ref.startswith(("https://", "http://")):
            return ref
        if ref.startswith("oss://"):
            parts = urlsplit(ref)
            key = parts.path.lstrip("/")
            if not parts.netloc or not key:
                raise ProviderError(f"{ref}: an OSS audio reference is oss://bucket/key")
            return self._sign(parts.netloc, key, ttl)
        raise ProviderError(f"{ref}: remote audio must be oss://bucket/key or an https:// URL")

    def _sign(self, bucket_name: str, key: str, ttl: int) -> str:
        ttl = max(1, min(int(ttl), MAX_URL_TTL))
        # Model Studio fetches it from outside any VPC: signed for the public endpoint, never an -internal one.
        bucket = self.oss.bucket(bucket_name, for_urls=True)
        # Signing is local (no request), so there is nothing to retry; the URL is never logged.
        return str(bucket.sign_url("GET", key, ttl, slash_safe=True))

    def close(self) -> None:
        self.oss.close()
