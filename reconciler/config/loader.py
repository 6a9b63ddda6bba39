"""Load and validate voices.yaml into a `Desired`, reporting every problem with file, line and column.

Order of checks: YAML syntax (fatal), then the schema (`schema_messages.py`), cross-references
(`references.py`), audio paths and the audio itself (`sources.py`), the cloud's offers (`cloud.py`). All
problems of the later stages are collected so one `voicectl validate` run shows them all; a document without
any becomes a `Desired` (`build.py`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field

from jsonschema import Draft202012Validator

from reconciler.config.build import build_desired
from reconciler.config.cloud import check_cloud
from reconciler.config.references import check_account, check_bindings, check_renames, check_voice_names
from reconciler.config.reporter import Reporter, as_list, as_mapping
from reconciler.config.schema import MAX_VOICES, SCHEMA
from reconciler.config.schema_messages import report_schema_error
from reconciler.config.sources import AudioSources
from reconciler.config.stacks import find_stacks_root
from reconciler.config.yamlpos import MAX_BYTES, LoadedYaml, YamlError, load_yaml
from reconciler.errors import ConfigError, Problem
from reconciler.model import Desired

DEFAULT_FILE = "voices.yaml"
_validator = Draft202012Validator(SCHEMA)


@dataclass
class ValidationResult:
    file: str
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    desired: Desired | None = None
    # The audio lint's errors (in `errors` too), by voice name: validate reports them like any error, but plan
    # and apply block only on those of audio they will send (operations.gate_lint).
    lint_errors: list[tuple[str, Problem]] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.errors

    @property
    def blocking(self) -> list[Problem]:
        """The errors that stop plan and apply whatever they would do: all but the audio lint's."""
        lint = {id(p) for _, p in self.lint_errors}
        return [p for p in self.errors if id(p) not in lint]


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
    if result.blocking or result.desired is None:
        raise ConfigError(result.blocking or result.errors)
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
    checker = _Checker(file, loaded, result, file_sha256=hashlib.sha256(raw).hexdigest())
    checker.run(check_audio=check_audio, read_audio=read_audio, lint=lint)
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


class _Checker:
    """One run of every check over a parsed document, in order; problems go to the result."""

    def __init__(self, file: str, loaded: LoadedYaml, result: ValidationResult, *, file_sha256: str):
        self.file, self.loaded, self.result, self.file_sha256 = file, loaded, result, file_sha256
        self.report = Reporter(file, loaded, result)

    def run(self, *, check_audio: bool, read_audio: bool, lint: bool) -> None:
        report = self.report
        for e in self.loaded.problems:
            self.result.errors.append(Problem(self.file, e.line, e.column, e.message))
        data = self.loaded.data
        if not isinstance(data, dict):
            report.error((), "voices.yaml must be a mapping with `version: 1` and `voices:` (see `voicectl init`)")
            return
        if isinstance(data.get("voices"), list) and len(data["voices"]) > MAX_VOICES:
            # Checking tens of thousands of entries one by one takes long and says nothing more useful.
            report.error(("voices",), f"{len(data['voices'])} voices: an account holds at most {MAX_VOICES}")
            return
        for err in sorted(_validator.iter_errors(data), key=lambda e: report.pos(tuple(e.absolute_path))):
            report_schema_error(report, err)
        voices, bindings = as_list(data.get("voices")), as_list(data.get("bindings"))
        account = as_mapping(data.get("account"))
        names = check_voice_names(report, voices)
        check_renames(report, voices, names)
        check_bindings(report, bindings, voices, names)
        check_account(report, account, voices)
        base_dir = os.path.dirname(os.path.abspath(self.file))
        sources = AudioSources(
            report, base_dir, check_audio=check_audio, lint=lint, root_dir=find_stacks_root(base_dir)
        )
        for i, voice in enumerate(voices):
            if isinstance(voice, dict) and isinstance(voice.get("audio"), str):
                if read_audio:
                    sources.resolve(i, voice, account)
                else:
                    sources.unread(i, voice["audio"])
        check_cloud(account, voices, sources.audio, report.error, report.warn)
        self.result.lint_errors = sources.lint_errors
        if not self.result.blocking:
            desired = build_desired(data, sources.audio, file=self.file, file_sha256=self.file_sha256, lint=lint)
            self.result.desired = dataclasses.replace(desired, lint_errors=tuple(sources.lint_errors))
