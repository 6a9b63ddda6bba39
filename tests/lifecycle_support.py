"""A voicectl project on disk, driven through the real CLI, on either provider (no tests here).

`Project` writes voices.yaml and generated source audio into a temporary directory and runs
`reconciler.cli:app` in-process with the provider's environment, exactly as a user types the commands. Its
account helpers do what the cloud or a person in the console does behind voicectl's back (seed unmanaged
voices, delete a voice, move a running instance to another voice, fail a review), on the local provider
through `LocalAccount` and on aliyun through the loopback emulator's control API.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from reconciler.audio.sample import write_sample_wav, write_silence_wav
from reconciler.cli import app
from reconciler.config.loader import load_desired
from reconciler.model import StateDoc
from reconciler.providers import open_provider
from reconciler.providers.local import LocalAccount
from tests.emulator import Emulator

PROVIDERS = ("local", "aliyun")
PREFIX = "acme"
BUCKET = "voices"
COSY = "cosyvoice-v2"
COSY3 = "cosyvoice-v3-flash"
QWEN = "qwen3-tts-vc-2026-01-22"
QWEN_RT = "qwen3-tts-vc-realtime-2026-01-15"
# Reviews finish within one poll of the review wait, so a test pays a fraction of a second for them.
REVIEW_DELAY = 0.1
AGENT = "agent1"


@dataclass
class Result:
    """What a user sees from one command: exit code, stdout, stderr."""

    args: tuple[str, ...]
    code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> Any:
        return json.loads(self.stdout)

    def __str__(self) -> str:
        return f"voicectl {' '.join(self.args)} -> {self.code}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"


def actions(plan: dict[str, Any]) -> dict[str, list[str]]:
    """address -> Terraform action list, for the changes that do something."""
    return {c["address"]: c["actions"] for c in plan["changes"] if c["actions"] != ["no-op"]}


def reasons(plan: dict[str, Any]) -> dict[str, str]:
    return {c["address"]: c["reason"] for c in plan["changes"]}


def drift(plan: dict[str, Any]) -> set[tuple[str, str]]:
    return {(d["address"], d["reason"]) for d in plan["drift"]}


@dataclass
class Project:
    """voices.yaml, its audio and its account, on `provider` ("local" or "aliyun")."""

    provider: str
    dir: Path
    emu: Emulator | None = None
    state_backend: str = "oss"  # aliyun only; the local provider always keeps its state in a file
    quota: int = 30
    guards: dict[str, Any] = field(default_factory=dict)
    voices: dict[str, dict[str, Any]] = field(default_factory=dict)
    bindings: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.audio_dir = self.dir / "audio"
        self.audio_dir.mkdir(parents=True, exist_ok=True)
        self.config = self.dir / "voices.yaml"
        self._seed = 0
        if self.provider == "local":
            self.env = {"VOICECTL_LOCAL_REVIEW_DELAY": str(REVIEW_DELAY)}
        else:
            assert self.emu is not None, "provider aliyun needs an emulator"
            self.env = self.emu.env()
        self._runner = CliRunner()

    # -- voices.yaml and audio ------------------------------------------------------------------------
    def audio(self, name: str, *, model: str, silent: bool = False) -> str:
        """A fresh source audio for `name` (new content each call); returns its path relative to voices.yaml."""
        self._seed += 1
        rate = 24000 if model.startswith("qwen") else 16000  # Qwen needs >= 24 kHz mono
        rel = f"audio/{name}-{self._seed}.wav"
        if silent:
            write_silence_wav(str(self.dir / rel), 12.0, sample_rate=rate)
        else:
            write_sample_wav(str(self.dir / rel), seconds=12.0, sample_rate=rate, seed=self._seed)
        return rel

    def voice(self, name: str, model: str = COSY, *, silent: bool = False, **extra: Any) -> None:
        """Declare (or redeclare) a voice with new audio."""
        self.voices[name] = {"name": name, "audio": self.audio(name, model=model, silent=silent), "model": model}
        self.voices[name].update(extra)

    def new_audio(self, name: str, *, silent: bool = False) -> None:
        self.voices[name]["audio"] = self.audio(name, model=self.voices[name]["model"], silent=silent)

    def bind(self, voice: str, agent: str = AGENT, instances: tuple[str, ...] = ()) -> None:
        self.bindings = [b for b in self.bindings if b["agent"] != agent]
        binding: dict[str, Any] = {"agent": agent, "voice": voice, "model": self.voices[voice]["model"]}
        if instances:
            binding["instances"] = list(instances)
        self.bindings.append(binding)

    def write(self) -> None:
        account: dict[str, Any] = {"provider": self.provider, "quota": self.quota, "prefix": PREFIX}
        if self.provider == "aliyun":
            assert self.emu is not None
            account["region"] = "cn-beijing"
            account["oss"] = {"bucket": BUCKET, "endpoint": self.emu.oss_endpoint}
            account["state"] = {"backend": self.state_backend}
        if self.guards:
            account["guards"] = dict(self.guards)
        doc: dict[str, Any] = {"version": 1, "account": account, "voices": list(self.voices.values())}
        # Bindings follow the voice's model, which a test may have changed since it declared the binding.
        doc["bindings"] = [{**b, "model": self.voices[b["voice"]]["model"]} for b in self.bindings]
        self.config.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")

    # -- the CLI --------------------------------------------------------------------------------------
    def run(self, *args: str, expect: int | None = None) -> Result:
        """`voicectl ARGS` in the project's directory (so ./voices.yaml, as a user runs it), in-process, with
        the provider's environment."""
        self.write()
        with contextlib.chdir(self.dir):
            out = self._runner.invoke(app, list(args), env=self.env, catch_exceptions=False)
        result = Result(tuple(args), out.exit_code, out.stdout, out.stderr)
        if expect is not None:
            assert result.code == expect, str(result)
        return result

    def plan(self, *args: str, expect: int | None = 2) -> dict[str, Any]:
        """`plan --format json --detailed-exitcode`; the plan document."""
        return self.run("plan", "--format", "json", "--detailed-exitcode", *args, expect=expect).json

    def apply(self, *args: str, expect: int | None = 0) -> Result:
        return self.run("apply", "--auto-approve", *args, expect=expect)

    def converged(self) -> None:
        """Nothing left to do: `plan --detailed-exitcode` exits 0."""
        result = self.run("plan", "--detailed-exitcode", "--no-color")
        assert result.code == 0, str(result)
        assert "No changes." in result.stdout

    def agent_voice(self, agent: str = AGENT) -> str:
        """The voice id `voicectl agent-config AGENT` publishes for new sessions."""
        return self.run("agent-config", agent, expect=0).json["TtsConfig"]["VoiceId"]

    def state(self) -> StateDoc:
        """The state document as the configured backend holds it, read through voicectl's own store."""
        self.write()
        desired, _ = load_desired(str(self.config), read_audio=False)
        provider = open_provider(desired, self.env)
        try:
            return provider.state.read()
        finally:
            provider.close()

    def voice_id(self, name: str) -> str:
        return self.state().voices[name].voice_id

    # -- the account, behind voicectl's back ------------------------------------------------------------
    def _local(self) -> LocalAccount:
        return LocalAccount(str(self.dir), {})

    def live(self) -> list[dict[str, Any]]:
        """Every voice in the account: voice_id, model, status, resource_link."""
        if self.emu is not None:
            return [
                {k: v[k] for k in ("voice_id", "target_model", "status", "resource_link")} for v in self.emu.voices()
            ]
        with self._local() as account:
            return [
                {"voice_id": v.voice_id, "target_model": v.model, "status": v.status, "resource_link": v.resource_link}
                for v in account.voices()
            ]

    def managed_ids(self) -> list[str]:
        """Ids of the voices that carry our prefix (CosyVoice `-acme-`, Qwen `qwen-tts-vc-acme_`)."""
        return sorted(
            v["voice_id"] for v in self.live() if f"-{PREFIX}-" in v["voice_id"] or f"-{PREFIX}_" in v["voice_id"]
        )

    def add_unmanaged(self, count: int, model: str = COSY) -> list[str]:
        ids = [f"{model}-other-{i:04d}" for i in range(count)]
        for voice_id in ids:
            if self.emu is not None:
                self.emu.add_voice(voice_id, model)
            else:
                with self._local() as account:
                    account.add_voice(voice_id, model)
        return ids

    def remove_voice(self, voice_id: str) -> None:
        """The service deleting a voice by itself (drift)."""
        if self.emu is not None:
            self.emu.remove_voice(voice_id)
        else:
            with self._local() as account:
                assert account.remove_voice(voice_id)

    def add_instance(self, instance_id: str, agent: str = AGENT, voice_id: str | None = None) -> None:
        """A running AI agent instance, started by an app with `voice_id` (or the console default)."""
        if self.emu is not None:
            config = {"TtsConfig": {"VoiceId": voice_id}} if voice_id else {}
            self.emu.add_instance(instance_id, agent, config)
        else:
            with self._local() as account:
                account.add_instance(instance_id, agent, voice_id)

    def instance_voice(self, instance_id: str) -> str | None:
        if self.emu is not None:
            return (self.emu.instance(instance_id)["AgentConfig"].get("TtsConfig") or {}).get("VoiceId")
        with self._local() as account:
            return account.instance_voice(instance_id)

    def set_instance_voice(self, instance_id: str, voice_id: str) -> None:
        """Someone re-points a running instance (drift)."""
        if self.emu is not None:
            # Seeding the same instance id again replaces its config, as a console edit would.
            agent = self.emu.instance(instance_id)["AIAgentId"]
            self.emu.add_instance(instance_id, agent, {"TtsConfig": {"VoiceId": voice_id}})
        else:
            with self._local() as account:
                account.set_instance_voice(instance_id, voice_id)


@pytest.fixture(params=PROVIDERS)
def project(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Project]:
    """A fresh project on each provider; aliyun gets its own emulator with the OSS state backend."""
    if request.param == "local":
        yield Project("local", tmp_path)
        return
    with Emulator(buckets=(BUCKET,), review_delay=REVIEW_DELAY) as emu:
        yield Project("aliyun", tmp_path, emu)


@pytest.fixture
def local(tmp_path: Path) -> Project:
    """A project on the local provider only, for what only it has (a state file to rewrite, its simulation)."""
    return Project("local", tmp_path)


@pytest.fixture
def aliyun(tmp_path: Path) -> Iterator[Project]:
    """A project on provider aliyun only, for the cloud's own faults (throttling, lost responses)."""
    with Emulator(buckets=(BUCKET,), review_delay=REVIEW_DELAY, rate_limit=10) as emu:
        yield Project("aliyun", tmp_path, emu)
