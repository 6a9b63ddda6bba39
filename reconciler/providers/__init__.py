"""Provider plugins behind the ports of `base.py`, opened by name.

Imports are lazy so that commands which never touch an account (`validate`, `schema`, `--help`) do not pay
for the cloud SDKs."""

from __future__ import annotations

import os
from collections.abc import Mapping

from reconciler.errors import VoicectlError
from reconciler.model import Desired
from reconciler.providers.base import Provider

PROVIDERS = ("local", "aliyun")


def open_provider(desired: Desired, env: Mapping[str, str] | None = None) -> Provider:
    env = os.environ if env is None else env
    name = desired.account.provider
    if name == "local":
        from reconciler.providers.local import open_local

        return open_local(desired, env)
    if name == "aliyun":
        from reconciler.providers.aliyun import open_aliyun

        return open_aliyun(desired, env)
    raise VoicectlError(f"unknown provider {name!r}: use one of {', '.join(PROVIDERS)}")
