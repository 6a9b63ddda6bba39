"""Logging with secrets scrubbed at the handler, so no module (ours or an SDK's) can leak one through -v.

Known secret values (the API key, the access key secret, the STS token) are replaced wherever they appear,
and the signature-bearing query parameters of signed URLs are cut, so a signed audio URL never reaches a log.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping

SECRET_VARS = ("DASHSCOPE_API_KEY", "ALIBABA_CLOUD_ACCESS_KEY_SECRET", "ALIBABA_CLOUD_SECURITY_TOKEN")
_SIGNED_QUERY = re.compile(
    r"(?i)([?&](?:x-oss-signature|x-oss-credential|x-oss-security-token|signature|ossaccesskeyid|"
    r"security-token|expires|x-oss-expires|x-oss-date)=)[^&\s\"']*"
)
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._\-]+")


def scrub(text: str, env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    for var in SECRET_VARS:
        value = env.get(var)
        if value and len(value) >= 4:
            text = text.replace(value, "***")
    text = _SIGNED_QUERY.sub(r"\1***", text)
    return _BEARER.sub(r"\1***", text)


class ScrubbingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return scrub(super().format(record))


def setup_logging(verbose: bool) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(ScrubbingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    # The root level alone does not stop a logger with its own level (the SDK loggers are capped at INFO).
    handler.setLevel(logging.DEBUG if verbose else logging.WARNING)
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.WARNING)
    if verbose:
        # urllib3 at debug prints full request lines (signed URLs included, though scrubbed); keep it quieter.
        logging.getLogger("urllib3").setLevel(logging.INFO)
