"""The nouns of voicectl: small frozen dataclasses shared by every layer.

Nothing here does I/O. The planner takes `Desired`, `StateDoc` and `LiveSnapshot` and returns a `Plan`;
providers speak in `LiveVoice` and `LiveBinding`.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from reconciler.catalog import BEIJING, CONSOLE_VOICE_QUOTA
from reconciler.errors import Problem
from reconciler.naming import binding_address, voice_address

DEFAULT_NODE = "tts"
PREFIX_PATTERN = r"^[a-z0-9]{1,9}$"
NAME_PATTERN = r"^[a-z][a-z0-9-]{0,62}$"


# Measured values by name, in a fixed order (a tuple, so that the records stay hashable).
Metrics = tuple[tuple[str, float | None], ...]


class VoiceStatus(StrEnum):
    DEPLOYING = "DEPLOYING"  # under review ("Reviewing" in the console)
    OK = "OK"
    UNDEPLOYED = "UNDEPLOYED"  # review failed


# --------------------------------------------------------------------------------------------------
# Desired state (voices.yaml)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OssSpec:
    bucket: str | None = None
    endpoint: str | None = None
    key_prefix: str = "voicectl/audio/"
    url_ttl: int = 3600
    upload_endpoint: str | None = None  # where uploads go (e.g. the -internal endpoint); URLs use `endpoint`


@dataclass(frozen=True)
class StateSpec:
    backend: str = "local"  # local | oss
    path: str = ".voicectl/state.json"
    key: str = "voicectl/state"


@dataclass(frozen=True)
class Guards:
    max_deletes: int = 3
    max_delete_fraction: float = 0.3


@dataclass(frozen=True)
class AccountSpec:
    provider: str = "local"  # local | aliyun
    quota: int = CONSOLE_VOICE_QUOTA
    prefix: str = "vc"
    region: str = BEIJING
    oss: OssSpec = field(default_factory=OssSpec)
    state: StateSpec = field(default_factory=StateSpec)
    guards: Guards = field(default_factory=Guards)
    workspace: str | None = None  # Model Studio workspace id: its own host and the X-DashScope-WorkSpace header
    audio_delivery: str = "oss"  # oss: signed OSS URLs | inline: the audio itself as a data URI (Qwen)
    policy: tuple[str, ...] = ()  # Rego files or directories every plan is checked against (absolute paths)


@dataclass(frozen=True)
class AudioSource:
    """Where a voice's source audio comes from and what it is.

    `identity` is what the planner compares: the content sha256 for a local file (moving or renaming an
    unchanged file is no change), the URL itself for remote audio that cannot be read offline.
    """

    ref: str  # as written in voices.yaml
    path: str | None = None  # absolute local path, when local
    url: str | None = None  # oss://bucket/key or https://..., when remote
    sha256: str | None = None  # hex digest of the local file's content
    ext: str | None = None  # "wav" | "mp3" | "m4a" (by content, not by file name)
    size: int | None = None
    # What the audio lint measured (speech_ratio, longest_speech_s, longest_pause_s, snr_db, clipping, lufs);
    # empty when the lint did not run (lint: false, --no-lint, remote audio). Recorded in state after apply.
    metrics: Metrics = ()

    @property
    def identity(self) -> str:
        if self.sha256:
            return f"sha256:{self.sha256}"
        return f"url:{self.url}"


@dataclass(frozen=True)
class VoiceSpec:
    name: str
    audio: AudioSource
    model: str
    language: str | None = None
    recorded: bool = False
    protect: bool = False
    renamed_from: tuple[str, ...] = ()
    lint: bool = True  # False: the audio quality lint was skipped (lint: false or --no-lint)
    # Create-time options (catalog.ModelInfo.options says which model takes which); used when cloning only.
    max_prompt_audio_length: float | None = None
    enable_preprocess: bool | None = None
    text: str | None = None
    audition_text: str | None = None  # what `voicectl audition` has it say; never sent when cloning

    @property
    def address(self) -> str:
        return voice_address(self.name)

    @property
    def clone_options(self) -> CloneOptions:
        return CloneOptions(self.language, self.max_prompt_audio_length, self.enable_preprocess, self.text)

    @property
    def create_options(self) -> Options:
        """The create-time options besides `language` that voices.yaml sets, as recorded in state: changing
        one means a new clone (the service's update takes new audio only)."""
        return tuple((n, getattr(self, n)) for n in OPTION_NAMES if getattr(self, n) is not None)


# Create-time options as (name, value) pairs, in OPTION_NAMES order (sorted), None values left out.
Options = tuple[tuple[str, Any], ...]
OPTION_NAMES = ("enable_preprocess", "max_prompt_audio_length", "text")


@dataclass(frozen=True)
class CloneOptions:
    """What a create call passes besides the audio: hints and options the model takes (see catalog)."""

    language: str | None = None
    max_prompt_audio_length: float | None = None  # CosyVoice v3-flash, v3.5: seconds kept after preprocessing
    enable_preprocess: bool | None = None  # CosyVoice v3+: noise reduction and volume normalisation
    text: str | None = None  # Qwen: transcript of the audio


@dataclass(frozen=True)
class CreatedVoice:
    """A voice a create call made, with what the service said about it (e.g. Qwen's fallback mode)."""

    voice_id: str
    warning: str | None = None


@dataclass(frozen=True)
class BindingSpec:
    agent: str
    voice: str  # a voice name from voices:
    model: str
    node: str = DEFAULT_NODE
    workflow: str | None = None
    instances: tuple[str, ...] = ()

    @property
    def address(self) -> str:
        return binding_address(self.agent, self.node)


@dataclass(frozen=True)
class Desired:
    """A loaded, validated voices.yaml."""

    path: str  # absolute path of voices.yaml
    base_dir: str  # its directory: audio paths and .voicectl/ are relative to it
    file_sha256: str
    account: AccountSpec
    voices: tuple[VoiceSpec, ...]
    bindings: tuple[BindingSpec, ...]
    # The audio lint's errors by voice name: they block a plan only if it sends that voice's audio.
    lint_errors: tuple[tuple[str, Problem], ...] = ()

    def voice(self, name: str) -> VoiceSpec | None:
        return next((v for v in self.voices if v.name == name), None)


# --------------------------------------------------------------------------------------------------
# Live account, as a provider reports it
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LiveVoice:
    voice_id: str
    model: str
    status: str  # a VoiceStatus value
    prefix: str | None  # ownership marker read from the id; None when the id carries none
    created: str | None = None  # ISO-8601 or the service's own timestamp
    modified: str | None = None
    resource_link: str | None = None  # the audio URL the voice was cloned from, when queried
    display_name: str | None = None  # Qwen preferred_name, when the service gives one


@dataclass(frozen=True)
class LiveBinding:
    """What an agent's TTS node speaks with now, as far as the provider can tell."""

    agent: str
    node: str
    voice_id: str | None  # None: the workflow's console default
    drifted_instances: tuple[str, ...] = ()  # listed running instances whose VoiceId differs


@dataclass(frozen=True)
class LiveSnapshot:
    voices: tuple[LiveVoice, ...]
    bindings: tuple[LiveBinding, ...] = ()

    def by_id(self) -> dict[str, LiveVoice]:
        return {v.voice_id: v for v in self.voices}


# --------------------------------------------------------------------------------------------------
# State document
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VoiceRecord:
    voice_id: str
    model: str
    audio_identity: str  # "sha256:<hex>" or "url:<url>"
    audio_key: str | None = None  # object key of the uploaded audio (never a signed URL)
    status: str = VoiceStatus.DEPLOYING.value
    language: str | None = None
    protect: bool = False  # remembered so that removing a protected voice from voices.yaml is still guarded
    name: str | None = None  # set on deposed records: the name the voice served before it was replaced
    # The lint metrics of the audio the voice was cloned from, next to its review outcome (status), so the
    # lint's thresholds can be calibrated against what the service accepted.
    lint: Metrics = ()
    warning: str | None = None  # what the service said when it cloned the voice (Qwen fallback mode)
    # The create-time options the voice was cloned (or imported) with; None in a state written before they
    # were recorded, where only `language` is known and the others are taken as declared.
    options: Options | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "voice_id": self.voice_id,
            "model": self.model,
            "audio_identity": self.audio_identity,
            "audio_key": self.audio_key,
            "status": self.status,
            "language": self.language,
            "protect": self.protect,
        }
        if self.name is not None:
            out["name"] = self.name
        if self.lint:
            out["lint"] = dict(self.lint)
        if self.warning is not None:
            out["warning"] = self.warning
        if self.options is not None:
            out["options"] = dict(self.options)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> VoiceRecord:
        return cls(
            voice_id=data["voice_id"],
            model=data["model"],
            audio_identity=data["audio_identity"],
            audio_key=data.get("audio_key"),
            status=data.get("status", VoiceStatus.DEPLOYING.value),
            language=data.get("language"),
            protect=bool(data.get("protect", False)),
            name=data.get("name"),
            lint=tuple((str(k), v) for k, v in (data.get("lint") or {}).items()),
            warning=data.get("warning"),
            options=None if data.get("options") is None else tuple(sorted(data["options"].items())),
        )


@dataclass(frozen=True)
class BindingRecord:
    agent: str
    node: str
    voice: str  # voice name
    voice_id: str
    model: str
    workflow: str | None = None
    instances: tuple[str, ...] = ()

    @property
    def address(self) -> str:
        return binding_address(self.agent, self.node)

    def to_json(self) -> dict[str, Any]:
        return {
            "agent": self.agent,
            "node": self.node,
            "voice": self.voice,
            "voice_id": self.voice_id,
            "model": self.model,
            "workflow": self.workflow,
            "instances": list(self.instances),
        }

    @classmethod
    def of(cls, spec: BindingSpec, voice_id: str) -> BindingRecord:
        """The record of a binding as voices.yaml declares it, speaking with `voice_id`."""
        return cls(
            agent=spec.agent,
            node=spec.node,
            voice=spec.voice,
            voice_id=voice_id,
            model=spec.model,
            workflow=spec.workflow,
            instances=spec.instances,
        )

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BindingRecord:
        return cls(
            agent=data["agent"],
            node=data["node"],
            voice=data["voice"],
            voice_id=data["voice_id"],
            model=data["model"],
            workflow=data.get("workflow"),
            instances=tuple(data.get("instances") or ()),
        )


STATE_FORMAT_VERSION = 1


@dataclass(frozen=True)
class StateDoc:
    """What voicectl remembers between runs. Keyed by voice name and binding address."""

    serial: int = 0
    lineage: str = ""
    voices: dict[str, VoiceRecord] = field(default_factory=dict)
    bindings: dict[str, BindingRecord] = field(default_factory=dict)
    # Old halves of replacements whose delete has not happened yet (Terraform's "deposed" objects), by voice id.
    deposed: dict[str, VoiceRecord] = field(default_factory=dict)
    # Voices `state rm` forgot, by voice id -> the name they had: unmanaged from then on (counted, listed,
    # never touched, never adopted by the prefix rule) until `import` brings one back.
    forgotten: dict[str, str] = field(default_factory=dict)
    version: int = STATE_FORMAT_VERSION

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "serial": self.serial,
            "lineage": self.lineage,
            "voices": {k: self.voices[k].to_json() for k in sorted(self.voices)},
            "bindings": {k: self.bindings[k].to_json() for k in sorted(self.bindings)},
            "deposed": {k: self.deposed[k].to_json() for k in sorted(self.deposed)},
            "forgotten": dict(sorted(self.forgotten.items())),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StateDoc:
        return cls(
            version=int(data.get("version", STATE_FORMAT_VERSION)),
            serial=int(data["serial"]),
            lineage=str(data["lineage"]),
            voices={k: VoiceRecord.from_json(v) for k, v in (data.get("voices") or {}).items()},
            bindings={k: BindingRecord.from_json(v) for k, v in (data.get("bindings") or {}).items()},
            deposed={k: VoiceRecord.from_json(v) for k, v in (data.get("deposed") or {}).items()},
            forgotten={str(k): str(v) for k, v in (data.get("forgotten") or {}).items()},
        )

    def voice_ids(self) -> dict[str, str]:
        """voice id -> name, for every voice the state knows (deposed ones under their former name)."""
        ids = {r.voice_id: r.name or "" for r in self.deposed.values()}
        ids.update({r.voice_id: name for name, r in self.voices.items()})
        return ids


@dataclass(frozen=True)
class LockInfo:
    """A state lock, which is a lease: its holder renews it while it runs (see reconciler.state.lease).

    `host`, `pid` and `pid_start` (the process's start time, so a reused pid is not taken for the holder) let
    a run on the same host see that the holder is gone; `lease` (seconds) and `expires` (ISO-8601 UTC, by the
    holder's clock at its last renewal) say when a holder that stopped renewing loses it. A lock written by an
    older voicectl has none of these: it never expires and needs `force-unlock`."""

    id: str
    operation: str
    who: str  # user@host
    created: str  # ISO-8601 UTC
    host: str = ""
    pid: int = 0
    pid_start: str = ""
    lease: float = 0.0  # seconds; 0: no lease (an older voicectl's lock)
    expires: str = ""  # ISO-8601 UTC

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "operation": self.operation, "who": self.who, "created": self.created}
        if self.lease:
            out.update(host=self.host, pid=self.pid, pid_start=self.pid_start, lease=self.lease, expires=self.expires)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LockInfo:
        return cls(
            id=str(data["id"]),
            operation=str(data["operation"]),
            who=str(data["who"]),
            created=str(data["created"]),
            host=str(data.get("host") or ""),
            pid=int(data.get("pid") or 0),
            pid_start=str(data.get("pid_start") or ""),
            lease=float(data.get("lease") or 0.0),
            expires=str(data.get("expires") or ""),
        )

    def describe(self) -> str:
        lease = f"; its lease ends {self.expires} unless renewed" if self.expires else ""
        return f"ID {self.id}, operation {self.operation}, held by {self.who} since {self.created}{lease}"


# -- stacks: the voices.yaml files of one repository (config/stacks.py finds and checks them) ------------

VOICES_FILE = "voices.yaml"


@dataclass(frozen=True)
class Account:
    """What makes two stacks the same account: they would see (and count) the same voices."""

    provider: str
    region: str
    workspace: str | None
    environment: str | None
    api_key_secret: str
    prefix: str

    @property
    def key(self) -> str:
        """A stable name for the account (without the prefix): a CI concurrency group per account."""
        identity = (
            f"{self.provider}|{self.region}|{self.workspace or ''}|{self.environment or ''}|{self.api_key_secret}"
        )
        return f"{self.region}-{hashlib.sha256(identity.encode()).hexdigest()[:10]}"

    def shares_voices_with(self, other: Account) -> bool:
        if self.provider != "aliyun" or other.provider != "aliyun":
            return False  # the local provider's account is the stack's own directory
        same_account = (self.region, self.workspace, self.environment, self.api_key_secret) == (
            other.region,
            other.workspace,
            other.environment,
            other.api_key_secret,
        )
        return same_account and (self.prefix.startswith(other.prefix) or other.prefix.startswith(self.prefix))


@dataclass(frozen=True)
class Stack:
    name: str
    directory: str  # relative to the root, '/'-separated ("." for a single stack)
    environment: str | None
    secrets: dict[str, str]  # variable -> the secret that feeds it
    account: Account
    audio: tuple[str, ...]  # the local audio files its voices.yaml names, relative to the root
    line: int | None = None  # of its entry in the stacks file, when it has one

    @property
    def file(self) -> str:
        return VOICES_FILE if self.directory == "." else f"{self.directory}/{VOICES_FILE}"

    @property
    def account_key(self) -> str:
        """The account's name for a CI concurrency group; a local provider's account is the stack's own."""
        return f"local-{self.name}" if self.account.provider == "local" else self.account.key


@dataclass(frozen=True)
class Stacks:
    root: str  # absolute: the directory audio must stay inside
    source: str  # where the list came from: the stacks file, the glob, or the single voices.yaml
    stacks: tuple[Stack, ...] = field(default_factory=tuple)
    stacks_file: str | None = None  # relative to the root, when there is one

    def changed(self, paths: Iterable[str]) -> tuple[Stack, ...]:
        """The stacks whose voices.yaml or audio is among `paths` (relative to the root); all of them when the
        stacks file itself changed."""
        changed = {p.replace(os.sep, "/") for p in paths}
        if self.stacks_file is not None and self.stacks_file in changed:
            return self.stacks
        return tuple(s for s in self.stacks if s.file in changed or changed.intersection(s.audio))
