"""Service error codes -> messages fit for the user and the error types of `reconciler.errors`.

Every message built here goes through `redact`, because service messages sometimes echo the request
(a signed audio URL carries a signature and, with STS, a security token in its query string).
"""

from __future__ import annotations

import re

from reconciler.errors import AuthError, ProviderError

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


def missing_credentials(*names: str, purpose: str) -> AuthError:
    return AuthError(f"{purpose} needs credentials: set {' and '.join(names)} in the environment")
