"""How the emulated cloning service gets and judges source audio.

It fetches the URL it is given, as the real service does, so a wrongly signed or expired OSS URL fails here
exactly as it would in the cloud. Content checks are delegated to `reconciler.audio.review_audio` when that
module exists, so the emulator and voicectl's own validation can never disagree about what is acceptable.
"""

from __future__ import annotations

import base64
import binascii
import os
import sys
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_to_bytes, urlsplit

# Rejected at once with HTTP 400; every other finding (silence above all) lets the create through and
# fails the asynchronous review instead, as the service does.
SYNC_CODES = (
    "Audio.DecoderError",
    "Audio.AudioShortError",
    "Audio.FileSizeExceed",
    "Audio.AudioRateError",
    "BadRequest.UnsupportedFileFormat",
)
REVIEW_CODES = ("Audio.AudioSilentError", "Audio.AudioQualityError")  # the second: voicectl's audio lint

# Proxies from the environment must never see loopback traffic (nor make the fetch depend on them).
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
_warned = False


class AudioUnreachable(Exception):
    """No answer from the audio's host (connection refused, a host only reachable inside a VPC)."""


class AudioDownloadFailed(Exception):
    """The audio's host answered with an error (an expired or wrongly signed URL, a missing object)."""


class BadAudioData(Exception):
    pass


@dataclass(frozen=True)
class Verdict:
    reject: tuple[str, str] | None  # (code, message) for a synchronous 400
    review_failures: list[str]  # "Code: message" findings that fail the review later


def fetch(url: str, timeout: float = 10.0) -> tuple[bytes, str | None]:
    """The audio bytes and a file extension hint (from the URL path or the data URI's media type)."""
    if url.startswith("data:"):
        header, sep, payload = url[5:].partition(",")
        if not sep:
            raise BadAudioData("audio data URI has no ','")
        media = header.split(";")[0].lower()
        try:
            data = base64.b64decode(payload, validate=True) if ";base64" in header else unquote_to_bytes(payload)
        except (binascii.Error, ValueError) as exc:
            raise BadAudioData(f"audio data URI is not valid base64: {exc}") from exc
        ext = {"audio/wav": "wav", "audio/x-wav": "wav", "audio/mpeg": "mp3", "audio/mp3": "mp3"}.get(media)
        return data, ext or ("m4a" if media in ("audio/mp4", "audio/m4a", "audio/x-m4a") else None)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise AudioUnreachable(f"unsupported audio url scheme in {url[:80]!r}")
    if "-internal." in (parts.hostname or ""):
        # OSS internal endpoints resolve only inside the bucket region's VPC, never for the cloning service.
        raise AudioUnreachable(f"{parts.hostname} is an internal endpoint, not reachable from Model Studio")
    try:
        with _OPENER.open(urllib.request.Request(url, method="GET"), timeout=timeout) as resp:
            data = resp.read()
    except urllib.error.HTTPError as exc:
        raise AudioDownloadFailed(f"HTTP {exc.code} from {parts.hostname}") from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise AudioUnreachable(str(exc)) from exc
    name = parts.path.rsplit("/", 1)[-1]
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else None
    return data, ext


def _sniff(data: bytes, hint: str | None) -> str:
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "wav"
    if data[4:8] == b"ftyp":
        return "m4a"
    if data[:3] == b"ID3" or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0):
        return "mp3"
    return hint or "bin"


def _load_reviewer() -> Any:
    """`reconciler.audio.review_audio`, or None while it does not exist (then no content checks)."""
    global _warned
    try:
        from reconciler.audio.review import review_audio
    except ImportError as exc:
        if not _warned:
            _warned = True
            sys.stderr.write(f"voicectl emulator: no audio content checks ({exc})\n")
        return None
    return review_audio


def review_available() -> bool:
    return _load_reviewer() is not None


def review(data: bytes, ext_hint: str | None, target_model: str) -> Verdict:
    reviewer = _load_reviewer()
    if reviewer is None:
        return Verdict(None, [])
    from reconciler.catalog import MODELS

    if target_model not in MODELS:
        return Verdict(None, [])  # a target voicectl does not know (qwen-audio): no content checks
    fd, path = tempfile.mkstemp(prefix="emu-audio-", suffix="." + _sniff(data, ext_hint))
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        findings = list(reviewer(path, model=MODELS[target_model]))
    finally:
        os.unlink(path)
    reject = None
    later = []
    for finding in findings:
        code, _, message = str(finding).partition(":")
        code = code.strip()
        if code in SYNC_CODES and reject is None:
            reject = (code, message.strip() or code)
        elif code in REVIEW_CODES:
            later.append(str(finding))
        # Other findings (quality lint, advice) do not stop the service.
    return Verdict(reject, later)
