"""Cross-references the schema cannot express: unique names, renames, bindings to declared voices of the same
model, one voice per TTS node, and the account settings that depend on each other."""

from __future__ import annotations

import math
import os
from typing import Any

from reconciler.catalog import MODELS
from reconciler.config.reporter import Reporter, as_mapping
from reconciler.config.schema_messages import suggest
from reconciler.model import DEFAULT_NODE, AccountSpec


def check_voice_names(report: Reporter, voices: list[Any]) -> dict[str, int]:
    names: dict[str, int] = {}
    for i, voice in enumerate(voices):
        name = voice.get("name") if isinstance(voice, dict) else None
        if not isinstance(name, str):
            continue
        if name in names:
            first_line = report.pos(("voices", names[name], "name"))[0]
            report.error(
                ("voices", i, "name"),
                f"duplicate voice name {name!r} (first at line {first_line}): names must be unique",
            )
        else:
            names[name] = i
    return names


def check_renames(report: Reporter, voices: list[Any], names: dict[str, int]) -> None:
    claimed: dict[str, int] = {}
    for i, voice in enumerate(voices):
        olds = voice.get("renamed_from") if isinstance(voice, dict) else None
        if not isinstance(olds, list):
            continue
        for j, old in enumerate(olds):
            if not isinstance(old, str):
                continue
            path = ("voices", i, "renamed_from", j)
            if old == voice.get("name"):
                report.error(path, f"renamed_from {old!r} is the voice's own name: remove it")
            elif old in names:
                line = report.pos(("voices", names[old], "name"))[0]
                report.error(
                    path,
                    f"renamed_from {old!r} clashes with the voice named {old!r} at line {line}: a name is "
                    "either current or former, not both",
                )
            elif old in claimed:
                line = report.pos(("voices", claimed[old], "name"))[0]
                report.error(path, f"renamed_from {old!r} is also claimed by the voice at line {line}: keep it on one")
            else:
                claimed[old] = i


def check_bindings(report: Reporter, bindings: list[Any], voices: list[Any], names: dict[str, int]) -> None:
    seen: dict[tuple[str, str], int] = {}
    for i, binding in enumerate(bindings):
        if not isinstance(binding, dict):
            continue
        voice_name = binding.get("voice")
        if isinstance(voice_name, str) and voice_name not in names:
            hint = suggest(voice_name, list(names)) or (
                f"; declared voices: {', '.join(names)}" if names else "; no voices are declared"
            )
            report.error(("bindings", i, "voice"), f"binding to unknown voice {voice_name!r}{hint}")
        elif isinstance(voice_name, str):
            voice_model = voices[names[voice_name]].get("model")
            model = binding.get("model")
            # A voice whose own model is unknown has its error (with a "did you mean") already: telling the
            # binding to copy that typo would be a second, wrong fix.
            known = isinstance(voice_model, str) and voice_model in MODELS
            if isinstance(model, str) and known and model != voice_model:
                report.error(
                    ("bindings", i, "model"),
                    f"binding model {model!r} differs from voice {voice_name!r}'s model {voice_model!r}: a "
                    f"voice speaks only through its own model; set model: {voice_model}",
                )
        agent, node = binding.get("agent"), binding.get("node", DEFAULT_NODE)
        if isinstance(agent, str) and isinstance(node, str):
            if (agent, node) in seen:
                line = report.pos(("bindings", seen[(agent, node)]))[0]
                report.error(
                    ("bindings", i, "agent"),
                    f"agent {agent!r} node {node!r} is already bound at line {line}: a TTS node has one voice",
                )
            else:
                seen[(agent, node)] = i


def check_account(report: Reporter, account: dict[str, Any], voices: list[Any]) -> None:
    provider = account.get("provider", AccountSpec.provider)
    oss = as_mapping(account.get("oss"))
    state = as_mapping(account.get("state"))
    if state.get("backend") == "oss" and provider != "aliyun":
        report.error(("account", "state", "backend"), "state backend 'oss' needs `provider: aliyun`")
    inline = account.get("audio_delivery") == "inline"
    if provider == "aliyun" and not oss.get("bucket"):
        uploads = not inline and any(
            isinstance(v, dict) and isinstance(v.get("audio"), str) and "://" not in v["audio"] for v in voices
        )
        if uploads:
            report.error(
                ("account",),
                "provider aliyun needs account.oss.bucket: local audio is uploaded there (and the oss state "
                "backend lives there); with Qwen models, account.audio_delivery: inline needs no bucket",
            )
        elif state.get("backend") == "oss":
            report.error(
                ("account", "state", "backend"),
                "state backend oss keeps the state in account.oss.bucket, which is not set: set the bucket "
                "(and AccessKeys), or use state.backend: local"
                + (" (audio_delivery: inline needs no bucket, the oss state backend does)" if inline else ""),
            )
    quota = account.get("quota", AccountSpec.quota)
    if isinstance(quota, int) and not isinstance(quota, bool) and len(voices) > quota:
        # A warning, not an error: the quota is the account's, and it may have been raised in the console.
        report.warn(
            ("voices",),
            f"{len(voices)} voices are declared but account.quota is {quota}: the declared voices alone exceed "
            "it, so plan will block (unmanaged voices count too). Remove voices, split them across accounts, "
            "or raise account.quota if the account's limit was raised",
        )
    guards = as_mapping(account.get("guards"))
    fraction = guards.get("max_delete_fraction")
    if isinstance(fraction, float) and math.isnan(fraction):
        # NaN passes the schema's bounds (every comparison is false) and would switch the guard off.
        report.error(
            ("account", "guards", "max_delete_fraction"),
            "max_delete_fraction is not a number (.nan): use a fraction from 0 to 1 (default 0.3)",
        )
    path = state.get("path")
    if isinstance(path, str) and (os.path.isabs(path) or ".." in path.split("/")):
        report.error(("account", "state", "path"), "state path must be relative to voices.yaml, without '..'")
