"""Lint metrics cached by the audio's content sha256, so an unchanged file is analysed once.

Two levels: a dict for the process (plan and apply in one `voicectl apply`, the local provider's review of
the uploaded copy, a file shared by several voices), and a per-user directory across runs:
`$VOICECTL_CACHE_DIR`, else `$XDG_CACHE_HOME/voicectl`, else `~/.cache/voicectl`; `VOICECTL_CACHE_DIR=off`
turns it off.

Why a per-user directory: `validate`, `plan`, `apply` and `lint` are separate processes, so without a store
outside all of them a file would be analysed by each. The directory is outside the project, keyed by content
only (never a path, nothing about the project), every entry is derived data that can be deleted at any time,
and a write that fails (read-only home, full disk) is ignored.

`plan` only reads it (`read_only()`): the contract has plan write nothing anywhere. `validate`, `lint` and
`apply` write it, so a plan after any of them (as in CI: validate, then plan) finds its metrics there.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from threading import Lock

from reconciler.audio.analysis import Metrics

# Bump whenever the analysis changes what it measures: cached metrics of another version are ignored.
ANALYSIS_VERSION = 2  # 2: the voice gate on webrtcvad, WADA-SNR at the file's rate with "cannot judge"
ENV = "VOICECTL_CACHE_DIR"


def cache_root(env: Mapping[str, str] | None = None) -> str | None:
    """The cache directory for this user, or None when turned off."""
    env = os.environ if env is None else env
    configured = env.get(ENV)
    if configured is not None:
        return None if configured.strip().lower() in ("", "off", "0", "none") else configured
    base = env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "voicectl")


class MetricsCache:
    def __init__(self, root: str | None, *, writable: bool = True):
        self.root = root
        self.writable = writable  # False: read entries, never add one (plan)
        self.analysed = 0  # files measured by this cache (the rest were hits): what the tests count
        self._memo: dict[str, Metrics] = {}
        self._lock = Lock()

    def _path(self, key: str) -> str | None:
        if self.root is None:
            return None
        vad, sha256 = key.split(":", 1)
        return os.path.join(self.root, f"lint-v{ANALYSIS_VERSION}-{vad}", sha256[:2], f"{sha256}.json")

    def get(self, sha256: str, measure: Callable[[], Metrics]) -> Metrics:
        """The metrics of the content `sha256`, measured by `measure` on a miss. Keyed by the VAD too, since
        the two detectors hear speech differently."""
        from reconciler.audio.vad import detector_name

        key = f"{detector_name()}:{sha256}"
        with self._lock:
            hit = self._memo.get(key)
        if hit is not None:
            return hit
        metrics = self._read(key)
        if metrics is None:
            metrics = measure()
            with self._lock:
                self.analysed += 1
            self._write(key, metrics)
        with self._lock:
            self._memo[key] = metrics
        return metrics

    def _read(self, key: str) -> Metrics | None:
        path = self._path(key)
        if path is None:
            return None
        try:
            with open(path, encoding="utf-8") as fh:
                return Metrics.from_json(json.load(fh))
        except (OSError, ValueError, KeyError, TypeError):
            return None  # absent, unreadable or from an older layout: measure again

    def _write(self, key: str, metrics: Metrics) -> None:
        path = self._path(key)
        if path is None or not self.writable:
            return
        tmp = None
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            # Write-then-rename: a concurrent reader sees the old state or the whole entry, never half of it.
            fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(metrics.to_json(), fh)
            os.replace(tmp, path)
        except OSError:
            # A cache that cannot be written (read-only home, full disk) only costs time.
            if tmp is not None and os.path.exists(tmp):
                os.unlink(tmp)


_default: MetricsCache | None = None


def default_cache() -> MetricsCache:
    """The process's cache, on the user's directory as the environment names it."""
    global _default
    if _default is None:
        _default = MetricsCache(cache_root())
    return _default


@contextmanager
def read_only() -> Iterator[None]:
    """Within the block, the process's cache reads its directory but never writes it (`voicectl plan`)."""
    cache = default_cache()
    was, cache.writable = cache.writable, False
    try:
        yield
    finally:
        cache.writable = was
