"""Checks of voices.yaml against what the cloud offers (catalog.py), run offline by `voicectl validate`.

A model is cloned only in some regions, takes only some language hints and options, and inline audio works
only where the service takes a data URI. Each finding names the key at fault and the fix, so nothing reaches
an account that the service would refuse half-way through an apply.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reconciler.catalog import (
    ENABLE_PREPROCESS,
    INLINE_AUDIO_MAX_BYTES,
    MAX_PROMPT_AUDIO_LENGTH,
    MODELS,
    QWEN,
    REGIONS,
    TEXT,
    ModelInfo,
    models_in,
)
from reconciler.config.yamlpos import Path
from reconciler.model import AccountSpec, AudioSource
from reconciler.naming import data_uri_size, endpoint_region, is_internal_endpoint

Report = Callable[[Path, str], object]  # a Reporter method; what it returns is not used here
OPTIONS = (MAX_PROMPT_AUDIO_LENGTH, ENABLE_PREPROCESS, TEXT)


def check_cloud(
    account: dict[str, Any], voices: list[Any], audio: dict[int, AudioSource], error: Report, warn: Report
) -> None:
    aliyun = account.get("provider", AccountSpec.provider) == "aliyun"
    region = account.get("region", AccountSpec.region)
    if aliyun and isinstance(region, str) and region not in REGIONS:
        error(
            ("account", "region"),
            f"account.region {region!r}: Model Studio clones voices in {' and '.join(REGIONS)} only; set "
            "account.region to the region of your Model Studio account and API key (the OSS bucket may be "
            "elsewhere: account.oss.endpoint names its region)",
        )
        region = None
    inline = aliyun and account.get("audio_delivery") == "inline"
    for i, voice in enumerate(voices):
        info = MODELS.get(voice.get("model", "")) if isinstance(voice, dict) else None
        if info is None or not isinstance(voice, dict):
            continue  # the schema already reported it
        if aliyun and isinstance(region, str):
            _check_region(i, info, region, error)
        _check_language(i, voice, info, error)
        _check_options(i, voice, info, error)
        if inline:
            _check_inline(i, voice, info, audio.get(i), error)
    oss = account.get("oss")
    if aliyun and isinstance(oss, dict):
        _check_endpoints(oss, error, warn)


def _check_region(i: int, info: ModelInfo, region: str, error: Report) -> None:
    if region in info.regions:
        return
    offered = ", ".join(models_in(region)) or "none"
    error(
        ("voices", i, "model"),
        f"model {info.name} is not offered in {region}: Model Studio clones it in {', '.join(info.regions)} only. "
        f"Choose a model offered in {region} ({offered}), or set account.region: {info.regions[0]} with an API key "
        "of that region",
    )


def _check_language(i: int, voice: dict[str, Any], info: ModelInfo, error: Report) -> None:
    language = voice.get("language")
    if not isinstance(language, str) or language in info.languages:
        return
    if not info.languages:
        error(("voices", i, "language"), f"model {info.name} takes no language hint: remove language")
        return
    error(
        ("voices", i, "language"),
        f"language {language!r} is not one {info.name} takes: use one of {', '.join(info.languages)}, or remove "
        "language (the service then detects it)",
    )


def _check_options(i: int, voice: dict[str, Any], info: ModelInfo, error: Report) -> None:
    for option in OPTIONS:
        if option not in voice or option in info.options:
            continue
        takers = [m.name for m in MODELS.values() if option in m.options]
        error(
            ("voices", i, option),
            f"{option} is not taken by {info.name}: it is for {', '.join(takers)}; remove it or choose one of "
            "those models",
        )


def _check_inline(i: int, voice: dict[str, Any], info: ModelInfo, source: AudioSource | None, error: Report) -> None:
    ref = voice.get("audio")
    if not isinstance(ref, str) or ref.startswith("https://"):
        return  # an https:// URL is passed as it is, inline or not
    if ref.startswith("oss://"):
        error(
            ("voices", i, "audio"),
            f"{ref}: with account.audio_delivery: inline there are no AccessKeys to sign oss:// audio; use a local "
            "file or an https:// URL, or audio_delivery: oss",
        )
        return
    if info.family != QWEN:
        error(
            ("voices", i, "audio"),
            f"model {info.name} takes its audio only as a URL the service downloads, so account.audio_delivery: "
            "inline cannot send this file; use audio_delivery: oss (with account.oss.bucket), an https:// URL, or "
            "a Qwen model",
        )
        return
    if source is not None and source.size is not None:
        size = data_uri_size(source.size)
        if size >= INLINE_AUDIO_MAX_BYTES:
            error(
                ("voices", i, "audio"),
                f"audio {ref}: {size} bytes once base64-encoded; inline audio must stay under 10 MB encoded (about "
                "7.5 MB of file): compress it (MP3 at 128 kbps keeps 60 s under 1 MB), or use audio_delivery: oss",
            )


def _check_endpoints(oss: dict[str, Any], error: Report, warn: Report) -> None:
    endpoint, upload = oss.get("endpoint"), oss.get("upload_endpoint")
    if not isinstance(endpoint, str):
        return
    if isinstance(upload, str):
        a, b = endpoint_region(endpoint), endpoint_region(upload)
        if a and b and a != b:
            error(
                ("account", "oss", "upload_endpoint"),
                f"upload_endpoint is in {b} but endpoint is in {a}: both must reach the same bucket; use "
                f"https://oss-{a}-internal.aliyuncs.com (or leave upload_endpoint out)",
            )
    if is_internal_endpoint(endpoint):
        warn(
            ("account", "oss", "endpoint"),
            "endpoint is an -internal endpoint, which Model Studio cannot reach: voicectl signs audio URLs for the "
            "public endpoint of the same region instead. Put the internal one under upload_endpoint and the "
            "public one here",
        )
