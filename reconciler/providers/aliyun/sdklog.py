"""Keep the SDKs' own loggers from writing secrets.

dashscope logs request bodies and responses (signed audio URLs) at DEBUG and every transport error with a
traceback at ERROR although the adapter handles it; oss2 logs the signed request headers, the STS token
among them, at DEBUG. A CLI run with -v that turns the root logger to DEBUG would print them.
"""

from __future__ import annotations

import logging


def quiet_sdk_logging() -> None:
    """Cap both SDK loggers at INFO unless the user set their level, and demote dashscope's
    "Request failed" (a transport error the adapter retries or reports itself) to DEBUG."""
    sdk = logging.getLogger("dashscope")
    if sdk.level == logging.NOTSET:
        sdk.setLevel(logging.INFO)
    if not any(isinstance(f, _DemoteRequestFailed) for f in sdk.filters):
        sdk.addFilter(_DemoteRequestFailed())
    oss = logging.getLogger("oss2")  # logs signed headers (and the STS token) at DEBUG
    if oss.level == logging.NOTSET:
        oss.setLevel(logging.INFO)


class _DemoteRequestFailed(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.getMessage() == "Request failed":
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            record.exc_info = None
            record.exc_text = None
            return logging.getLogger("dashscope").isEnabledFor(logging.DEBUG)
        return True
