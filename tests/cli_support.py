"""A throwaway voicectl project on the local provider, driven through the real CLI.

`Project` writes voices.yaml and audio into a temporary directory, runs commands in-process through
`typer.testing.CliRunner` (fast, stdin is not a terminal) or as real processes, and lets a test play the
account (seed, remove, fail voices) and the state (hold the lock) the way the world outside voicectl does.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from click.testing import Result
from typer.testing import CliRunner

from reconciler.audio.sample import write_sample_wav, write_silence_wav
from reconciler.cli import app
from reconciler.model import LiveVoice
from reconciler.providers.local import LocalAccount
from reconciler.state.local import LocalStateStore

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_AUDIO = REPO / "examples" / "audio"
REVIEW_DELAY = "0.05"
AGENT = "agent1"

COSY = "cosyvoice-v2"
COSY_FLASH = "cosyvoice-v3-flash"
QWEN = "qwen3-tts-vc-2026-01-22"

# The three example voices (examples/audio, copied into every project) and a binding to the first.
SUPPORT: dict[str, Any] = {"name": "support-en", "audio": "audio/support-en.mp3", "model": COSY, "language": "en"}
SALES: dict[str, Any] = {"name": "sales-zh", "audio": "audio/sales-zh.m4a", "model": COSY_FLASH, "language": "zh"}
NARRATOR: dict[str, Any] = {"name": "narrator", "audio": "audio/narrator-qwen.mp3", "model": QWEN, "language": "en"}
EXAMPLE_VOICES = (SUPPORT, SALES, NARRATOR)
SUPPORT_BINDING: dict[str, Any] = {"agent": AGENT, "workflow": "support-flow", "voice": "support-en", "model": COSY}

# Secret-looking values put into the environment; none may ever show up in output or files.
SECRETS = {
    "DASHSCOPE_API_KEY": "sk-secret-canary-dashscope",
    "ALIBABA_CLOUD_ACCESS_KEY_ID": "LTAIcanaryaccesskeyid",
    "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "secret-canary-access-key",
    "ALIBABA_CLOUD_SECURITY_TOKEN": "secret-canary-sts-token",
}
SECRET_VALUES = tuple(v for k, v in SECRETS.items() if k != "ALIBABA_CLOUD_ACCESS_KEY_ID")

# Variables of the developer's shell that would change what the CLI does, cleared for every run.
_CLEARED = (
    "VOICECTL_FILE",
    "VOICECTL_LOCAL_LATENCY",
    "DASHSCOPE_API_KEY",
    "ALIBABA_CLOUD_ACCESS_KEY_ID",
    "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
    "ALIBABA_CLOUD_SECURITY_TOKEN",
)

_WITHOUT_FILE = ("show", "schema")


def voice(base: Mapping[str, Any], **changes: Any) -> dict[str, Any]:
    """A copy of a voice entry with some keys changed (None removes a key)."""
    out = {**base, **changes}
    return {k: v for k, v in out.items() if v is not None}


def summary_line(output: str) -> str:
    """The last non-empty line of a text plan: the summary."""
    return [line for line in output.splitlines() if line.strip()][-1]


@dataclass
class Project:
    dir: Path
    env: dict[str, str | None] = field(default_factory=dict)

    # -- files --------------------------------------------------------------------------------------
    @property
    def file(self) -> Path:
        return self.dir / "voices.yaml"

    @property
    def state_path(self) -> Path:
        return self.dir / ".voicectl" / "state.json"

    def configure(
        self,
        voices: Sequence[Mapping[str, Any]] = EXAMPLE_VOICES,
        bindings: Sequence[Mapping[str, Any]] = (SUPPORT_BINDING,),
        *,
        quota: int = 30,
        prefix: str = "t",
        guards: Mapping[str, Any] | None = None,
    ) -> None:
        account: dict[str, Any] = {"provider": "local", "quota": quota, "prefix": prefix}
        if guards:
            account["guards"] = dict(guards)
        doc: dict[str, Any] = {"version": 1, "account": account, "voices": [dict(v) for v in voices]}
        if bindings:
            doc["bindings"] = [dict(b) for b in bindings]
        self.file.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")

    def write_speech(self, rel: str, *, seconds: float = 12.0, seed: int = 1, sample_rate: int = 16000) -> str:
        path = self.dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        write_sample_wav(str(path), seconds=seconds, sample_rate=sample_rate, seed=seed)
        return rel

    def write_silence(self, rel: str, *, seconds: float = 12.0) -> str:
        path = self.dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        write_silence_wav(str(path), seconds)
        return rel

    def state(self) -> dict[str, Any]:
        return json.loads(self.state_path.read_text(encoding="utf-8"))

    def voice_id(self, name: str) -> str:
        return str(self.state()["voices"][name]["voice_id"])

    def snapshot(self) -> dict[str, str]:
        """Content hash of every file in the project (state, lock, account database, audio, plans)."""
        out = {}
        for path in sorted(self.dir.rglob("*")):
            if path.is_file():
                out[str(path.relative_to(self.dir))] = hashlib.sha256(path.read_bytes()).hexdigest()
        return out

    def all_file_text(self) -> str:
        """Every file under the project as text, for secret searches (binary files decoded loosely)."""
        return "\n".join(p.read_bytes().decode("utf-8", "replace") for p in sorted(self.dir.rglob("*")) if p.is_file())

    # -- the account and the lock, as the world outside voicectl changes them ------------------------
    @contextmanager
    def account(self) -> Iterator[LocalAccount]:
        with LocalAccount(str(self.dir)) as account:
            yield account

    def live_voices(self) -> dict[str, LiveVoice]:
        with self.account() as account:
            return {v.voice_id: v for v in account.voices()}

    def seed_voice(self, voice_id: str, model: str = COSY, status: str = "OK") -> str:
        with self.account() as account:
            account.add_voice(voice_id, model, status)
        return voice_id

    def lock_store(self) -> LocalStateStore:
        return LocalStateStore(str(self.state_path))

    # -- running the CLI ----------------------------------------------------------------------------
    def run_env(self, extra: Mapping[str, str | None] | None = None) -> dict[str, str | None]:
        env: dict[str, str | None] = dict.fromkeys(_CLEARED)
        env |= {"VOICECTL_LOCAL_REVIEW_DELAY": REVIEW_DELAY, "COLUMNS": "200"}
        return {**env, **self.env, **(extra or {})}

    def cli(self, *args: str, input: str | None = None, env: Mapping[str, str | None] | None = None) -> Result:
        """`voicectl ARGS -f voices.yaml` in-process (no -f for the commands that take none). Exceptions that
        escape the CLI fail the test."""
        argv = list(args) if args[0] in _WITHOUT_FILE else [*args, "-f", str(self.file)]
        return CliRunner().invoke(app, argv, input=input, env=self.run_env(env), catch_exceptions=False)

    def process(
        self, *args: str, module: bool = True, env: Mapping[str, str | None] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """A real `python -m reconciler ARGS` (or the `voicectl` script) in the project directory, stdin closed."""
        if module:
            argv = [sys.executable, "-m", "reconciler", *args]
        else:
            script = shutil.which("voicectl", path=os.path.dirname(sys.executable))
            assert script, "the voicectl console script is not installed next to this Python"
            argv = [script, *args]
        full = {**os.environ, **{k: v for k, v in self.run_env(env).items() if v is not None}}
        for key, value in self.run_env(env).items():
            if value is None:
                full.pop(key, None)
        return subprocess.run(
            argv, cwd=self.dir, env=full, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120
        )


def new_project(
    root: Path,
    voices: Sequence[Mapping[str, Any]] = EXAMPLE_VOICES,
    bindings: Sequence[Mapping[str, Any]] = (SUPPORT_BINDING,),
    **account: Any,
) -> Project:
    """A project directory with the example audio and a voices.yaml naming `voices` and `bindings`."""
    project = Project(root / "project")
    (project.dir / "audio").mkdir(parents=True)
    for src in EXAMPLE_AUDIO.iterdir():
        shutil.copy(src, project.dir / "audio" / src.name)
    project.configure(voices, bindings, **account)
    return project


def applied_project(root: Path, *args: Any, **kwargs: Any) -> Project:
    """`new_project` after a successful `apply --auto-approve`."""
    project = new_project(root, *args, **kwargs)
    result = project.cli("apply", "--auto-approve")
    assert result.exit_code == 0, result.output
    return project


def plan_json(project: Project, *args: str) -> dict[str, Any]:
    result = project.cli("plan", "--format", "json", *args)
    assert result.exit_code in (0, 2, 3), result.output
    return json.loads(result.stdout)
