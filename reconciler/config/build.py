"""Building the `Desired` of a valid voices.yaml."""

from __future__ import annotations

import os
from typing import Any

from reconciler.model import (
    DEFAULT_NODE,
    AccountSpec,
    AudioSource,
    BindingSpec,
    Desired,
    Guards,
    OssSpec,
    StateSpec,
    VoiceSpec,
)


def build_desired(
    data: dict[str, Any], audio: dict[int, AudioSource], *, file: str, file_sha256: str, lint: bool
) -> Desired:
    """The `Desired` of a document that passed every check, defaults filled in from the model's records."""
    acc = data.get("account") or {}
    oss, state, guards = acc.get("oss") or {}, acc.get("state") or {}, acc.get("guards") or {}
    region = acc.get("region", AccountSpec.region)
    account = AccountSpec(
        provider=acc.get("provider", AccountSpec.provider),
        quota=acc.get("quota", AccountSpec.quota),
        prefix=acc.get("prefix", AccountSpec.prefix),
        region=region,
        oss=OssSpec(
            bucket=oss.get("bucket"),
            endpoint=oss.get("endpoint", f"https://oss-{region}.aliyuncs.com"),
            key_prefix=oss.get("key_prefix", OssSpec.key_prefix),
            url_ttl=oss.get("url_ttl", OssSpec.url_ttl),
            upload_endpoint=oss.get("upload_endpoint"),
        ),
        state=StateSpec(
            backend=state.get("backend", StateSpec.backend),
            path=state.get("path", StateSpec.path),
            key=state.get("key", StateSpec.key),
        ),
        guards=Guards(
            max_deletes=guards.get("max_deletes", Guards.max_deletes),
            max_delete_fraction=float(guards.get("max_delete_fraction", Guards.max_delete_fraction)),
        ),
        workspace=acc.get("workspace"),
        policy=_policy_paths(acc.get("policy"), os.path.dirname(os.path.abspath(file))),
        audio_delivery=acc.get("audio_delivery", AccountSpec.audio_delivery),
    )
    voices = tuple(
        VoiceSpec(
            name=v["name"],
            audio=audio[i],
            model=v["model"],
            language=v.get("language"),
            recorded=bool(v.get("recorded", False)),
            protect=bool(v.get("protect", False)),
            renamed_from=tuple(v.get("renamed_from") or ()),
            lint=lint and v.get("lint", True) is not False,
            max_prompt_audio_length=v.get("max_prompt_audio_length"),
            enable_preprocess=v.get("enable_preprocess"),
            text=v.get("text"),
            audition_text=v.get("audition_text"),
        )
        for i, v in enumerate(data.get("voices") or [])
    )
    bindings = tuple(
        BindingSpec(
            agent=b["agent"],
            voice=b["voice"],
            model=b["model"],
            node=b.get("node", DEFAULT_NODE),
            workflow=b.get("workflow"),
            instances=tuple(b.get("instances") or ()),
        )
        for b in data.get("bindings") or []
    )
    return Desired(
        path=os.path.abspath(file),
        base_dir=os.path.dirname(os.path.abspath(file)),
        file_sha256=file_sha256,
        account=account,
        voices=voices,
        bindings=bindings,
    )


def _policy_paths(value: str | list[str] | None, base: str) -> tuple[str, ...]:
    """account.policy as absolute paths (written relative to voices.yaml)."""
    listed = [value] if isinstance(value, str) else list(value or [])
    return tuple(os.path.normpath(os.path.join(base, p)) for p in listed)
