"""Load and validate voices.yaml into a `Desired`, reporting every problem with file, line and column.

Order of checks: YAML syntax (fatal), then schema, cross-references, audio paths and the audio itself. All
problems of the later stages are collected so one `voicectl validate` run shows them all.
"""

from __future__ import annotations

import difflib
import hashlib
import math
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from reconciler.catalog import MODELS
from reconciler.config.cloud import check_cloud
from reconciler.config.schema import MAX_VOICES, SCHEMA
from reconciler.config.yamlpos import MAX_BYTES, LoadedYaml, Path, YamlError, load_yaml
from reconciler.errors import ConfigError, Problem
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

DEFAULT_FILE = "voices.yaml"
_validator = Draft202012Validator(SCHEMA)


@dataclass
class ValidationResult:
    file: str
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    desired: Desired | None = None

    @property
    def valid(self) -> bool:
        return not self.errors


def resolve_config_path(file: str | None, env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    return file or env.get("VOICECTL_FILE") or DEFAULT_FILE


def load_desired(
    file: str, *, check_audio: bool = True, read_audio: bool = True, lint: bool = True
) -> tuple[Desired, list[Problem]]:
    """The validated desired state and its warnings; raises ConfigError carrying every error.

    `read_audio=False` skips the audio files entirely (no hashing, no checks): for commands that only need
    the account settings and names (`agent-config`, `state`, `force-unlock`, `voices`, the runtime helper),
    which may run where the source audio is not present. `lint=False` (`--no-lint`) keeps the documented
    audio checks but skips the quality lint of what the audio contains."""
    result = validate_file(file, check_audio=check_audio, read_audio=read_audio, lint=lint)
    if not result.valid or result.desired is None:
        raise ConfigError(result.errors)
    return result.desired, result.warnings


def validate_file(
    file: str, *, check_audio: bool = True, read_audio: bool = True, lint: bool = True
) -> ValidationResult:
    result = ValidationResult(file=file)
    try:
        raw = _read_config(file)
    except _NotAFile as e:
        result.errors.append(Problem(file, None, None, str(e)))
        return result
    except FileNotFoundError:
        result.errors.append(
            Problem(file, None, None, "file not found: create one with `voicectl init`, or pass -f PATH")
        )
        return result
    except OSError as e:
        result.errors.append(Problem(file, None, None, f"cannot read the file: {e.strerror}"))
        return result
    try:
        loaded = load_yaml(raw)
    except YamlError as e:
        result.errors.append(Problem(file, e.line, e.column, e.message))
        return result
    checker = _Checker(file, loaded, result, check_audio=check_audio, file_sha256=hashlib.sha256(raw).hexdigest())
    checker.read_audio = read_audio
    checker.lint = lint
    checker.run()
    return result


class _NotAFile(Exception):
    pass


def _read_config(file: str) -> bytes:
    """The file's bytes, refusing what is not a regular file: a FIFO would block `open` forever and a
    symlink to /dev/zero would never end. O_NONBLOCK makes opening a FIFO return at once."""
    fd = os.open(file, os.O_RDONLY | os.O_NONBLOCK)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise _NotAFile("not a regular file (a directory, FIFO or device?): point -f at a voices.yaml file")
        with os.fdopen(fd, "rb", closefd=False) as f:
            return f.read(MAX_BYTES + 1)  # enough for load_yaml to report an oversized file
    finally:
        os.close(fd)


def _clip(message: str) -> str:
    """Keep messages readable when they quote an enormous value from the file: the head and the tail
    (where the fix is) survive."""
    if len(message) <= 600:
        return message
    return f"{message[:300]} … [{len(message) - 500} characters cut] … {message[-200:]}"


def _where(path: Path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "the document"


def _suggest(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f": did you mean {close[0]!r}?" if close else ""


_PATTERN_HINTS = {
    "name": "use lower-case letters, digits and '-', starting with a letter, at most 63 characters (e.g. support-en)",
    "voice": "use the name of a voice declared under voices:",
    "renamed_from": "use former voice names: lower-case letters, digits and '-', starting with a letter",
    "prefix": "use 1 to 9 lower-case letters or digits (e.g. acme)",
    "language": "use a language code such as en, zh or pt-BR",
    "bucket": "use an OSS bucket name: 3-63 lower-case letters, digits and '-'",
    "endpoint": "use a URL such as https://oss-cn-beijing.aliyuncs.com",
    "key_prefix": "use a key prefix ending with '/', e.g. voicectl/audio/",
    "region": "use a region id such as cn-beijing",
    "agent": "use the IMS AIAgentId (letters, digits, '-', '_', '.')",
    "node": "use the TTS node's id (letters, digits, '-', '_', '.')",
    "instances": "use AI agent instance ids (letters, digits, '-', '_', '.')",
    "key": "use a key prefix such as voicectl/state (no leading or trailing '/')",
}


class _Checker:
    def __init__(self, file: str, loaded: LoadedYaml, result: ValidationResult, *, check_audio: bool, file_sha256: str):
        self.file = file
        self.base_dir = os.path.dirname(os.path.abspath(file))
        self.loaded = loaded
        self.result = result
        self.check_audio = check_audio
        self.file_sha256 = file_sha256
        self.audio: dict[int, AudioSource] = {}  # voice index -> resolved audio
        self.read_audio = True
        self.lint = True
        self.inspected: dict[tuple[str, str, bool, bool], Any] = {}

    # -- reporting --------------------------------------------------------------------------------
    def error(self, path: Path, message: str, *, at_key: bool = False) -> None:
        line, col = self.loaded.key(path) if at_key else self.loaded.pos(path)
        self.result.errors.append(Problem(self.file, line, col, _clip(message)))

    def warn(self, path: Path, message: str) -> None:
        line, col = self.loaded.pos(path)
        self.result.warnings.append(Problem(self.file, line, col, _clip(message)))

    # -- stages -----------------------------------------------------------------------------------
    def run(self) -> None:
        for e in self.loaded.problems:
            self.result.errors.append(Problem(self.file, e.line, e.column, e.message))
        data = self.loaded.data
        if not isinstance(data, dict):
            self.error((), "voices.yaml must be a mapping with `version: 1` and `voices:` (see `voicectl init`)")
            return
        if isinstance(data.get("voices"), list) and len(data["voices"]) > MAX_VOICES:
            # Checking tens of thousands of entries one by one takes long and says nothing more useful.
            self.error(("voices",), f"{len(data['voices'])} voices: an account holds at most {MAX_VOICES}")
            return
        for err in sorted(_validator.iter_errors(data), key=lambda e: self.loaded.pos(tuple(e.absolute_path))):
            self.schema_error(err)
        voices = _list(data.get("voices"))
        bindings = _list(data.get("bindings"))
        account = _mapping(data.get("account"))
        names = self.check_voice_names(voices)
        self.check_renames(voices, names)
        self.check_bindings(bindings, voices, names)
        self.check_account(account, voices)
        for i, voice in enumerate(voices):
            if isinstance(voice, dict) and isinstance(voice.get("audio"), str):
                if self.read_audio:
                    self.check_audio_source(i, voice, account)
                else:
                    ref = voice["audio"]
                    self.audio[i] = AudioSource(ref=ref, url=ref) if "://" in ref else AudioSource(ref=ref)
        check_cloud(account, voices, self.audio, self.error, self.warn)
        if not self.result.errors:
            self.result.desired = self.build(data)

    def schema_error(self, err: ValidationError) -> None:
        # jsonschema types these as "maybe unset"; for an error from iter_errors they are always set.
        instance: Any = err.instance
        expected: Any = err.validator_value
        schema: Any = err.schema
        path = tuple(err.absolute_path)
        field_name = next((p for p in reversed(path) if isinstance(p, str)), "")
        where = _where(path)
        if err.validator == "additionalProperties" and isinstance(instance, dict):
            allowed = list(schema.get("properties", {}))
            for key in instance:
                if key not in allowed:
                    self.error(
                        (*path, key),
                        f"unknown key {key!r} in {where}{_suggest(key, allowed) or ': allowed are ' + ', '.join(allowed)}",
                        at_key=True,
                    )
        elif err.validator == "required":
            self.error(path, f"{where} is missing {err.message.split(' is a required')[0]}")
        elif err.validator == "const" and path == ("version",):
            self.error(path, f"unsupported version {instance!r}: this voicectl reads `version: 1`")
        elif err.validator == "enum":
            options = ", ".join(map(str, expected))
            hint = _suggest(str(instance), [str(o) for o in expected])
            label = "model" if field_name == "model" else field_name
            self.error(path, f"unknown {label} {instance!r} in {where}{hint or ''}; use one of: {options}")
        elif err.validator == "pattern":
            hint_key = field_name if not isinstance(path[-1], int) else str(path[-2])
            hint = _PATTERN_HINTS.get(hint_key, f"must match {expected}")
            self.error(path, f"bad {field_name or 'value'} {instance!r} in {where}: {hint}")
        elif err.validator == "type":
            got = type(instance).__name__ if instance is not None else "nothing"
            self.error(path, f"{where} must be {_a(expected)}, not {got}")
        elif err.validator == "maxItems" and path == ("voices",):
            self.error(path, f"{len(instance)} voices: an account holds at most {expected}")
        else:
            self.error(path, f"{where}: {err.message}{_bound_hint(err.validator, expected)}")

    def check_voice_names(self, voices: list[Any]) -> dict[str, int]:
        names: dict[str, int] = {}
        for i, voice in enumerate(voices):
            name = voice.get("name") if isinstance(voice, dict) else None
            if not isinstance(name, str):
                continue
            if name in names:
                first_line = self.loaded.pos(("voices", names[name], "name"))[0]
                self.error(
                    ("voices", i, "name"),
                    f"duplicate voice name {name!r} (first at line {first_line}): names must be unique",
                )
            else:
                names[name] = i
        return names

    def check_renames(self, voices: list[Any], names: dict[str, int]) -> None:
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
                    self.error(path, f"renamed_from {old!r} is the voice's own name: remove it")
                elif old in names:
                    line = self.loaded.pos(("voices", names[old], "name"))[0]
                    self.error(
                        path,
                        f"renamed_from {old!r} clashes with the voice named {old!r} at line {line}: a name is "
                        "either current or former, not both",
                    )
                elif old in claimed:
                    line = self.loaded.pos(("voices", claimed[old], "name"))[0]
                    self.error(
                        path, f"renamed_from {old!r} is also claimed by the voice at line {line}: keep it on one"
                    )
                else:
                    claimed[old] = i

    def check_bindings(self, bindings: list[Any], voices: list[Any], names: dict[str, int]) -> None:
        seen: dict[tuple[str, str], int] = {}
        for i, binding in enumerate(bindings):
            if not isinstance(binding, dict):
                continue
            voice_name = binding.get("voice")
            if isinstance(voice_name, str) and voice_name not in names:
                hint = _suggest(voice_name, list(names)) or (
                    f"; declared voices: {', '.join(names)}" if names else "; no voices are declared"
                )
                self.error(("bindings", i, "voice"), f"binding to unknown voice {voice_name!r}{hint}")
            elif isinstance(voice_name, str):
                voice_model = voices[names[voice_name]].get("model")
                model = binding.get("model")
                if isinstance(model, str) and isinstance(voice_model, str) and model != voice_model:
                    self.error(
                        ("bindings", i, "model"),
                        f"binding model {model!r} differs from voice {voice_name!r}'s model {voice_model!r}: a "
                        f"voice speaks only through its own model; set model: {voice_model}",
                    )
            agent, node = binding.get("agent"), binding.get("node", DEFAULT_NODE)
            if isinstance(agent, str) and isinstance(node, str):
                if (agent, node) in seen:
                    line = self.loaded.pos(("bindings", seen[(agent, node)]))[0]
                    self.error(
                        ("bindings", i, "agent"),
                        f"agent {agent!r} node {node!r} is already bound at line {line}: a TTS node has one voice",
                    )
                else:
                    seen[(agent, node)] = i

    def check_account(self, account: dict[str, Any], voices: list[Any]) -> None:
        provider = account.get("provider", AccountSpec.provider)
        oss = _mapping(account.get("oss"))
        state = _mapping(account.get("state"))
        if state.get("backend") == "oss" and provider != "aliyun":
            self.error(("account", "state", "backend"), "state backend 'oss' needs `provider: aliyun`")
        inline = account.get("audio_delivery") == "inline"
        if provider == "aliyun" and not oss.get("bucket"):
            uploads = not inline and any(
                isinstance(v, dict) and isinstance(v.get("audio"), str) and "://" not in v["audio"] for v in voices
            )
            if uploads:
                self.error(
                    ("account",),
                    "provider aliyun needs account.oss.bucket: local audio is uploaded there (and the oss state "
                    "backend lives there); with Qwen models, account.audio_delivery: inline needs no bucket",
                )
            elif state.get("backend") == "oss":
                self.error(
                    ("account", "state", "backend"),
                    "state backend oss keeps the state in account.oss.bucket, which is not set: set the bucket "
                    "(and AccessKeys), or use state.backend: local"
                    + (" (audio_delivery: inline needs no bucket, the oss state backend does)" if inline else ""),
                )
        guards = _mapping(account.get("guards"))
        fraction = guards.get("max_delete_fraction")
        if isinstance(fraction, float) and math.isnan(fraction):
            # NaN passes the schema's bounds (every comparison is false) and would switch the guard off.
            self.error(
                ("account", "guards", "max_delete_fraction"),
                "max_delete_fraction is not a number (.nan): use a fraction from 0 to 1 (default 0.3)",
            )
        path = state.get("path")
        if isinstance(path, str) and (os.path.isabs(path) or ".." in path.split("/")):
            self.error(("account", "state", "path"), "state path must be relative to voices.yaml, without '..'")

    def check_audio_source(self, i: int, voice: dict[str, Any], account: dict[str, Any]) -> None:
        ref: str = voice["audio"]
        path: Path = ("voices", i, "audio")
        if "://" in ref:
            parts = urlsplit(ref)
            if parts.scheme not in ("oss", "https"):
                self.error(
                    path,
                    f"audio URL scheme {parts.scheme!r} is not supported: use https://, oss://bucket/key, or a path "
                    "relative to voices.yaml",
                )
            elif parts.scheme == "oss" and (not parts.netloc or parts.path in ("", "/")):
                self.error(path, f"audio URL {ref!r} must look like oss://bucket/path/to/file.wav")
            elif account.get("provider", AccountSpec.provider) == "local":
                self.error(
                    path,
                    "the local provider cannot fetch remote audio: use a file inside the project, or "
                    "`provider: aliyun`",
                )
            else:
                self.audio[i] = AudioSource(ref=ref, url=ref)
            return
        if "\0" in ref:
            self.error(path, "audio path contains a NUL character: write a plain relative path")
            return
        if os.path.isabs(ref):
            self.error(path, f"audio path {ref!r} is absolute: write it relative to voices.yaml")
            return
        full = os.path.join(self.base_dir, ref)
        real, base = os.path.realpath(full), os.path.realpath(self.base_dir)
        if os.path.commonpath([real, base]) != base:
            how = "a symlink" if os.path.realpath(os.path.normpath(full)) != os.path.normpath(full) else "'..'"
            self.error(
                path,
                f"audio path {ref!r} resolves outside the directory of voices.yaml (through {how}): keep source "
                "audio inside the project",
            )
            return
        if not os.path.exists(real):
            self.error(path, f"audio file {ref!r} not found (paths are relative to {self.base_dir})")
            return
        if not os.path.isfile(real):
            self.error(path, f"audio path {ref!r} is not a regular file")
            return
        self.inspect(i, voice, ref, real)

    def inspect(self, i: int, voice: dict[str, Any], ref: str, real: str) -> None:
        path: Path = ("voices", i, "audio")
        from reconciler.audio.rules import MAX_BYTES as MAX_AUDIO_BYTES

        size = os.path.getsize(real)
        if size > MAX_AUDIO_BYTES:
            # Refused before hashing: a huge (or sparse, terabyte-sized) file would otherwise be read in full.
            self.error(
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
            self.error(path, f"audio {ref}: {message}")
        for message in report.warnings:
            self.warn(path, f"audio {ref}: {message}")
        info = report.info
        self.audio[i] = AudioSource(
            ref=ref,
            path=real,
            sha256=info.sha256 if info else _sha256_cached(real),
            ext=info.format if info else None,
            size=size,
            metrics=report.metrics,
        )

    # -- building -----------------------------------------------------------------------------------
    def build(self, data: dict[str, Any]) -> Desired:
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
            audio_delivery=acc.get("audio_delivery", AccountSpec.audio_delivery),
        )
        voices = tuple(
            VoiceSpec(
                name=v["name"],
                audio=self.audio[i],
                model=v["model"],
                language=v.get("language"),
                recorded=bool(v.get("recorded", False)),
                protect=bool(v.get("protect", False)),
                renamed_from=tuple(v.get("renamed_from") or ()),
                lint=self.lint and v.get("lint", True) is not False,
                max_prompt_audio_length=v.get("max_prompt_audio_length"),
                enable_preprocess=v.get("enable_preprocess"),
                text=v.get("text"),
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
            path=os.path.abspath(self.file),
            base_dir=self.base_dir,
            file_sha256=self.file_sha256,
            account=account,
            voices=voices,
            bindings=bindings,
        )


def _bound_hint(validator: object, bound: Any) -> str:
    if validator not in ("minimum", "maximum") or not isinstance(bound, int | float):
        return ""
    return f"; use a value of {'at most' if validator == 'maximum' else 'at least'} {bound:g}"


def _list(value: Any) -> list[Any]:
    """A list from the document, or an empty one where the schema check already reported something else."""
    return value if isinstance(value, list) else []


def _mapping(value: Any) -> dict[str, Any]:
    """A mapping from the document, or an empty one where the schema check already reported something else."""
    return value if isinstance(value, dict) else {}


def _a(kind: object) -> str:
    names = {"string": "a string", "integer": "an integer", "number": "a number", "boolean": "true or false"}
    names |= {"array": "a list", "object": "a mapping"}
    if isinstance(kind, list):
        return " or ".join(names.get(str(k), str(k)) for k in kind)
    return names.get(str(kind), str(kind))


_sha_cache: dict[tuple[str, int, int], str] = {}


def _sha256_cached(path: str) -> str:
    """Each file is hashed once per process (keyed by path, size and mtime), however many voices use it."""
    from reconciler.audio.probe import sha256_file  # already imported by the caller's audio checks

    st = os.stat(path)
    key = (path, st.st_size, st.st_mtime_ns)
    if key not in _sha_cache:
        _sha_cache[key] = sha256_file(path)
    return _sha_cache[key]
