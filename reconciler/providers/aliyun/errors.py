"""Service error codes -> messages fit for the user and the error types of `reconciler.errors`.

Every message built here goes through `redact`, because service messages sometimes echo the request
(a signed audio URL carries a signature and, with STS, a security token in its query string).
"""

from __future__ import annotations

import re

from reconciler.errors import AudioRejected, AuthError, ProviderError, QuotaExceeded, VoiceNotFound

# What a reviewer checks; shown with every audio rejection so the user can fix the recording, not guess.
REVIEW_HINT = (
    "Check the recording: 10-20 s (60 s max; >= 20 s for a live recording) of one speaker with at least "
    "5 s of continuous clear speech, no music, background noise or second voice; WAV (16-bit), MP3 or M4A; "
    ">= 16 kHz (>= 24 kHz mono for Qwen models); <= 10 MB."
)

AUDIO_MESSAGES: dict[str, str] = {
    "Audio.AudioShortError": "the audio is too short: at least 10 s are needed (20 s for a live recording)",
    "Audio.AudioSilentError": "the audio is silent or holds too little clear speech",
    "Audio.DecoderError": "the audio could not be decoded",
    "Audio.FileSizeExceed": "the audio file is larger than 10 MB",
    "Audio.AudioRateError": "the audio's sample rate is too low (>= 16 kHz; >= 24 kHz for Qwen)",
    "Audio.DurationLimitError": "the audio is longer than the service takes: keep it at 60 s or less (10-20 s is best)",
    "Audio.PreprocessError": "the service could not prepare the audio for cloning (for Qwen: the transcript in "
    "`text` may not match what is said)",
    "BadRequest.UnsupportedFileFormat": "the audio format is not supported (use WAV, MP3 or M4A)",
}

THROTTLING_CODES = frozenset({"Throttling", "Throttling.RateQuota", "Throttling.BurstRate"})
AUTH_CODES = frozenset({"InvalidApiKey", "AccessDenied", "Unauthorized", "AccessDenied.Unpurchased"})
# How each enrollment API names a voice that does not exist (CosyVoice, Qwen).
NOT_FOUND_CODES = frozenset({"BadRequest.ResourceNotExist", "BadRequest.VoiceNotFound"})

_URL_QUERY = re.compile(r"""((?:https?|oss)://[^\s?#"'<>]+)\?[^\s"'<>]*""")
_BEARER = re.compile(r"(Bearer\s+)\S+", re.IGNORECASE)


def redact(text: str, *secrets: str | None) -> str:
    """Drop URL query strings (signatures, STS tokens) and any known secret from `text`."""
    text = _URL_QUERY.sub(r"\1?<redacted>", text)
    text = _BEARER.sub(r"\1<redacted>", text)
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "<redacted>")
    return text


def strip_query(url: str) -> str:
    """A URL fit for a log line: without its query string (where a signed URL keeps its signature)."""
    return url.split("?", 1)[0]


class TransportFailure(ProviderError):
    """The request may or may not have reached the service (timeout, dropped connection).

    Deliberately not a subclass of requests.ConnectionError: the dashscope SDK silently re-sends a POST
    once on ConnectionError, which for create_voice would clone twice."""

    def __init__(self, message: str, *, timed_out: bool = False) -> None:
        super().__init__(message, code="Transport", retryable=True)
        self.timed_out = timed_out  # no answer in time: the request may still be running on the server


def _is_create(action: str) -> bool:
    return action in ("create_voice", "qwen create")


def dashscope_error(
    *,
    status: int,
    code: str | None,
    message: str | None,
    request_id: str | None,
    action: str,
    voice_id: str | None = None,
    secrets: tuple[str | None, ...] = (),
    region: str | None = None,
    workspace: str | None = None,
) -> ProviderError:
    """Map a DashScope voice-enrollment error response to the error types of `reconciler.errors`."""
    code = code or ""
    detail = redact(str(message or "").strip(), *secrets)
    ref = f" (code {code or status}" + (f", request {request_id})" if request_id else ")")
    what = f"voice {voice_id}" if voice_id else "voice enrollment"

    if code in NOT_FOUND_CODES:
        return VoiceNotFound(f"{what} does not exist in the account{ref}", code=code)
    if code == "Throttling.AllocationQuota":
        return _allocation_quota(action, detail, ref)
    if code == "BadRequest.InputDownloadFailed":
        return ProviderError(
            f"{action}: Model Studio could not download the audio{': ' + detail if detail else ''}{ref}. The "
            "signed URL may have expired (raise account.oss.url_ttl), the object or bucket may be wrong, or the "
            "URL may not be reachable from Model Studio (an -internal OSS endpoint, a private https:// host); "
            "account.audio_delivery: inline sends the audio itself instead of a URL.",
            code=code,
        )
    if code in AUDIO_MESSAGES or code.startswith("Audio."):
        reason = AUDIO_MESSAGES.get(code, detail or "the audio was rejected")
        return AudioRejected(f"{action}: {reason}{ref}.\n{REVIEW_HINT}", code=code)
    if code == "Model.AccessDenied":
        return ProviderError(
            f"{action}: Model Studio denied access to the target model{': ' + detail if detail else ''}{ref}. "
            "Activate the model for this account in the Model Studio console"
            + (f", and allow workspace {workspace} to call it" if workspace else "")
            + ", or choose a model that is offered in "
            + (region or "this region")
            + ".",
            code=code,
        )
    if code == "Workspace.AccessDenied":
        return AuthError(
            f"DashScope refused workspace {workspace or '(default)'}{ref}: DASHSCOPE_API_KEY does not belong to "
            "it. Set account.workspace to the key's workspace, or create a key in that workspace.",
            code=code,
        )
    if status == 401 or code in AUTH_CODES:
        where = f" for {region}" if region else ""
        return AuthError(
            f"DashScope refused the API key{where}{ref}: check DASHSCOPE_API_KEY. A key belongs to one region: "
            "account.region must be the region the key was created in (and DASHSCOPE_HTTP_BASE_URL, when set, "
            "must point at that region).",
            code=code or str(status),
        )
    if status == 429 or code in THROTTLING_CODES:
        return ProviderError(f"{action}: rate limited by DashScope{ref}", code=code or "429", retryable=True)
    if status >= 500:
        if code == "InternalError" and _is_create(action) and "preprocess" in detail.lower():
            # Deterministic: the same audio fails its preprocessing again, so re-creating only wastes calls.
            return AudioRejected(
                f"{action}: the service could not preprocess the audio{': ' + detail if detail else ''}{ref}.\n"
                f"{REVIEW_HINT}",
                code=code,
            )
        hint = ""
        if code == "InternalError" and _is_create(action):
            # The documented cause of a 500 on create is an audio URL the service could not fetch.
            hint = "; the service often answers this when it cannot fetch the audio URL (signed URL expired "
            hint += "or not reachable from Alibaba Cloud)"
        text = f"{action}: DashScope server error{': ' + detail if detail else ''}{hint}{ref}"
        return ProviderError(text, code=code or str(status), retryable=True)
    text = f"{action} failed for {what}: {detail or 'HTTP ' + str(status)}{ref}"
    return ProviderError(text, code=code or str(status))


def _allocation_quota(action: str, detail: str, ref: str) -> ProviderError:
    """Throttling.AllocationQuota means two different things, told apart only by its message: the account's
    voice limit (final until voices are deleted), or its request/token quota ("Allocated quota exceeded",
    which recovers within a minute, so it is retried like throttling)."""
    if "voice" in detail.lower():
        return QuotaExceeded(
            "the account's voice limit was reached: delete voices you no longer need "
            f"(`voicectl voices --all` lists them){ref}",
            code="Throttling.AllocationQuota",
        )
    return ProviderError(
        f"{action}: the account's request quota for Model Studio is used up for now"
        f"{': ' + detail if detail else ''}{ref}. It recovers within a minute; if it does not, check the "
        "free quota and billing of the account in the Model Studio console.",
        code="Throttling.AllocationQuota",
        retryable=True,
    )


def missing_credentials(*names: str, purpose: str) -> AuthError:
    return AuthError(f"{purpose} needs credentials: set {' and '.join(names)} in the environment")
