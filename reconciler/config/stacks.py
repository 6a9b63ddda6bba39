"""Stacks: the voices.yaml files of one repository, each with its own account settings and state, fanned out by
the CI system's job matrix (`voicectl stacks --format github-matrix`); voicectl schedules nothing itself.

A repository lists its stacks in `voicectl-stacks.yaml` at its root, or keeps them at `stacks/*/voices.yaml`,
or is a single stack (a voices.yaml at the root, today's layout). The stacks file also marks the root that
source audio must stay inside, so stacks can share a common folder of audio.

    version: 1
    stacks:
      - path: stacks/prod-cn            # a directory holding voices.yaml, or a glob of them (stacks/*)
        name: prod-cn                   # optional: the directory's name
        environment: production         # optional: the GitHub environment the stack's jobs run in
        secrets:                        # optional: the secret that feeds each variable (default: its own name)
          DASHSCOPE_API_KEY: DASHSCOPE_API_KEY_CN

Two stacks that would manage the same voices (the same account, i.e. provider aliyun, region, workspace,
environment and API key secret, with the same or overlapping prefixes) are an error.
"""

from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass
from typing import Any

import yaml

from reconciler.config.yamlpos import LoadedYaml, YamlError, load_yaml
from reconciler.errors import ConfigError, Problem, VoicectlError
from reconciler.model import VOICES_FILE, Account, AccountSpec, Stack, Stacks

STACKS_FILE = "voicectl-stacks.yaml"
DEFAULT_GLOB = "stacks/*/voices.yaml"
SECRET_VARIABLES = (
    "DASHSCOPE_API_KEY",
    "ALIBABA_CLOUD_ACCESS_KEY_ID",
    "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
)
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_SECRET = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_STACK_KEYS = {"path", "name", "environment", "secrets"}


def find_stacks_root(start: str) -> str | None:
    """The nearest directory at or above `start` holding voicectl-stacks.yaml, or None."""
    here = os.path.abspath(start)
    while True:
        if os.path.isfile(os.path.join(here, STACKS_FILE)):
            return here
        parent = os.path.dirname(here)
        if parent == here:
            return None
        here = parent


def discover(root: str) -> Stacks:
    """The repository's stacks: from voicectl-stacks.yaml at `root`, else stacks/*/voices.yaml, else a
    voices.yaml at `root`. Raises ConfigError naming the file, the line and the fix."""
    root = os.path.abspath(root)
    stacks_file = os.path.join(root, STACKS_FILE)
    if os.path.isfile(stacks_file):
        entries = _read_stacks_file(stacks_file, root)
        stacks = Stacks(root, STACKS_FILE, _build(root, entries, STACKS_FILE), STACKS_FILE)
    else:
        found = sorted(glob.glob(os.path.join(root, DEFAULT_GLOB)))
        if found:
            entries = [(_Entry(os.path.relpath(os.path.dirname(f), root)), None) for f in found]
            stacks = Stacks(root, DEFAULT_GLOB, _build(root, entries, DEFAULT_GLOB))
        elif os.path.isfile(os.path.join(root, VOICES_FILE)):
            stacks = Stacks(root, VOICES_FILE, _build(root, [(_Entry("."), None)], VOICES_FILE))
        else:
            raise VoicectlError(
                f"no stacks in {root}: write {STACKS_FILE}, put stacks at {DEFAULT_GLOB}, or a voices.yaml here "
                "(voicectl init)"
            )
    _check_accounts(stacks)
    return stacks


# -- the stacks file --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    directory: str
    name: str | None = None
    environment: str | None = None
    secrets: tuple[tuple[str, str], ...] = ()


def _problem(loaded: LoadedYaml, path: tuple[Any, ...], message: str) -> Problem:
    line, column = loaded.pos(path)
    return Problem(STACKS_FILE, line, column, message)


def _read_stacks_file(path: str, root: str) -> list[tuple[_Entry, int | None]]:
    with open(path, "rb") as f:
        try:
            loaded = load_yaml(f.read())
        except YamlError as e:
            raise ConfigError([Problem(STACKS_FILE, e.line, e.column, e.message)]) from None
    problems = [Problem(STACKS_FILE, e.line, e.column, e.message) for e in loaded.problems]
    data = loaded.data
    if not isinstance(data, dict) or data.get("version") != 1 or not isinstance(data.get("stacks"), list):
        problems.append(_problem(loaded, (), f"{STACKS_FILE} must be a mapping with `version: 1` and a `stacks:` list"))
        raise ConfigError(problems)
    for key in sorted(set(data) - {"version", "stacks"}):
        problems.append(_problem(loaded, (key,), f"unknown key {key!r}: {STACKS_FILE} takes version and stacks"))
    entries: list[tuple[_Entry, int | None]] = []
    for i, item in enumerate(data["stacks"]):
        found, wrong = _parse_entry(loaded, i, {"path": item} if isinstance(item, str) else item, root)
        entries += [(entry, loaded.pos(("stacks", i))[0]) for entry in found]
        problems += wrong
    if problems:
        raise ConfigError(problems)
    return entries


def _parse_entry(loaded: LoadedYaml, i: int, item: Any, root: str) -> tuple[list[_Entry], list[Problem]]:
    """The stacks one entry of the stacks file names (a glob names several), and what is wrong with it."""
    where = ("stacks", i)
    if not isinstance(item, dict) or not isinstance(item.get("path"), str) or not item["path"].strip():
        return [], [_problem(loaded, where, "a stack needs `path:` (a directory holding voices.yaml)")]
    problems = [
        _problem(loaded, (*where, key), f"unknown key {key!r}: a stack takes {', '.join(sorted(_STACK_KEYS))}")
        for key in sorted(set(item) - _STACK_KEYS)
    ]
    secrets = item.get("secrets") or {}
    if not isinstance(secrets, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and _SECRET.match(v) for k, v in secrets.items()
    ):
        message = "secrets maps a variable to a secret's name (letters, digits, _): DASHSCOPE_API_KEY: MY_KEY_CN"
        problems.append(_problem(loaded, (*where, "secrets"), message))
        secrets = {}
    for variable in sorted(set(secrets) - set(SECRET_VARIABLES)):
        message = f"secrets: {variable} is not a variable voicectl reads: use {', '.join(SECRET_VARIABLES)}"
        problems.append(_problem(loaded, (*where, "secrets", variable), message))
    environment = item.get("environment")
    if environment is not None and not isinstance(environment, str):
        problems.append(_problem(loaded, (*where, "environment"), "environment is a GitHub environment's name"))
    pattern = item["path"].strip().rstrip("/")
    if os.path.isabs(pattern) or ".." in pattern.split("/"):
        message = f"path {pattern!r} must stay inside the repository: write it relative to {STACKS_FILE}"
        return [], [*problems, _problem(loaded, (*where, "path"), message)]
    directories = _expand(root, pattern)
    if not directories:
        message = f"path {pattern!r} holds no voices.yaml: create one there (voicectl init) or remove the stack"
        return [], [*problems, _problem(loaded, (*where, "path"), message)]
    name = item.get("name")
    if name is not None and (len(directories) > 1 or not isinstance(name, str)):
        problems.append(_problem(loaded, (*where, "name"), "name is for a single stack: remove it from a glob path"))
        name = None
    env = environment if isinstance(environment, str) else None
    return [_Entry(d, name, env, tuple(sorted(secrets.items()))) for d in directories], problems


def _expand(root: str, pattern: str) -> list[str]:
    if glob.has_magic(pattern):
        found = sorted(glob.glob(os.path.join(root, pattern, VOICES_FILE)))
        return [os.path.relpath(os.path.dirname(f), root).replace(os.sep, "/") for f in found]
    return [pattern] if os.path.isfile(os.path.join(root, pattern, VOICES_FILE)) else []


# -- each stack's voices.yaml (read fast: only the account and the audio paths) -------------------------


def _build(root: str, entries: list[tuple[_Entry, int | None]], shown: str) -> tuple[Stack, ...]:
    stacks: list[Stack] = []
    seen: dict[str, int | None] = {}
    problems: list[Problem] = []
    for entry, line in entries:
        directory = os.path.normpath(entry.directory).replace(os.sep, "/")
        name = entry.name or (os.path.basename(os.path.join(root, directory)) if directory != "." else "default")
        name = name.lower()
        if not _NAME.match(name):
            problems.append(Problem(shown, line, None, f"stack name {name!r}: use lower-case letters, digits and '-'"))
            continue
        if name in seen:
            problems.append(Problem(shown, line, None, f"two stacks are named {name!r}: give one a `name:` of its own"))
            continue
        seen[name] = line
        file = os.path.join(root, directory, VOICES_FILE)
        try:
            with open(file, "rb") as f:
                data = yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        except OSError as e:
            problems.append(Problem(os.path.relpath(file, root), None, None, f"cannot read it: {e}"))
            continue
        except yaml.YAMLError:
            # Listed all the same: its own job's validate and plan say what is wrong, on the line, in the PR.
            data = {}
        data = data if isinstance(data, dict) else {}
        account: dict[str, Any] = data["account"] if isinstance(data.get("account"), dict) else {}
        secrets = dict(entry.secrets)
        stacks.append(
            Stack(
                name=name,
                directory=directory,
                environment=entry.environment,
                secrets={v: secrets.get(v, v) for v in SECRET_VARIABLES},
                account=Account(
                    provider=str(account.get("provider", AccountSpec.provider)),
                    region=str(account.get("region", AccountSpec.region)),
                    workspace=account.get("workspace"),
                    environment=entry.environment,
                    api_key_secret=secrets.get("DASHSCOPE_API_KEY", "DASHSCOPE_API_KEY"),
                    prefix=str(account.get("prefix", AccountSpec.prefix)),
                ),
                audio=tuple(sorted(_local_audio(root, directory, data))),
                line=line,
            )
        )
    if problems:
        raise ConfigError(problems)
    return tuple(stacks)


def _local_audio(root: str, directory: str, data: dict[str, Any]) -> set[str]:
    voices: list[Any] = data["voices"] if isinstance(data.get("voices"), list) else []
    paths = set()
    for voice in voices:
        ref = voice.get("audio") if isinstance(voice, dict) else None
        if isinstance(ref, str) and "://" not in ref and not os.path.isabs(ref):
            full = os.path.normpath(os.path.join(root, directory, ref))
            paths.add(os.path.relpath(full, root).replace(os.sep, "/"))
    return paths


def _check_accounts(stacks: Stacks) -> None:
    problems = []
    listed = stacks.stacks
    for i, a in enumerate(listed):
        for b in listed[i + 1 :]:
            if a.account.shares_voices_with(b.account):
                problems.append(
                    Problem(
                        stacks.stacks_file or b.file,
                        b.line,
                        None,
                        f"stacks {a.name!r} and {b.name!r} manage the same voices: one account ({a.account.region}, "
                        f"key {a.account.api_key_secret}) with prefixes {a.account.prefix!r} and {b.account.prefix!r}. "
                        "Give each stack a prefix of its own that does not start the other's, or another account",
                    )
                )
    if problems:
        raise ConfigError(problems)
