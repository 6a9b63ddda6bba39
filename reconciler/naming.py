"""Names and identifiers voicectl reads and writes, in one place: plan addresses, uploaded-audio keys, and the
conventions of the service's voice ids (where the ownership prefix sits in a CosyVoice or a Qwen id).

Pure functions. Everything that builds or parses one of these names goes through here, so the planner, the
executor, the operations and the providers cannot disagree about them.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from reconciler.catalog import COSYVOICE, MODELS, QWEN

if TYPE_CHECKING:
    from reconciler.model import VoiceSpec

# --------------------------------------------------------------------------------------------------
# Plan addresses: voice.NAME, binding.AGENT.NODE
# --------------------------------------------------------------------------------------------------

VOICE = "voice"
BINDING = "binding"


def voice_address(name: str) -> str:
    return f"{VOICE}.{name}"


def binding_address(agent: str, node: str) -> str:
    return f"{BINDING}.{agent}.{node}"


@dataclass(frozen=True)
class Address:
    """A parsed address. A binding's agent and node may both contain '.', so `binding.A.B.C` cannot be split
    back into them: code that needs the agent and node reads them from the binding's spec or state record."""

    kind: str  # VOICE | BINDING
    name: str  # voice name, or `agent.node` for a binding

    def __str__(self) -> str:
        return f"{self.kind}.{self.name}"


def parse_address(text: str) -> Address:
    """`voice.NAME`, `binding.AGENT.NODE`, or a bare voice name (what `--target` and `state rm` accept)."""
    kind, dot, rest = text.partition(".")
    if dot and kind in (VOICE, BINDING) and rest:
        return Address(kind, rest)
    return Address(VOICE, text)


# --------------------------------------------------------------------------------------------------
# Uploaded audio
# --------------------------------------------------------------------------------------------------


def audio_key(key_prefix: str, name: str, sha256: str, ext: str) -> str:
    """Content-addressed key of a voice's uploaded audio: `{key_prefix}{name}/{sha256}.{ext}`."""
    return f"{key_prefix}{name}/{sha256}.{ext}"


def desired_audio_key(key_prefix: str, voice: VoiceSpec) -> str:
    """The object key a voice's audio is (or will be) uploaded under; for remote audio, its own location."""
    src = voice.audio
    if src.url:
        parts = urlsplit(src.url)
        return parts.path.lstrip("/") if parts.scheme == "oss" else src.url
    ext = src.ext or os.path.splitext(src.path or src.ref)[1].lstrip(".").lower() or "wav"
    return audio_key(key_prefix, voice.name, src.sha256 or "", ext)


def resource_link_matches(resource_link: str | None, key_or_url: str | None) -> bool:
    """Whether a voice's `resource_link` (the URL it was cloned from) points at `key_or_url`.

    A signed URL carries the object key in its path (percent-encoded, query string after it), so
    compare the decoded path's tail with the key; a plain URL must match without its query."""
    if not resource_link or not key_or_url:
        return False
    if "://" in key_or_url:
        a, b = urlsplit(resource_link), urlsplit(key_or_url)
        return (a.scheme, a.netloc, unquote(a.path)) == (b.scheme, b.netloc, unquote(b.path))
    path = unquote(urlsplit(resource_link).path)
    return path == "/" + key_or_url or path.endswith("/" + key_or_url)


# --------------------------------------------------------------------------------------------------
# Voice ids
# --------------------------------------------------------------------------------------------------

QWEN_ID_HEAD = "qwen-tts-vc-"
QWEN_ID_MARK = "-voice-"
# Qwen voice ids embed the preferred name: qwen-tts-vc-{preferred_name}-voice-...
_QWEN_ID_NAME = re.compile(r"^qwen-tts-vc-([A-Za-z0-9_]{1,16})-")


def qwen_preferred_name(prefix: str, name: str) -> str:
    """The `preferred_name` a Qwen voice is created with (`[A-Za-z0-9_]{1,16}`).

    Qwen voice ids embed it (`qwen-tts-vc-{preferred_name}-voice-...`), so it carries the ownership prefix and
    lets a rerun recognise a voice whose create response was lost: `{prefix}_{start of name}{4 hex of sha1}`."""
    digest = hashlib.sha1(name.encode()).hexdigest()[:4]
    room = 16 - len(prefix) - 1 - len(digest)
    stem = "".join(c for c in name if c.isalnum())[: max(room, 0)]
    return f"{prefix}_{stem}{digest}"


# What qwen-voice-enrollment hands out: qwen-{product}-vc-{preferred_name}-voice-{stamp}-{hex} (product "tts" for
# the TTS targets, "omni" for Omni). Matched by shape, not by a "qwen" head: voice-enrollment (CosyVoice's
# API) also clones for Qwen-Audio targets, whose ids read `qwen-audio-3.0-tts-{prefix}-{uid}`.
_QWEN_ENROLLMENT_ID = re.compile(r"^qwen-[a-z0-9]+-vc-[A-Za-z0-9_]{1,16}-voice-")


def enrollment_family(voice_id: str) -> str:
    """The enrollment API a voice id belongs to, hence the one that can query, update or delete it:
    `qwen` (qwen-voice-enrollment) or `cosyvoice` (voice-enrollment: `{target_model}-{prefix}-{uid}`)."""
    return QWEN if _QWEN_ENROLLMENT_ID.match(voice_id) else COSYVOICE


def is_qwen_voice_id(voice_id: str) -> bool:
    return enrollment_family(voice_id) == QWEN


def qwen_preferred_name_of(voice_id: str) -> str | None:
    match = _QWEN_ID_NAME.match(voice_id)
    return match.group(1) if match else None


def cosyvoice_prefix_of(voice_id: str) -> str | None:
    """The prefix in `{target_model}-{prefix}-{uid}`; the model holds `-` and `.`, hence rsplit."""
    parts = voice_id.rsplit("-", 2)
    return parts[1] if len(parts) == 3 and parts[0] in MODELS else None


def cosyvoice_model_of(voice_id: str) -> str:
    parts = voice_id.rsplit("-", 2)
    return parts[0] if len(parts) == 3 else ""


def prefix_of(voice_id: str) -> str | None:
    """The ownership prefix a voice id carries, for either id scheme; None when it carries none.

    CosyVoice: `{model}-{prefix}-{uid}`. Qwen: `qwen-tts-vc-{preferred_name}-voice-{stamp}-{hex}`, where
    preferred_name is `{prefix}_{...}` (see `qwen_preferred_name`)."""
    if voice_id.startswith(QWEN_ID_HEAD) and QWEN_ID_MARK in voice_id:
        preferred = voice_id[len(QWEN_ID_HEAD) :].rsplit(QWEN_ID_MARK, 1)[0]
        head, sep, _ = preferred.partition("_")
        return head if sep and head else None
    return cosyvoice_prefix_of(voice_id)


# --------------------------------------------------------------------------------------------------
# OSS endpoints and inline audio
# --------------------------------------------------------------------------------------------------

_OSS_REGION_HOST = re.compile(r"(?:^|\.)oss-([a-z0-9-]+?)(-internal)?\.aliyuncs\.com$")


def endpoint_region(endpoint: str | None) -> str | None:
    """The region an OSS endpoint names (`https://oss-ap-southeast-1-internal.aliyuncs.com` -> ap-southeast-1);
    None for an endpoint that names none (an IP, a private host)."""
    if not endpoint:
        return None
    host = endpoint.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0].lower()
    match = _OSS_REGION_HOST.search(host)
    return match.group(1) if match else None


def is_internal_endpoint(endpoint: str | None) -> bool:
    return bool(endpoint) and bool(re.search(r"-internal\.aliyuncs\.com(?::\d+)?(?:/|$)", endpoint or "", re.I))


def public_endpoint(endpoint: str) -> str:
    """The Internet endpoint of the same region: `-internal` removed from an OSS host."""
    scheme, sep, rest = endpoint.partition("://")
    if not sep:
        scheme, rest = "", endpoint
    host, slash, path = rest.partition("/")
    host = re.sub(r"-internal(\.aliyuncs\.com)$", r"\1", host, flags=re.IGNORECASE)
    return f"{scheme}{sep}{host}{slash}{path}"


def data_uri_size(raw_bytes: int, content_type: str = "audio/mpeg") -> int:
    """Length of the base64 data URI (`data:<type>;base64,...`) a file of `raw_bytes` becomes."""
    return len(f"data:{content_type};base64,") + 4 * ((raw_bytes + 2) // 3)
