"""AudioStore for `account.audio_delivery: inline`: the audio itself goes into the create call as a base64
data URI, so cloning needs no OSS bucket and no AccessKey.

Only Qwen enrollment documents `audio.data` as "a data URI or a URL"; CosyVoice's `url` is documented as a URL
the service downloads, so the config check refuses inline delivery for CosyVoice voices with local audio.
The encoded URI must stay under 10 MB (catalog.INLINE_AUDIO_MAX_BYTES); the check also runs offline.
"""

from __future__ import annotations

import base64
import hashlib
import threading

from reconciler.catalog import INLINE_AUDIO_MAX_BYTES
from reconciler.errors import ProviderError

_HEAD = "data:{};base64,"


class InlineAudioStore:
    """Remembers which file each audio key stands for, and hands the cloner its content instead of a URL."""

    def __init__(self) -> None:
        self._files: dict[str, tuple[str, str, str]] = {}  # key -> (path, sha256, content type)
        self._lock = threading.Lock()

    def ensure_uploaded(self, *, path: str, key: str, sha256: str, content_type: str) -> bool:
        with self._lock:
            self._files[key] = (path, sha256, content_type)
        return False  # nothing is uploaded

    def signed_url(self, key: str, ttl: int) -> str:
        with self._lock:
            entry = self._files.get(key)
        if entry is None:
            raise ProviderError(f"audio {key}: not prepared for inline delivery")
        path, sha256, content_type = entry
        with open(path, "rb") as fh:
            data = fh.read()
        if hashlib.sha256(data).hexdigest() != sha256:
            raise ProviderError(f"{path} changed since it was checked (sha256 differs): run plan again")
        uri = _HEAD.format(content_type) + base64.b64encode(data).decode()
        if len(uri) >= INLINE_AUDIO_MAX_BYTES:
            raise ProviderError(
                f"{path}: {len(uri)} bytes as a data URI; inline audio must stay under 10 MB once base64-encoded "
                "(about 7.5 MB of file): compress it, or use account.audio_delivery: oss"
            )
        return uri

    def url_for(self, ref: str, ttl: int) -> str:
        if ref.startswith("https://"):
            return ref
        raise ProviderError(
            f"{ref}: with account.audio_delivery: inline, remote audio must be an https:// URL (oss:// needs a "
            "bucket and AccessKeys to sign)"
        )

    def close(self) -> None:
        with self._lock:
            self._files.clear()
