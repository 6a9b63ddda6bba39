"""The one JSON Schema of voices.yaml (draft 2020-12).

`schemas/voices.schema.json` is generated from `SCHEMA` (`python -m reconciler.config.schema > schemas/...`) and a
test keeps the two identical, so editors, the loader and `voicectl schema` never disagree. Descriptions are
written for editor completion (yaml-language-server shows them on hover).
"""

from __future__ import annotations

import json
from typing import Any

from reconciler.catalog import (
    COSYVOICE_LANGUAGES,
    ENABLE_PREPROCESS,
    MAX_PROMPT_AUDIO_LENGTH,
    MAX_PROMPT_AUDIO_RANGE,
    MODEL_STUDIO_VOICE_CAP,
    MODELS,
    QWEN_LANGUAGES,
    REGIONS,
    TEXT,
)
from reconciler.model import DEFAULT_NODE, NAME_PATTERN, PREFIX_PATTERN, AccountSpec

SCHEMA_ID = "https://voicectl.dev/schemas/voices.schema.json"
MAX_VOICES = MODEL_STUDIO_VOICE_CAP  # the service keeps at most this many voices per account
MAX_URL_TTL = 7 * 24 * 3600  # V4 signed URLs live at most 7 days
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"
_ACCOUNT = AccountSpec()  # the defaults, from the one place the loader takes them from too


def _taking(option: str) -> str:
    return ", ".join(m.name for m in MODELS.values() if option in m.options)


_model_enum: dict[str, Any] = {
    "type": "string",
    "enum": list(MODELS),
    "description": "Cloning model. CosyVoice models (cosyvoice-*) allow in-place audio updates and go through a "
    "review (DEPLOYING -> OK); Qwen models (qwen3-tts-vc-*) need 24 kHz mono audio and are replaced, not updated. "
    "Synthesis must use the voice's own model. Offered in cn-beijing: all; in ap-southeast-1: "
    + ", ".join(m.name for m in MODELS.values() if "ap-southeast-1" in m.regions)
    + ".",
}

_voice: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "audio", "model"],
    "properties": {
        "name": {
            "type": "string",
            "pattern": NAME_PATTERN,
            "description": "Unique name of the voice in this file: lower-case letters, digits and '-', starting "
            "with a letter, at most 63 characters. State and plans know the voice by it.",
        },
        "audio": {
            "type": "string",
            "minLength": 1,
            "description": "Source audio: a path relative to voices.yaml (inside its directory), oss://bucket/key, "
            "or https://... WAV 16-bit PCM, MP3 or M4A; mono or stereo; >= 16 kHz; <= 10 MB; >= 10 s "
            "(>= 20 s when recorded). 10-20 s of one clear speaker is best.",
        },
        "model": _model_enum,
        "language": {
            "type": "string",
            "pattern": r"^[a-z]{2}(-[A-Za-z]{2,4})?$",
            "description": "Optional language hint for cloning. CosyVoice v3/v3.5: "
            + ", ".join(COSYVOICE_LANGUAGES)
            + " (cosyvoice-v2: zh, en); Qwen: "
            + ", ".join(QWEN_LANGUAGES)
            + ". validate refuses a value the model does not take.",
        },
        MAX_PROMPT_AUDIO_LENGTH: {
            "type": "number",
            "minimum": MAX_PROMPT_AUDIO_RANGE[0],
            "maximum": MAX_PROMPT_AUDIO_RANGE[1],
            "description": "Seconds of audio the service keeps for cloning after preprocessing (3-30; longer "
            f"gives a closer voice). Only {_taking(MAX_PROMPT_AUDIO_LENGTH)}. Used when the voice is cloned.",
        },
        ENABLE_PREPROCESS: {
            "type": "boolean",
            "description": "true: the service reduces noise, enhances and normalises the volume of the audio before "
            f"cloning (for noisy recordings; leave off for clean ones). Only {_taking(ENABLE_PREPROCESS)}. Used when "
            "the voice is cloned.",
        },
        TEXT: {
            "type": "string",
            "minLength": 1,
            "description": "Qwen models only: the transcript of the audio. The service checks it against the "
            "speech (Audio.PreprocessError when they differ much) and clones better with it. Used when the voice "
            "is cloned.",
        },
        "audition_text": {
            "type": "string",
            "minLength": 1,
            "maxLength": 2000,
            "description": "What the voice says in `voicectl audition` and `apply --audition` when no --text is given "
            "(default: a short sentence in the voice's language). Never sent when cloning; changing it changes no "
            "voice.",
        },
        "recorded": {
            "type": "boolean",
            "default": False,
            "description": "true when the audio is a live recording: it then needs at least 20 s.",
        },
        "protect": {
            "type": "boolean",
            "default": False,
            "description": "true: never deleted or replaced unless apply is given --allow-delete NAME.",
        },
        "lint": {
            "type": "boolean",
            "default": True,
            "description": "false: skip the audio quality lint (speech, pauses, noise, clipping, loudness, "
            "bandwidth) for this voice, e.g. when it misjudges a recording the service accepts; the plan notes "
            "it. The documented format, rate, size and length checks still apply.",
        },
        "renamed_from": {
            "type": "array",
            "items": {"type": "string", "pattern": NAME_PATTERN},
            "uniqueItems": True,
            "description": "Former names of this voice: the voice known under one of them is adopted under the new "
            "name without cloning again.",
        },
    },
}

_binding: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["agent", "voice", "model"],
    "properties": {
        "agent": {
            "type": "string",
            "pattern": ID_PATTERN,
            "description": "IMS AIAgentId of the agent whose TTS node speaks with the voice.",
        },
        "workflow": {"type": "string", "description": "Optional label of the agent's workflow, shown in plans."},
        "node": {
            "type": "string",
            "pattern": ID_PATTERN,
            "default": DEFAULT_NODE,
            "description": "The TTS node of the workflow (default 'tts').",
        },
        "voice": {
            "type": "string",
            "pattern": NAME_PATTERN,
            "description": "Name of a voice declared under voices:.",
        },
        "model": {**_model_enum, "description": "The TTS node's model; it must equal the voice's model."},
        "instances": {
            "type": "array",
            "items": {"type": "string", "pattern": ID_PATTERN},
            "uniqueItems": True,
            "description": "Running AI agent instance ids to re-point at the voice on apply (UpdateAIAgentInstance).",
        },
    },
}

_account: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "description": "Where the voices live and how voicectl keeps track of them.",
    "properties": {
        "provider": {
            "type": "string",
            "enum": ["local", "aliyun"],
            "default": _ACCOUNT.provider,
            "description": "local: the embedded simulated account in .voicectl/local/ (no credentials, no network). "
            "aliyun: Model Studio (DashScope) voice enrollment, OSS and IMS.",
        },
        "quota": {
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_VOICES,
            "default": _ACCOUNT.quota,
            "description": "Voices allowed in the account, managed and unmanaged together (the IMS console allows 30).",
        },
        "prefix": {
            "type": "string",
            "pattern": PREFIX_PATTERN,
            "default": _ACCOUNT.prefix,
            "description": "Ownership marker put into every voice id: 1-9 lower-case letters or digits. Voices "
            "without it are unmanaged: counted, never touched.",
        },
        "region": {
            "type": "string",
            "pattern": r"^[a-z]{2}-[a-z0-9-]+$",
            "default": _ACCOUNT.region,
            "description": "Region of the Model Studio account (aliyun only): "
            + ", ".join(REGIONS)
            + ". It picks the DashScope host (dashscope.aliyuncs.com, dashscope-intl.aliyuncs.com); an API key "
            "works in its own region only. The OSS bucket's region is read from account.oss.endpoint.",
        },
        "policy": {
            "oneOf": [
                {"type": "string", "minLength": 1},
                {"type": "array", "items": {"type": "string", "minLength": 1}, "uniqueItems": True},
            ],
            "description": "Rego policies every plan (and apply) of this file is checked against: .rego files or "
            "directories of them, relative to voices.yaml. `deny` rules block the plan like a guard; `warn` rules "
            "show in it. See voicectl plan --policy.",
        },
        "workspace": {
            "type": "string",
            "pattern": r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$",
            "description": "aliyun only: Model Studio workspace id. Calls go to the workspace's own host "
            "({workspace}.{region}.maas.aliyuncs.com) with the X-DashScope-WorkSpace header; the API key must "
            "belong to the workspace. Default: the shared host and the key's default workspace.",
        },
        "audio_delivery": {
            "type": "string",
            "enum": ["oss", "inline"],
            "default": _ACCOUNT.audio_delivery,
            "description": "aliyun only: how local audio reaches the cloning service. oss: uploaded to "
            "account.oss.bucket and passed as a signed URL. inline: sent in the request as a base64 data URI "
            "(under 10 MB encoded), so no bucket and no AccessKey are needed; Qwen models only (CosyVoice takes "
            "a URL). The state then needs the local backend (or a bucket for the oss one).",
        },
        "oss": {
            "type": "object",
            "additionalProperties": False,
            "description": "aliyun only: the OSS bucket local source audio is uploaded to.",
            "properties": {
                "bucket": {
                    "type": "string",
                    "pattern": r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$",
                    "description": "Bucket name.",
                },
                "endpoint": {
                    "type": "string",
                    "pattern": r"^https?://",
                    "description": "The bucket's public endpoint, e.g. https://oss-cn-beijing.aliyuncs.com; it also "
                    "names the bucket's region, which V4 signatures use. Audio URLs are always signed for it (Model "
                    "Studio cannot reach an -internal endpoint). Env VOICECTL_OSS_ENDPOINT overrides.",
                },
                "upload_endpoint": {
                    "type": "string",
                    "pattern": r"^https?://",
                    "description": "Optional endpoint for uploads and state requests, e.g. the internal "
                    "https://oss-cn-beijing-internal.aliyuncs.com from inside the region's VPC. Signed audio URLs "
                    "still use endpoint.",
                },
                "key_prefix": {
                    "type": "string",
                    "default": _ACCOUNT.oss.key_prefix,
                    "pattern": r"^([A-Za-z0-9_.-]+/)*$",
                    "description": "Key prefix for uploads, ending with '/'. Keys are {key_prefix}{name}/{sha256}.{ext}.",
                },
                "url_ttl": {
                    "type": "integer",
                    "minimum": 60,
                    "maximum": MAX_URL_TTL,
                    "default": _ACCOUNT.oss.url_ttl,
                    "description": "Seconds a signed audio URL stays valid (at most 7 days).",
                },
            },
        },
        "state": {
            "type": "object",
            "additionalProperties": False,
            "description": "Where voicectl keeps its state (voice ids, audio hashes, bindings) and its lock.",
            "properties": {
                "backend": {
                    "type": "string",
                    "enum": ["local", "oss"],
                    "default": _ACCOUNT.state.backend,
                    "description": "local: a file next to voices.yaml. oss: objects in account.oss.bucket (for CI).",
                },
                "path": {
                    "type": "string",
                    "default": _ACCOUNT.state.path,
                    "description": "local backend: state file, relative to voices.yaml.",
                },
                "key": {
                    "type": "string",
                    "default": _ACCOUNT.state.key,
                    "pattern": r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$",
                    "description": "oss backend: key prefix of the state objects inside account.oss.bucket.",
                },
            },
        },
        "guards": {
            "type": "object",
            "additionalProperties": False,
            "description": "Safety limits on destructive changes; --allow-delete NAME lifts them for one voice.",
            "properties": {
                "max_deletes": {
                    "type": "integer",
                    "minimum": 0,
                    "default": _ACCOUNT.guards.max_deletes,
                    "description": "Most deletes plus replacements of existing voices in one apply.",
                },
                "max_delete_fraction": {
                    "type": "number",
                    "minimum": 0,
                    "maximum": 1,
                    "default": _ACCOUNT.guards.max_delete_fraction,
                    "description": "Most deletes plus replacements as a fraction of the managed voices in state.",
                },
            },
        },
    },
}

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": SCHEMA_ID,
    "title": "voicectl voices.yaml",
    "description": "Cloned TTS voices and their bindings to IMS AI agents' TTS nodes, managed by voicectl.",
    "type": "object",
    "additionalProperties": False,
    "required": ["version", "voices"],
    "properties": {
        "version": {"const": 1, "description": "Format version of this file; always 1."},
        "account": _account,
        "voices": {"type": "array", "maxItems": MAX_VOICES, "items": _voice, "description": "The voices."},
        "bindings": {
            "type": "array",
            "items": _binding,
            "description": "Which voice each agent's TTS node speaks with.",
        },
    },
}


def schema_json() -> str:
    return json.dumps(SCHEMA, indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    print(schema_json(), end="")
