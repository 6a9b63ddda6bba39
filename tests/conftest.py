"""Suite-wide setup: the lint's metrics cache lives in a temporary directory of this run, never the
user's ~/.cache (child processes inherit it through the environment)."""

from __future__ import annotations

import os
import tempfile

if "VOICECTL_CACHE_DIR" not in os.environ or os.environ.get("CI"):
    os.environ["VOICECTL_CACHE_DIR"] = tempfile.mkdtemp(prefix="voicectl-test-cache-")
