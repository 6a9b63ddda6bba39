"""Shared machinery of the reliability suite (tests/test_reliability.py, tests/test_hostile_input.py) and of
the scenario runner `bench/reliability.py`: projects on disk, `voicectl` as a real subprocess, and an audit
of the account and the state that is independent of the code under test.

No test lives here. Nothing here mocks a cloud SDK: the aliyun provider talks to the loopback emulator
(tests/emulator) through the real SDKs, and the local provider is the embedded SQLite account.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from reconciler.naming import qwen_preferred_name

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable

# Distinctive credentials, so that a leak is found by a plain substring search of every output and file.
API_KEY = "sk-RELIABILITY-dashscope-7f3a9c"
AK_ID = "LTAIreliability0001"
AK_SECRET = "RELIABILITY-ak-secret-5d2e8b"
STS_TOKEN = "RELIABILITY-sts-token-91c4aa"
SECRETS = (API_KEY, AK_SECRET, STS_TOKEN)
BUCKET = "voices"
KEY_PREFIX = "voicectl/audio/"
STATE_KEY = "voicectl/state"

COSY = "cosyvoice-v2"
COSY3 = "cosyvoice-v3-flash"
QWEN = "qwen3-tts-vc-2026-01-22"

# Variables a developer's shell may hold that would point a subprocess at something other than the test's
# own account; the subprocess gets exactly what the scenario sets.
_SCRUBBED_ENV = ("DASHSCOPE_", "ALIBABA_CLOUD_", "VOICECTL_")
# The lock lease of every run (VOICECTL_LOCK_LEASE): short, so that a killed or stopped holder's lease runs out
# within a scenario, and long enough that renewals (every third of it) ride out injected OSS faults.
LEASE_SECONDS = 4.0


# ------------------------------------------------------------------------------------------- projects


@dataclass(frozen=True)
class Voice:
    name: str
    seed: int  # which speech-like audio: a new seed is new content (an update, or a replace on Qwen)
    model: str = COSY
    silent: bool = False  # lint: false, so it passes the offline checks; fails the (simulated) review: UNDEPLOYED
    protect: bool = False


@dataclass(frozen=True)
class Binding:
    agent: str
    voice: str
    model: str = COSY
    instances: tuple[str, ...] = ()


_audio_cache: dict[tuple[int, bool, int], bytes] = {}
_audio_lock = threading.Lock()


def _audio_bytes(seed: int, silent: bool, rate: int) -> bytes:
    """A mono 16-bit WAV of 11 s, built in memory once per process: the same seed gives the same content
    (and sha256) everywhere; `silent` passes the offline checks and fails the review."""
    key = (seed, silent, rate)
    with _audio_lock:
        if key not in _audio_cache:
            from array import array

            from reconciler.audio.sample import speech_pcm

            samples = int(11.0 * rate)
            pcm = array("h", bytes(2 * samples)) if silent else speech_pcm(seconds=11.0, sample_rate=rate, seed=seed)
            if sys.byteorder == "big":
                pcm.byteswap()  # WAV is little-endian
            _audio_cache[key] = _wav_header(len(pcm) * 2, rate) + pcm.tobytes()
        return _audio_cache[key]


@dataclass
class Run:
    """One finished `voicectl` invocation."""

    args: tuple[str, ...]
    rc: int
    out: str
    err: str
    seconds: float

    @property
    def text(self) -> str:
        return self.out + self.err

    def describe(self) -> str:
        tail = self.text.strip().splitlines()[-12:]
        return f"voicectl {' '.join(self.args)} -> exit {self.rc}\n  " + "\n  ".join(tail)


@dataclass
class Project:
    """A directory holding voices.yaml and its audio, and how to run voicectl in it."""

    dir: Path
    prefix: str = "rel"
    provider: str = "local"  # local | aliyun
    state_backend: str = "local"  # local | oss
    quota: int = 30
    max_deletes: int = 10
    max_delete_fraction: float = 1.0
    env: dict[str, str] = field(default_factory=dict)  # extra variables for every subprocess

    def __post_init__(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)

    # -- files --------------------------------------------------------------------------------------
    @property
    def config(self) -> Path:
        return self.dir / "voices.yaml"

    @property
    def state_path(self) -> Path:
        return self.dir / ".voicectl" / "state.json"

    @property
    def lock_path(self) -> Path:
        return self.dir / ".voicectl" / "state.json.lock"

    def audio_ref(self, voice: Voice) -> str:
        rate = 24000 if voice.model.startswith("qwen") else 16000
        return f"audio/{voice.name}-{voice.seed}{'-silent' if voice.silent else ''}-{rate}.wav"

    def write(self, voices: Sequence[Voice], bindings: Sequence[Binding] = ()) -> None:
        (self.dir / "audio").mkdir(exist_ok=True)
        for v in voices:
            rate = 24000 if v.model.startswith("qwen") else 16000
            path = self.dir / self.audio_ref(v)
            if not path.exists():
                path.write_bytes(_audio_bytes(v.seed, v.silent, rate))
        self.config.write_text(self.yaml(voices, bindings), encoding="utf-8")

    def yaml(self, voices: Sequence[Voice], bindings: Sequence[Binding] = ()) -> str:
        lines = ["version: 1", "account:", f"  provider: {self.provider}", f"  quota: {self.quota}"]
        lines += [f"  prefix: {self.prefix}"]
        if self.provider == "aliyun":
            # The endpoint is overridden by VOICECTL_OSS_ENDPOINT (the emulator's).
            lines += ["  oss:", f"    bucket: {BUCKET}", "    endpoint: https://oss-cn-beijing.aliyuncs.com"]
        lines += ["  state:", f"    backend: {self.state_backend}"]
        if self.state_backend == "oss":
            lines += [f"    key: {STATE_KEY}"]
        lines += [
            "  guards:",
            f"    max_deletes: {self.max_deletes}",
            f"    max_delete_fraction: {self.max_delete_fraction}",
            "voices:" if voices else "voices: []",
        ]
        for v in voices:
            lines += [f"  - name: {v.name}", f"    audio: {self.audio_ref(v)}", f"    model: {v.model}"]
            if v.protect:
                lines.append("    protect: true")
            if v.silent:
                lines.append("    lint: false")  # past validate and plan; the (simulated) review fails it
        if bindings:
            lines.append("bindings:")
            for b in bindings:
                lines += [f"  - agent: {b.agent}", f"    voice: {b.voice}", f"    model: {b.model}"]
                if b.instances:
                    lines.append(f"    instances: [{', '.join(b.instances)}]")
        return "\n".join(lines) + "\n"

    # -- running voicectl ---------------------------------------------------------------------------
    def subprocess_env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED_ENV)}
        env.update({"PYTHONPATH": str(REPO), "NO_COLOR": "1", "COLUMNS": "200", "PYTHONUNBUFFERED": "1"})
        env["VOICECTL_LOCK_LEASE"] = f"{LEASE_SECONDS:g}"
        env.update(self.env)
        env.update(extra or {})
        return env

    def cli(self, *args: str, env: dict[str, str] | None = None, timeout: float = 180.0) -> Run:
        start = time.monotonic()
        proc = subprocess.run(
            [PYTHON, "-m", "reconciler", *args],
            cwd=self.dir,
            env=self.subprocess_env(env),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
        )
        return Run(
            tuple(args),
            proc.returncode,
            proc.stdout.decode("utf-8", "replace"),
            proc.stderr.decode("utf-8", "replace"),
            time.monotonic() - start,
        )

    def spawn(self, *args: str, env: dict[str, str] | None = None) -> Spawned:
        return Spawned(self, args, env)

    def copy_to(self, target: Path) -> Project:
        shutil.copytree(self.dir, target, symlinks=True)
        return Project(
            target,
            self.prefix,
            self.provider,
            self.state_backend,
            self.quota,
            self.max_deletes,
            self.max_delete_fraction,
            dict(self.env),
        )

    def read_state(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.state_path.read_bytes())
        except FileNotFoundError:
            return None


class Spawned:
    """`voicectl` running in the background; its output lines are collected with their arrival time, so a
    scenario can wait for a phase to begin and kill the process inside it."""

    def __init__(self, project: Project, args: Sequence[str], env: dict[str, str] | None):
        self.args = tuple(args)
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [PYTHON, "-m", "reconciler", *args],
            cwd=project.dir,
            env=project.subprocess_env(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.lines: list[tuple[float, str]] = []
        self._cond = threading.Condition()
        self._readers = [
            threading.Thread(target=self._read, args=(stream,), daemon=True)
            for stream in (self.proc.stdout, self.proc.stderr)
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, stream: Any) -> None:
        for raw in iter(stream.readline, b""):
            with self._cond:
                self.lines.append((time.monotonic() - self.started, raw.decode("utf-8", "replace").rstrip("\n")))
                self._cond.notify_all()
        stream.close()

    def wait_for(self, pattern: str, timeout: float = 60.0) -> bool:
        """Block until a line matches `pattern` (True) or the process ended or time ran out (False)."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        seen = 0
        with self._cond:
            while True:
                for _, line in self.lines[seen:]:
                    if rx.search(line):
                        return True
                seen = len(self.lines)
                if self.proc.poll() is not None and not any(r.is_alive() for r in self._readers):
                    return False
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, 0.05))

    def stop(self) -> None:
        """SIGSTOP: the process freezes mid-run (a suspended VM, a debugger), its lease renewals with it."""
        self.proc.send_signal(signal.SIGSTOP)

    def cont(self) -> None:
        self.proc.send_signal(signal.SIGCONT)

    def kill(self) -> bool:
        """SIGKILL: no handler, no finally, no lock release. True when the process was still running."""
        alive = self.proc.poll() is None
        if alive:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGKILL)
        self.finish()
        return alive

    def finish(self, timeout: float = 180.0) -> int:
        rc = self.proc.wait(timeout=timeout)
        for reader in self._readers:
            reader.join(timeout=5)
        return rc

    @property
    def text(self) -> str:
        with self._cond:
            return "\n".join(line for _, line in self.lines)


LOCK_ID = re.compile(r"voicectl force-unlock (\S+)")


def lock_id_in(text: str) -> str | None:
    match = LOCK_ID.search(text)
    return match.group(1) if match else None


# ----------------------------------------------------------------------------------------- emulator


@contextlib.contextmanager
def emulator(**kwargs: Any) -> Iterator[Any]:
    """The loopback emulator with this suite's distinctive credentials (an STS token included)."""
    from tests.emulator import Emulator

    options: dict[str, Any] = {
        "api_key": API_KEY,
        "access_key_id": AK_ID,
        "access_key_secret": AK_SECRET,
        "security_token": STS_TOKEN,
        "buckets": (BUCKET,),
        "review_delay": 0.3,
    }
    options.update(kwargs)
    with Emulator(**options) as emu:
        yield emu


def aliyun_project(path: Path, emu: Any, **kwargs: Any) -> Project:
    project = Project(path, provider="aliyun", **kwargs)
    project.env.update(emu.env())
    return project


def put_object(emu: Any, key: str, body: bytes) -> None:
    """Overwrite an object as a person with the bucket's keys would (corrupting a state version on purpose)."""
    import oss2
    from oss2.credentials import StaticCredentialsProvider

    auth = oss2.ProviderAuthV4(StaticCredentialsProvider(AK_ID, AK_SECRET, STS_TOKEN))
    oss2.Bucket(auth, emu.oss_endpoint, BUCKET, region="cn-beijing").put_object(key, body)


def delete_object(emu: Any, key: str) -> None:
    import oss2
    from oss2.credentials import StaticCredentialsProvider

    auth = oss2.ProviderAuthV4(StaticCredentialsProvider(AK_ID, AK_SECRET, STS_TOKEN))
    oss2.Bucket(auth, emu.oss_endpoint, BUCKET, region="cn-beijing").delete_object(key)


def oss_state_keys(emu: Any) -> list[str]:
    return sorted(k for k in emu.objects(BUCKET) if k.startswith(f"{STATE_KEY}/serial-"))


def oss_state(emu: Any) -> dict[str, Any] | None:
    keys = oss_state_keys(emu)
    return json.loads(emu.objects(BUCKET)[keys[-1]]) if keys else None


def oss_lock_present(emu: Any) -> bool:
    return f"{STATE_KEY}/lock.json" in emu.objects(BUCKET)


# --------------------------------------------------------------------------------------------- audit

_AUDIO_KEY = re.compile(re.escape(KEY_PREFIX) + r"([a-z][a-z0-9-]{0,62})/[0-9a-f]{64}\.[a-z0-9]+$")


@dataclass(frozen=True)
class LiveEntry:
    voice_id: str
    prefix: str | None
    name: str | None  # the desired voice it was cloned for, read from its source audio key (or Qwen name)


@dataclass
class Audit:
    """What a reliability scenario must never produce; every field is zero in a healthy run."""

    lost: list[str] = field(default_factory=list)  # desired voices the state does not lead to a live voice
    duplicated: list[str] = field(default_factory=list)  # names with more than one live voice
    orphaned: list[str] = field(default_factory=list)  # prefixed live voices neither in state nor deposed
    quota_exceeded: int = 0  # quota refusals seen, plus account sizes observed above the quota
    locks_left: int = 0
    live: int = 0

    @property
    def clean(self) -> bool:
        return not (self.lost or self.duplicated or self.orphaned or self.quota_exceeded or self.locks_left)

    def describe(self) -> str:
        return (
            f"lost={self.lost} duplicated={self.duplicated} orphaned={self.orphaned} "
            f"quota_exceeded={self.quota_exceeded} locks_left={self.locks_left} live={self.live}"
        )


def _name_from_link(link: str | None) -> str | None:
    if not link:
        return None
    path = unquote(urlsplit(link).path)
    match = _AUDIO_KEY.search(path)
    return match.group(1) if match else None


def audit(
    *,
    prefix: str,
    desired: Sequence[str],
    state: dict[str, Any] | None,
    live: Sequence[LiveEntry],
    lock_present: bool,
    quota: int,
    quota_refusals: int = 0,
    peak: int = 0,
) -> Audit:
    state = state or {}
    records = {n: r["voice_id"] for n, r in (state.get("voices") or {}).items()}
    known = set(records.values()) | set(state.get("deposed") or {})
    live_ids = {e.voice_id for e in live}
    result = Audit(live=len(live))
    result.lost = sorted(n for n in desired if records.get(n) not in live_ids)
    per_name: dict[str, int] = {}
    for e in live:
        if e.prefix == prefix and e.name:
            per_name[e.name] = per_name.get(e.name, 0) + 1
    result.duplicated = sorted(n for n, count in per_name.items() if count > 1)
    result.orphaned = sorted(e.voice_id for e in live if e.prefix == prefix and e.voice_id not in known)
    result.quota_exceeded = quota_refusals + int(len(live) > quota) + int(peak > quota)
    result.locks_left = int(lock_present)
    return result


def local_live(project: Project) -> list[LiveEntry]:
    from reconciler.providers.local import LocalAccount

    with LocalAccount(str(project.dir), {}) as account:
        voices = account.voices()
    # The local account keeps every voice's source URL (Qwen's too), which names the voice it was made for.
    return [LiveEntry(v.voice_id, v.prefix, _name_from_link(v.resource_link)) for v in voices]


def emulator_live(emu: Any, prefix: str, names: Sequence[str]) -> list[LiveEntry]:
    by_qwen = {qwen_preferred_name(prefix, n): n for n in names}
    entries = []
    for v in emu.voices():
        if v["family"] == "qwen":
            preferred = v["preferred_name"] or ""
            entries.append(
                LiveEntry(
                    v["voice_id"],
                    preferred.split("_", 1)[0] if "_" in preferred else None,
                    by_qwen.get(preferred, preferred or None),
                )
            )
        else:
            entries.append(LiveEntry(v["voice_id"], v["prefix"], _name_from_link(v["resource_link"])))
    return entries


QUOTA_REFUSAL = re.compile(r"AllocationQuota|voice quota exceeded|quota exceeded", re.IGNORECASE)


def quota_refusals(*texts: str) -> int:
    return sum(len(QUOTA_REFUSAL.findall(t)) for t in texts)


def audit_local(project: Project, desired: Sequence[str], *, outputs: Sequence[str] = (), peak: int = 0) -> Audit:
    return audit(
        prefix=project.prefix,
        desired=desired,
        state=project.read_state(),
        live=local_live(project),
        lock_present=project.lock_path.exists(),
        quota=project.quota,
        quota_refusals=quota_refusals(*outputs),
        peak=peak,
    )


def audit_emulator(
    emu: Any, project: Project, desired: Sequence[str], *, outputs: Sequence[str] = (), peak: int = 0
) -> Audit:
    oss = project.state_backend == "oss"
    return audit(
        prefix=project.prefix,
        desired=desired,
        state=oss_state(emu) if oss else project.read_state(),
        live=emulator_live(emu, project.prefix, desired),
        lock_present=oss_lock_present(emu) if oss else project.lock_path.exists(),
        quota=project.quota,
        quota_refusals=quota_refusals(*outputs),
        peak=peak,
    )


class PeakSampler:
    """Polls the account's size in the background: the quota must hold at every moment, not only at the end."""

    def __init__(self, count: Callable[[], int], interval: float = 0.02):
        self.count, self.interval, self.peak = count, interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(Exception):  # a read racing a writer is retried at the next tick
                self.peak = max(self.peak, self.count())
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        with contextlib.suppress(Exception):
            self.peak = max(self.peak, self.count())


def local_count(project: Project) -> Callable[[], int]:
    import sqlite3

    db = project.dir / ".voicectl" / "local" / "account.db"

    def count() -> int:
        if not db.exists():
            return 0
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM voices").fetchone()[0])

    return count


def files_under(root: Path) -> Iterator[Path]:
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            path = Path(dirpath) / name
            if path.is_file() and not path.is_symlink():
                yield path


# ------------------------------------------------------------------------------------- hostile input

# The base project of the hostile-input matrix: provider aliyun (the emulator), state in a local file, two
# voices and a binding. Line numbers matter: cases check that errors point at the right line.
HOSTILE_BASE = """\
version: 1
account:
  provider: aliyun
  prefix: hst
  oss:
    bucket: voices
    endpoint: https://oss-cn-beijing.aliyuncs.com
voices:
  - name: alpha
    audio: audio/alpha.wav
    model: cosyvoice-v2
  - name: beta
    audio: audio/beta.wav
    model: cosyvoice-v2
bindings:
  - agent: agent-1
    voice: alpha
    model: cosyvoice-v2
"""
BETA_AUDIO_LINE = 13


@dataclass(frozen=True)
class HostileCase:
    """One broken input. `setup` prepares the project copy (writing voices.yaml and files) and returns the
    `-f` argument when voicectl should be pointed at another path than ./voices.yaml."""

    id: str
    what: str
    setup: Callable[[Project], str | None]
    expect: str  # regex the error output must match (case-insensitive): the message with its fix
    line: int | None  # the line the error must name (file:line:column), None when there is no line
    # Also run as a real process with a timeout: inputs that could block or exhaust the process (FIFOs,
    # devices, huge or deep files) must be seen failing from the outside, never only in-process.
    process: bool = False


def _yaml(text: str | bytes | Callable[[], str | bytes]) -> Callable[[Project], str | None]:
    """voices.yaml replaced by `text` (a callable builds large inputs only when the case runs)."""

    def setup(project: Project) -> None:
        value = text() if callable(text) else text
        data = value.encode("utf-8") if isinstance(value, str) else value
        project.config.write_bytes(data)

    return setup


def _base(old: str, new: str, count: int = 1) -> str:
    assert old in HOSTILE_BASE, old
    return HOSTILE_BASE.replace(old, new, count)


def _audio(make: Callable[[Path], str]) -> Callable[[Project], str | None]:
    """`make` creates something in the project (or outside it) and returns beta's new audio reference."""

    def setup(project: Project) -> None:
        ref = make(project.dir)
        project.config.write_text(_base("audio/beta.wav", ref), encoding="utf-8")

    return setup


def _fifo(name: str) -> Callable[[Path], str]:
    def make(root: Path) -> str:
        os.mkfifo(root / name)
        return name

    return make


def _symlink(name: str, target: str | Callable[[Path], Path]) -> Callable[[Path], str]:
    def make(root: Path) -> str:
        dest = target(root) if callable(target) else Path(target)
        os.symlink(dest, root / name)
        return name

    return make


def _outside_wav(root: Path) -> Path:
    outside = root.parent / f"{root.name}-outside.wav"
    outside.write_bytes(_audio_bytes(99, False, 16000))
    return outside


def _file(name: str, data: bytes | Callable[[], bytes]) -> Callable[[Path], str]:
    def make(root: Path) -> str:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data() if callable(data) else data)
        return name

    return make


def _sparse(name: str, size: int, head: bytes = b"") -> Callable[[Path], str]:
    def make(root: Path) -> str:
        with open(root / name, "wb") as f:
            f.write(head)
            f.truncate(size)
        return name

    return make


def _config_path(make: Callable[[Path], str]) -> Callable[[Project], str | None]:
    """voicectl is pointed with -f at something that is not a plain voices.yaml."""

    def setup(project: Project) -> str:
        return make(project.dir)

    return setup


def _wav_header(data_bytes: int, rate: int = 16000) -> bytes:
    import struct

    fmt = struct.pack("<HHIIHH", 1, 1, rate, rate * 2, 2, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", data_bytes)
    return b"RIFF" + struct.pack("<I", min(len(body) + data_bytes, 0xFFFFFFFF)) + body


def _garbage(size: int, seed: int) -> bytes:
    import random

    data = bytearray(random.Random(seed).randbytes(size))
    data[:2] = b"\x00\x00"  # no accidental MPEG frame sync at offset 0
    return bytes(data)


def _many_voices(n: int) -> str:
    # Flow style: the shortest entries, the most of them per byte.
    return "version: 1\nvoices:\n" + "".join(f"- {{name: v{i}, audio: a.wav, model: cosyvoice-v2}}\n" for i in range(n))


def _bomb() -> str:
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i, name in enumerate("bcdefghi"):
        prev = "abcdefghi"[i]
        lines.append(f"{name}: &{name} [{', '.join(['*' + prev] * 9)}]")
    return "\n".join(lines) + "\n"


HOSTILE_CASES: tuple[HostileCase, ...] = (
    # -- the file itself
    HostileCase("empty-file", "an empty voices.yaml", _yaml(""), r"must be a mapping.*voicectl init", 1),
    HostileCase("comments-only", "only comments", _yaml("# nothing here\n# at all\n"), r"must be a mapping", 1),
    HostileCase("top-level-list", "a list instead of a mapping", _yaml("- a\n- b\n"), r"must be a mapping", 1),
    HostileCase("top-level-scalar", "a bare string", _yaml("hello world\n"), r"must be a mapping", 1),
    HostileCase(
        "huge-file",
        "3 MB of comments",
        _yaml(lambda: HOSTILE_BASE + ("#" * 1023 + "\n") * 3072),
        r"at most \d+ bytes",
        None,
        process=True,
    ),
    HostileCase("alias-bomb", "billion laughs (9^9 expansion)", _yaml(_bomb()), r"anchors .*not supported", 1),
    HostileCase(
        "alias",
        "an alias to another value",
        _yaml(_base("model: cosyvoice-v2\n  - name: beta", "model: &m cosyvoice-v2\n  - name: beta")),
        r"anchors \(&m\) are not supported.*write the value out",
        11,
        process=True,
    ),
    HostileCase(
        "merge-key",
        "a YAML merge key",
        _yaml(
            _base(
                "    model: cosyvoice-v2\n  - name: beta",
                "    model: cosyvoice-v2\n    <<: {protect: true}\n  - name: beta",
            )
        ),
        r"no merge keys",
        12,
    ),
    HostileCase(
        "deep-flow",
        "100,000 nested flow lists",
        _yaml(lambda: "version: 1\nvoices: " + "[" * 100_000 + "]" * 100_000 + "\n"),
        r"nesting deeper than \d+ levels",
        2,
        process=True,
    ),
    HostileCase(
        "deep-block",
        "200 nested block mappings",
        _yaml("version: 1\naccount:\n" + "".join("  " * (i + 1) + f"k{i}:\n" for i in range(200))),
        r"nesting deeper than \d+ levels",
        None,
    ),
    HostileCase(
        "latin-1",
        "a Latin-1 byte in a name",
        _yaml(_base("name: alpha", "name: alph\xe9").encode("latin-1")),
        r"not valid UTF-8.*save the file as UTF-8",
        9,
    ),
    HostileCase("utf-16", "UTF-16 with its BOM", _yaml(HOSTILE_BASE.encode("utf-16")), r"not valid UTF-8", 1),
    HostileCase("utf-32", "UTF-32 with its BOM", _yaml(HOSTILE_BASE.encode("utf-32")), r"not valid UTF-8", 1),
    HostileCase(
        "utf-8-bom-duplicate",
        "UTF-8 BOM, then a duplicate key: lines still right",
        _yaml(b"\xef\xbb\xbf" + _base("  prefix: hst\n", "  prefix: hst\n  prefix: abc\n").encode()),
        r"duplicate key 'prefix'.*first at line 4",
        5,
    ),
    HostileCase(
        "nul-byte",
        "a NUL byte",
        _yaml(_base("model: cosyvoice-v2\n  - name: beta", "model: cosy\x00voice-v2\n  - name: beta")),
        r"U\+0000 is not allowed",
        11,
        process=True,
    ),
    HostileCase(
        "escape-sequence",
        "a raw terminal escape sequence",
        _yaml(_base("voices:\n", "voices: # \x1b[2J\x1b]0;owned\x07\n")),
        r"U\+001B is not allowed",
        8,
    ),
    HostileCase(
        "binary-garbage", "64 KB of random bytes", _yaml(lambda: _garbage(65536, 3)), r"UTF-8|not allowed", None
    ),
    HostileCase(
        "enormous-string",
        "a 1.5 MB voice name",
        _yaml(lambda: _base("name: alpha", "name: " + "x" * 1_500_000)),
        r"bad name .*characters cut.*lower-case letters",
        9,
        process=True,
    ),
    HostileCase(
        "enormous-key", "a 1.5 MB key", _yaml(lambda: HOSTILE_BASE + "k" * 1_500_000 + ": 1\n"), r"syntax error", 19
    ),
    HostileCase(
        "tab-indent",
        "a tab used for indentation",
        _yaml(_base("  - name: beta", "\t- name: beta")),
        r"syntax error",
        12,
    ),
    HostileCase(
        "unclosed-quote", "a quote never closed", _yaml(_base("name: alpha", 'name: "alpha')), r"syntax error", None
    ),
    HostileCase(
        "duplicate-key",
        "a key given twice",
        _yaml(
            _base(
                "    model: cosyvoice-v2\n  - name: beta",
                "    model: cosyvoice-v2\n    model: cosyvoice-v3-flash\n  - name: beta",
            )
        ),
        r"duplicate key 'model'.*remove or merge",
        12,
    ),
    HostileCase(
        "unknown-key",
        "a misspelt key",
        _yaml(_base("    model: cosyvoice-v2\n  - name: beta", "    modle: cosyvoice-v2\n  - name: beta")),
        r"unknown key 'modle'.*did you mean 'model'",
        11,
    ),
    HostileCase(
        "python-tag",
        "a tag that would run a command in an unsafe loader",
        _yaml('version: 1\nvoices: !!python/object/apply:os.system ["touch pwned"]\n'),
        r"unsupported YAML tag.*remove it",
        2,
    ),
    HostileCase(
        "custom-tag",
        "an !include tag",
        _yaml(_base("audio: audio/beta.wav", "audio: !include audio/beta.wav")),
        r"unsupported YAML tag.*remove it",
        13,
    ),
    HostileCase(
        "complex-key",
        "a list used as a key",
        _yaml(HOSTILE_BASE + "? [a, b]\n: c\n"),
        r"keys must be plain strings",
        19,
    ),
    HostileCase(
        "version-2",
        "a future version",
        _yaml(_base("version: 1", "version: 2")),
        r"unsupported version 2.*version: 1",
        1,
    ),
    HostileCase(
        "voices-mapping",
        "voices as a mapping",
        _yaml("version: 1\nvoices:\n  alpha: audio/alpha.wav\n"),
        r"voices must be a list",
        3,
    ),
    HostileCase(
        "voices-5000",
        "5,000 voices (the service keeps 1,000)",
        _yaml(lambda: _many_voices(5000)),
        r"5000 voices: an account holds at most 1000",
        3,
    ),
    HostileCase(
        "voices-1001",
        "one voice over the limit",
        _yaml(lambda: _many_voices(1001)),
        r"1001 voices: an account holds at most 1000",
        3,
    ),
    HostileCase(
        "duplicate-names",
        "two voices with one name",
        _yaml(_base("name: beta", "name: alpha")),
        r"duplicate voice name 'alpha' \(first at line 9\)",
        12,
    ),
    HostileCase(
        "bad-name",
        "an invalid voice name",
        _yaml(_base("name: beta", "name: Beta!")),
        r"bad name 'Beta!'.*lower-case",
        12,
    ),
    HostileCase(
        "huge-integer",
        "a 5,000-digit quota",
        _yaml(_base("  prefix: hst\n", "  prefix: hst\n  quota: 1" + "0" * 5000 + "\n")),
        r"far too large",
        5,
    ),
    HostileCase(
        "negative-quota", "quota -5", _yaml(_base("  prefix: hst\n", "  prefix: hst\n  quota: -5\n")), r"quota", 5
    ),
    HostileCase(
        "nan-fraction",
        ".nan would switch the delete guard off",
        _yaml(_base("  prefix: hst\n", "  prefix: hst\n  guards:\n    max_delete_fraction: .nan\n")),
        r"not a number.*from 0 to 1",
        6,
    ),
    HostileCase(
        "inf-fraction",
        ".inf",
        _yaml(_base("  prefix: hst\n", "  prefix: hst\n  guards:\n    max_delete_fraction: .inf\n")),
        r"max_delete_fraction",
        6,
    ),
    HostileCase(
        "unknown-model",
        "a model that does not exist",
        _yaml(_base("model: cosyvoice-v2\nbindings", "model: cosyvoice-v9\nbindings")),
        r"unknown model 'cosyvoice-v9'.*did you mean",
        14,
    ),
    HostileCase(
        "binding-unknown-voice",
        "a binding to an undeclared voice",
        _yaml(_base("voice: alpha", "voice: alpah")),
        r"unknown voice 'alpah'.*did you mean 'alpha'",
        17,
    ),
    HostileCase(
        "state-path-escape",
        "a state path that climbs out of the project",
        _yaml(_base("  prefix: hst\n", "  prefix: hst\n  state:\n    path: ../../elsewhere/state.json\n")),
        r"state path must be relative.*without '\.\.'",
        6,
    ),
    HostileCase(
        "state-path-absolute",
        "an absolute state path",
        _yaml(_base("  prefix: hst\n", "  prefix: hst\n  state:\n    path: /tmp/voicectl-state.json\n")),
        r"state path must be relative",
        6,
    ),
    HostileCase(
        "bad-prefix", "a prefix the service refuses", _yaml(_base("prefix: hst", "prefix: ACME-1")), r"bad prefix", 4
    ),
    # -- audio
    HostileCase(
        "audio-absolute",
        "an absolute audio path",
        _audio(lambda root: "/etc/passwd"),
        r"is absolute.*relative",
        BETA_AUDIO_LINE,
    ),
    HostileCase(
        "audio-dotdot",
        "an audio path through ..",
        _audio(lambda root: f"../{_outside_wav(root).name}"),
        r"resolves outside.*through '\.\.'.*inside the project",
        BETA_AUDIO_LINE,
    ),
    HostileCase(
        "audio-dotdot-deep",
        "audio/../../../../etc/passwd",
        _audio(lambda root: "audio/../../../../../../etc/passwd"),
        r"resolves outside",
        BETA_AUDIO_LINE,
    ),
    HostileCase(
        "audio-symlink-out",
        "a symlink to a valid WAV outside the project",
        _audio(_symlink("audio/link.wav", _outside_wav)),
        r"resolves outside.*symlink",
        BETA_AUDIO_LINE,
    ),
    HostileCase(
        "audio-devzero",
        "a symlink to /dev/zero",
        _audio(_symlink("audio/zero.wav", "/dev/zero")),
        r"resolves outside",
        BETA_AUDIO_LINE,
        process=True,
    ),
    HostileCase(
        "audio-symlink-loop",
        "two symlinks pointing at each other",
        _audio(
            lambda root: (
                os.symlink("b.wav", root / "audio/a.wav"),
                os.symlink("a.wav", root / "audio/b.wav"),
                "audio/a.wav",
            )[2]
        ),
        r"not found|not a regular file",
        BETA_AUDIO_LINE,
    ),
    HostileCase(
        "audio-fifo",
        "a FIFO named .wav",
        _audio(_fifo("audio/fifo.wav")),
        r"not a regular file",
        BETA_AUDIO_LINE,
        process=True,
    ),
    HostileCase(
        "audio-directory",
        "a directory named .wav",
        _audio(lambda root: ((root / "audio/dir.wav").mkdir(), "audio/dir.wav")[1]),
        r"not a regular file",
        BETA_AUDIO_LINE,
    ),
    HostileCase(
        "audio-20gb-sparse",
        "a 20 GB (sparse) WAV",
        _audio(_sparse("audio/huge.wav", 20 << 30, _wav_header(0xFFFFFFFF))),
        r"at most 10 MB.*trim or compress",
        BETA_AUDIO_LINE,
        process=True,
    ),
    HostileCase(
        "audio-11mb",
        "an 11 MB WAV",
        _audio(_sparse("audio/big.wav", 11 << 20, _wav_header((11 << 20) - 44))),
        r"at most 10 MB",
        BETA_AUDIO_LINE,
    ),
    HostileCase(
        "audio-garbage",
        "random bytes named .wav",
        _audio(_file("audio/garbage.wav", lambda: _garbage(50_000, 7))),
        r"audio audio/garbage\.wav: .*(convert|export|record)",
        BETA_AUDIO_LINE,
    ),
    HostileCase(
        "audio-empty", "an empty .wav", _audio(_file("audio/empty.wav", b"")), r"empty.*export", BETA_AUDIO_LINE
    ),
    HostileCase(
        "audio-text",
        "a text file named .wav",
        _audio(_file("audio/notes.wav", b"this is not audio\n" * 100)),
        r"audio audio/notes\.wav: ",
        BETA_AUDIO_LINE,
    ),
    HostileCase(
        "audio-truncated",
        "a WAV cut short",
        _audio(_file("audio/cut.wav", lambda: _wav_header(12 * 32000) + bytes(4 * 32000))),
        r"truncated",
        BETA_AUDIO_LINE,
    ),
    HostileCase(
        "audio-too-short",
        "3 s of speech",
        _audio(_file("audio/short.wav", lambda: _short_wav(3.0))),
        r"at least 10",
        BETA_AUDIO_LINE,
    ),
    HostileCase(
        "audio-nul",
        "a NUL byte in the audio path",
        _yaml(_base("audio/beta.wav", '"audio/be\\0ta.wav"')),
        r"NUL",
        BETA_AUDIO_LINE,
    ),
    HostileCase(
        "audio-missing",
        "an audio file that is not there",
        _yaml(_base("audio/beta.wav", "audio/nope.wav")),
        r"not found",
        BETA_AUDIO_LINE,
    ),
    HostileCase(
        "audio-long-path",
        "a 6,000-character audio path",
        _yaml(_base("audio/beta.wav", "audio/" + "d/" * 3000 + "x.wav")),
        r"not found",
        BETA_AUDIO_LINE,
    ),
    HostileCase(
        "audio-file-url",
        "a file:// URL",
        _yaml(_base("audio/beta.wav", "file:///etc/passwd")),
        r"scheme 'file' is not supported",
        BETA_AUDIO_LINE,
    ),
    HostileCase(
        "audio-ansi-name",
        "terminal escapes in an audio name",
        _yaml(_base("audio/beta.wav", '"audio/\\e[31mred.wav"')),
        r"not found",
        BETA_AUDIO_LINE,
    ),
    # -- what -f points at
    HostileCase(
        "config-fifo",
        "voices.yaml is a FIFO",
        _config_path(lambda root: (os.mkfifo(root / "fifo.yaml"), "fifo.yaml")[1]),
        r"not a regular file",
        None,
        process=True,
    ),
    HostileCase(
        "config-devzero",
        "voices.yaml is a symlink to /dev/zero",
        _config_path(lambda root: (os.symlink("/dev/zero", root / "zero.yaml"), "zero.yaml")[1]),
        r"not a regular file",
        None,
        process=True,
    ),
    HostileCase(
        "config-directory",
        "voices.yaml is a directory",
        _config_path(lambda root: ((root / "adir.yaml").mkdir(), "adir.yaml")[1]),
        r"not a regular file",
        None,
        process=True,
    ),
)


def _short_wav(seconds: float) -> bytes:
    from array import array

    from reconciler.audio.sample import speech_pcm

    pcm: array = speech_pcm(seconds=seconds, sample_rate=16000, seed=1)
    return _wav_header(len(pcm) * 2) + pcm.tobytes()


def hostile_project(path: Path, emu: Any) -> Project:
    """The base project of the hostile matrix, applied once so that a state file exists to stay unchanged."""
    project = aliyun_project(path, emu, prefix="hst")
    (project.dir / "audio").mkdir(exist_ok=True)
    (project.dir / "audio" / "alpha.wav").write_bytes(_audio_bytes(201, False, 16000))
    (project.dir / "audio" / "beta.wav").write_bytes(_audio_bytes(202, False, 16000))
    project.config.write_text(HOSTILE_BASE, encoding="utf-8")
    return project


def snapshot(root: Path) -> dict[str, bytes]:
    """Every regular file under `root` (voices.yaml and audio excluded: the cases change those)."""
    out = {}
    for path in files_under(root / ".voicectl"):
        out[str(path.relative_to(root))] = path.read_bytes()
    return out


# ------------------------------------------------------------------------------------ holding reviews

HOLD_REVIEW = 3600.0  # seconds: a review that lasts until a scenario ends it


def finish_local_reviews(project: Project) -> int:
    """End every review of the local account now, as the service would once it is done."""
    from reconciler.providers.local import LocalAccount

    with LocalAccount(str(project.dir), {}) as account:
        pending = [v.voice_id for v in account.voices() if v.status == "DEPLOYING"]
        for voice_id in pending:
            account.set_status(voice_id, "OK")
    return len(pending)


def finish_emulator_reviews(emu: Any) -> int:
    """End every review in the emulator now. It has no control for this, and a voice's review ends at its
    `ready_at`, so that is moved (under the emulator's lock); what the review decides is left as it was."""
    now = time.monotonic()
    with emu.lock:
        pending = [v for v in emu._voices.values() if v.family == "cosyvoice" and v.ready_at > now]
        for voice in pending:
            voice.ready_at = now
    return len(pending)


def wait_until(condition: Callable[[], bool], timeout: float = 120.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
