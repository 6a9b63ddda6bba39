"""Each voice's source audio: where it is (a file inside the project, or a remote URL the provider can fetch)
and what it is (probed, held against the service's rules, and linted for what it contains)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from reconciler.catalog import MODELS
from reconciler.config.reporter import Reporter
from reconciler.config.yamlpos import Path
from reconciler.errors import Problem
from reconciler.model import AccountSpec, AudioSource

if TYPE_CHECKING:
    from reconciler.audio.rules import AudioReport


class AudioSources:
    """The resolved audio of every voice, by its index in voices.yaml."""

    def __init__(self, report: Reporter, base_dir: str, *, check_audio: bool, lint: bool, root_dir: str | None = None):
        self.report, self.base_dir, self.check_audio, self.lint = report, base_dir, check_audio, lint
        # Audio stays inside the project: voices.yaml's directory, or the repository root that a stacks file
        # marks, so that stacks can share a common folder of audio.
        self.root_dir = root_dir or base_dir
        self.lint_errors: list[tuple[str, Problem]] = []  # (voice name, problem): block only audio that is sent
        self.audio: dict[int, AudioSource] = {}
        self.inspected: dict[tuple[str, str, bool, bool], AudioReport] = {}  # a file shared by several voices: once

    def unread(self, i: int, ref: str) -> None:
        """A voice whose audio is not read (commands that need only names and account settings)."""
        self.audio[i] = AudioSource(ref=ref, url=ref) if "://" in ref else AudioSource(ref=ref)

    def resolve(self, i: int, voice: dict[str, Any], account: dict[str, Any]) -> None:
        ref: str = voice["audio"]
        path: Path = ("voices", i, "audio")
        if "://" in ref:
            parts = urlsplit(ref)
            if parts.scheme not in ("oss", "https"):
                self.report.error(
                    path,
                    f"audio URL scheme {parts.scheme!r} is not supported: use https://, oss://bucket/key, or a path "
                    "relative to voices.yaml",
                )
            elif parts.scheme == "oss" and (not parts.netloc or parts.path in ("", "/")):
                self.report.error(path, f"audio URL {ref!r} must look like oss://bucket/path/to/file.wav")
            elif account.get("provider", AccountSpec.provider) == "local":
                self.report.error(
                    path,
                    "the local provider cannot fetch remote audio: use a file inside the project, or "
                    "`provider: aliyun`",
                )
            else:
                self.audio[i] = AudioSource(ref=ref, url=ref)
            return
        if "\0" in ref:
            self.report.error(path, "audio path contains a NUL character: write a plain relative path")
            return
        if os.path.isabs(ref):
            self.report.error(path, f"audio path {ref!r} is absolute: write it relative to voices.yaml")
            return
        full = os.path.join(self.base_dir, ref)
        real, base = os.path.realpath(full), os.path.realpath(self.root_dir)
        if os.path.commonpath([real, base]) != base:
            how = "a symlink" if os.path.realpath(os.path.normpath(full)) != os.path.normpath(full) else "'..'"
            where = (
                "the directory of voices.yaml"
                if self.root_dir == self.base_dir
                else f"the repository that voicectl-stacks.yaml marks ({self.root_dir})"
            )
            self.report.error(
                path,
                f"audio path {ref!r} resolves outside {where} (through {how}): keep source audio inside the project",
            )
            return
        if not os.path.exists(real):
            self.report.error(path, f"audio file {ref!r} not found (paths are relative to {self.base_dir})")
            return
        if not os.path.isfile(real):
            self.report.error(path, f"audio path {ref!r} is not a regular file")
            return
        self.inspect(i, voice, ref, real)

    def inspect(self, i: int, voice: dict[str, Any], ref: str, real: str) -> None:
        path: Path = ("voices", i, "audio")
        from reconciler.audio.rules import MAX_BYTES as MAX_AUDIO_BYTES

        size = os.path.getsize(real)
        if size > MAX_AUDIO_BYTES:
            # Refused before hashing: a huge (or sparse, terabyte-sized) file would otherwise be read in full.
            self.report.error(
                path,
                f"audio {ref}: file is {size / (1024 * 1024):.1f} MB ({size} bytes); the service accepts at most "
                f"10 MB ({MAX_AUDIO_BYTES} bytes): trim or compress it (MP3 at 128 kbps keeps 60 s under 1 MB)",
            )
            return
        model = MODELS.get(voice.get("model", ""))
        if model is None or not self.check_audio:
            self.audio[i] = AudioSource(ref=ref, path=real, sha256=_sha256_cached(real), size=size)
            return
        from reconciler.audio.lint import inspect_file

        recorded = bool(voice.get("recorded", False))
        lint = self.lint and voice.get("lint", True) is not False
        cache_key = (real, model.name, recorded, lint)
        if cache_key not in self.inspected:  # a file shared by several voices is probed once
            self.inspected[cache_key] = inspect_file(
                real, model=model, recorded=recorded, sha256=_sha256_cached(real), lint=lint
            )
        report = self.inspected[cache_key]
        for message in report.errors:
            self.report.error(path, f"audio {ref}: {message}")
        for message in report.lint_errors:
            self.lint_errors.append((str(voice.get("name")), self.report.error(path, f"audio {ref}: {message}")))
        for message in report.warnings:
            self.report.warn(path, f"audio {ref}: {message}")
        info = report.info
        self.audio[i] = AudioSource(
            ref=ref,
            path=real,
            sha256=info.sha256 if info else _sha256_cached(real),
            ext=info.format if info else None,
            size=size,
            metrics=report.metrics,
        )


_sha_cache: dict[tuple[str, int, int], str] = {}


def _sha256_cached(path: str) -> str:
    """Each file is hashed once per process (keyed by path, size and mtime), however many voices use it."""
    from reconciler.audio.probe import sha256_file  # already imported by the caller's audio checks

    st = os.stat(path)
    key = (path, st.st_size, st.st_mtime_ns)
    if key not in _sha_cache:
        _sha_cache[key] = sha256_file(path)
    return _sha_cache[key]
