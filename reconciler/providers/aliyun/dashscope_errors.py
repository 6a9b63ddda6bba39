"""DashScope voice-enrollment error answers -> the error types of `reconciler.errors`, with the fix in the message.

One small mapper per kind of answer, tried in order; the first that recognises the answer wins. Messages go
through `redact` (a service message may echo a signed URL).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from reconciler.errors import AudioRejected, AuthError, ProviderError, QuotaExceeded, VoiceNotFound
from reconciler.providers.aliyun.errors import (
    AUDIO_MESSAGES,
    AUTH_CODES,
    NOT_FOUND_CODES,
    REVIEW_HINT,
    THROTTLING_CODES,
    redact,
)


@dataclass(frozen=True)
class CallContext:
    """What the adapter was doing when the answer came, for the message."""

    action: str  # "create_voice", "qwen create", ...
    voice_id: str | None = None
    region: str | None = None
    workspace: str | None = None
    secrets: tuple[str | None, ...] = ()


@dataclass(frozen=True)
class _Answer:
    status: int
    code: str
    detail: str  # the service's message, redacted
    ref: str  # " (code X, request Y)"
    ctx: CallContext

    @property
    def what(self) -> str:
        return f"voice {self.ctx.voice_id}" if self.ctx.voice_id else "voice enrollment"

    @property
    def said(self) -> str:
        return f": {self.detail}" if self.detail else ""

    @property
    def is_create(self) -> bool:
        return self.ctx.action in ("create_voice", "qwen create")


def dashscope_error(
    status: int, code: str | None, message: str | None, request_id: str | None, ctx: CallContext
) -> ProviderError:
    """Map one DashScope error answer to a ProviderError (or subclass) whose message says what to do."""
    ref = f" (code {code or status}" + (f", request {request_id})" if request_id else ")")
    answer = _Answer(status, code or "", redact(str(message or "").strip(), *ctx.secrets), ref, ctx)
    for mapper in _MAPPERS:
        mapped = mapper(answer)
        if mapped is not None:
            return mapped
    return ProviderError(
        f"{ctx.action} failed for {answer.what}: {answer.detail or 'HTTP ' + str(status)}{ref}",
        code=code or str(status),
    )


def _not_found(a: _Answer) -> ProviderError | None:
    # CosyVoice says BadRequest.ResourceNotExist, Qwen BadRequest.VoiceNotFound.
    if a.code in NOT_FOUND_CODES:
        return VoiceNotFound(f"{a.what} does not exist in the account{a.ref}", code=a.code)
    return None


def _allocation_quota(a: _Answer) -> ProviderError | None:
    """Throttling.AllocationQuota means two things, told apart only by its message: the account's voice limit
    (final until voices are deleted), or its request/token quota ("Allocated quota exceeded"), which recovers
    within a minute and is retried like throttling."""
    if a.code != "Throttling.AllocationQuota":
        return None
    if "voice" in a.detail.lower():
        return QuotaExceeded(
            f"the account's voice limit was reached: delete voices you no longer need (`voicectl voices --all` "
            f"lists them){a.ref}",
            code=a.code,
        )
    return ProviderError(
        f"{a.ctx.action}: the account's request quota for Model Studio is used up for now{a.said}{a.ref}. It "
        "recovers within a minute; if it does not, check the account's free quota and billing in the Model "
        "Studio console.",
        code=a.code,
        retryable=True,
    )


def _download_failed(a: _Answer) -> ProviderError | None:
    if a.code != "BadRequest.InputDownloadFailed":
        return None
    return ProviderError(
        f"{a.ctx.action}: Model Studio could not download the audio{a.said}{a.ref}. The signed URL may have "
        "expired (raise account.oss.url_ttl), the bucket or key may be wrong, or the URL may not be reachable "
        "from Model Studio (an -internal OSS endpoint, a private https:// host); for Qwen voices "
        "account.audio_delivery: inline sends the audio itself instead of a URL.",
        code=a.code,
    )


def _audio(a: _Answer) -> ProviderError | None:
    if a.code in AUDIO_MESSAGES or a.code.startswith("Audio."):
        reason = AUDIO_MESSAGES.get(a.code, a.detail or "the audio was rejected")
        return AudioRejected(f"{a.ctx.action}: {reason}{a.ref}.\n{REVIEW_HINT}", code=a.code)
    if a.status >= 500 and a.code == "InternalError" and a.is_create and "preprocess" in a.detail.lower():
        # Deterministic: the same audio fails its preprocessing again, so re-creating only wastes calls.
        return AudioRejected(
            f"{a.ctx.action}: the service could not preprocess the audio{a.said}{a.ref}.\n{REVIEW_HINT}", code=a.code
        )
    return None


def _access(a: _Answer) -> ProviderError | None:
    if a.code == "Model.AccessDenied":
        workspace = f", and allow workspace {a.ctx.workspace} to call it" if a.ctx.workspace else ""
        return ProviderError(
            f"{a.ctx.action}: Model Studio denied access to the target model{a.said}{a.ref}. Activate the model "
            f"for this account in the Model Studio console{workspace}, or choose a model offered in "
            f"{a.ctx.region or 'this region'}.",
            code=a.code,
        )
    if a.code == "Workspace.AccessDenied":
        return AuthError(
            f"DashScope refused workspace {a.ctx.workspace or '(default)'}{a.ref}: DASHSCOPE_API_KEY does not "
            "belong to it. Set account.workspace to the key's workspace, or create a key in that workspace.",
            code=a.code,
        )
    return None


def _auth(a: _Answer) -> ProviderError | None:
    if a.status != 401 and a.code not in AUTH_CODES:
        return None
    where = f" for {a.ctx.region}" if a.ctx.region else ""
    return AuthError(
        f"DashScope refused the API key{where}{a.ref}: check DASHSCOPE_API_KEY. A key belongs to one region: "
        "account.region must be the region the key was created in (and DASHSCOPE_HTTP_BASE_URL, when set, must "
        "point at that region).",
        code=a.code or str(a.status),
    )


def _throttled(a: _Answer) -> ProviderError | None:
    if a.status == 429 or a.code in THROTTLING_CODES:
        return ProviderError(f"{a.ctx.action}: rate limited by DashScope{a.ref}", code=a.code or "429", retryable=True)
    return None


def _server(a: _Answer) -> ProviderError | None:
    if a.status < 500:
        return None
    hint = ""
    if a.code == "InternalError" and a.is_create:
        # The documented cause of a 500 on create is an audio URL the service could not fetch.
        hint = "; the service often answers this when it cannot fetch the audio URL (signed URL expired or not "
        hint += "reachable from Alibaba Cloud)"
    return ProviderError(
        f"{a.ctx.action}: DashScope server error{a.said}{hint}{a.ref}", code=a.code or str(a.status), retryable=True
    )


_MAPPERS: tuple[Callable[[_Answer], ProviderError | None], ...] = (
    _not_found,
    _allocation_quota,
    _download_failed,
    _audio,
    _access,
    _auth,
    _throttled,
    _server,
)
