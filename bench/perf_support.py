"""Shared plumbing of bench/bench_perf.py: throw-away projects, running the real CLI, counting the emulator's calls.

voicectl runs as a child process (the console script a user types), so wall times include start-up and
imports, and the peak RSS of each run is the child's own (VmHWM), not the benchmark's, which also hosts
the emulator.
"""

from __future__ import annotations

import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a plain script from a checkout
    sys.path.insert(0, str(ROOT))

from reconciler.audio.sample import write_sample_wav
from tests.emulator import Call

BUCKET = "voices"
# Voices per list page as the emulator serves them (voicectl asks for 100; the service may serve fewer).
PAGE_SIZE = 50
RATE = 10.0  # DashScope enrollment requests per second per account
COSY_LIST = ("dashscope", "list_voice")
QWEN_LIST = ("dashscope", "list")


def voicectl_cmd() -> list[str]:
    """The installed console script next to this interpreter, else `python -m reconciler`."""
    script = Path(sys.executable).with_name("voicectl")
    return [str(script)] if script.exists() else [sys.executable, "-m", "reconciler"]


# -- projects ------------------------------------------------------------------------------------------


def sample_wav(directory: Path, seconds: float = 11.0) -> Path:
    path = directory / "sample.wav"
    write_sample_wav(str(path), seconds=seconds, sample_rate=16000, seed=7)
    return path


def link_or_copy(src: Path, dst: Path) -> None:
    """`dst` as a hard link to `src` (same bytes, a path of its own), or a copy where links are refused."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def make_project(root: Path, prefix: str, n: int, wav: Path, *, quota: int, model: str = "cosyvoice-v2") -> Path:
    """A voices.yaml of `n` CosyVoice voices on provider aliyun with its state on OSS; returns its path.

    Each voice has its own file (a hard link to one sample: same bytes, distinct paths), so hashing, probing
    and uploading happen per voice as they would with real recordings."""
    project = root / prefix
    (project / "audio").mkdir(parents=True)
    lines = [
        "version: 1",
        "account:",
        "  provider: aliyun",
        f"  quota: {quota}",
        f"  prefix: {prefix}",
        "  region: cn-beijing",
        "  oss:",
        f"    bucket: {BUCKET}",
        "    endpoint: https://oss-cn-beijing.aliyuncs.com",
        "    key_prefix: voicectl/audio/",
        "  state:",
        "    backend: oss",
        f"    key: voicectl/state/{prefix}",
        "voices:",
    ]
    for i in range(n):
        name = f"voice-{i:03d}"
        link_or_copy(wav, project / "audio" / f"{name}.wav")
        lines += [f"  - name: {name}", f"    audio: audio/{name}.wav", f"    model: {model}", "    language: en"]
    path = project / "voices.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class Workdir:
    """A temporary directory removed on exit."""

    def __enter__(self) -> Path:
        self.path = Path(tempfile.mkdtemp(prefix="voicectl-bench-"))
        return self.path

    def __exit__(self, *exc: object) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


# -- running the CLI -----------------------------------------------------------------------------------


@dataclass
class CliRun:
    args: list[str]
    returncode: int
    wall: float  # seconds, from spawn to exit
    maxrss_mb: float  # the child's own peak resident set size
    started: float  # time.time() at spawn, to line up with the emulator's call timestamps
    stdout: str
    stderr: str


def _peak_rss_kib(pid: int) -> int | None:
    """VmHWM of a running process: the peak RSS of its current program image (Linux)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def run_cli(args: Sequence[str], *, env: Mapping[str, str], cwd: Path | None = None) -> CliRun:
    """Run voicectl once; wall time and the child's own peak RSS.

    The peak comes from VmHWM, sampled until the child exits (a high-water mark, so the last sample holds it).
    wait4's ru_maxrss would also count the forked copy of this process before exec, and this process holds
    the emulator with every uploaded file."""
    full = [*voicectl_cmd(), *args]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.time()
        t0 = time.perf_counter()
        proc = subprocess.Popen(full, stdout=out, stderr=err, env=dict(env), cwd=cwd)
        peak = [0]

        def sample() -> None:
            while proc.returncode is None:
                value = _peak_rss_kib(proc.pid)
                if value is None:
                    return  # exited (a zombie has no memory figures)
                peak[0] = max(peak[0], value)
                time.sleep(0.02)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, so Popen must not wait again
        sampler.join()
        out.seek(0)
        err.seek(0)
        return CliRun(
            list(full),
            proc.returncode,
            wall,
            (peak[0] or usage.ru_maxrss) / 1024.0,  # KiB
            started,
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
        )


def check(run: CliRun, *ok: int) -> CliRun:
    if run.returncode not in (ok or (0,)):
        raise SystemExit(
            f"{' '.join(run.args)} exited {run.returncode}\n--- stdout\n{run.stdout[-3000:]}\n--- stderr\n"
            f"{run.stderr[-3000:]}"
        )
    return run


def median_wall(args: Sequence[str], *, env: Mapping[str, str], cwd: Path | None, runs: int) -> float:
    walls = [check(run_cli(args, env=env, cwd=cwd), 0, 1).wall for _ in range(runs)]
    return statistics.median(walls)


def base_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The caller's environment without any real credentials, plus `extra`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DASHSCOPE_", "ALIBABA_CLOUD_", "VOICECTL_")) and k != "COLUMNS"
    }
    env["COLUMNS"] = "120"
    env.update(extra or {})
    return env


# -- counting calls ------------------------------------------------------------------------------------


def client_calls(calls: Iterable[Call], since: float = 0.0, until: float = math.inf) -> list[Call]:
    """Calls voicectl made: the emulator also records its own fetches of signed audio URLs (create_voice
    downloading the audio), which are presigned OSS GETs that the client never sends itself."""
    return [c for c in calls if since <= c.at <= until and not (c.service == "oss" and c.params.get("presigned"))]


def tally(calls: Iterable[Call]) -> Counter[tuple[str, str]]:
    return Counter((c.service, c.action) for c in calls)


def fmt_tally(counts: Counter[tuple[str, str]]) -> str:
    """`dashscope list_voice 4, oss GetObject 1, ...` by service, then by count."""
    parts = [f"{svc}:{action} {n}" for (svc, action), n in sorted(counts.items(), key=lambda kv: (kv[0][0], -kv[1]))]
    return ", ".join(parts)


def dashscope_count(counts: Counter[tuple[str, str]]) -> int:
    return sum(n for (svc, _), n in counts.items() if svc == "dashscope")


def list_pages_floor(n_cosyvoice: int, n_qwen: int) -> int:
    """Fewest list pages that can prove the whole account was seen.

    CosyVoice's list_voice returns no total and a page may be shorter than asked, so only an empty page ends
    the listing: ceil(n / page) + 1 pages. Qwen's list returns total_count, so ceil(n / page) pages, and one
    page to learn that there are none."""
    return math.ceil(n_cosyvoice / PAGE_SIZE) + 1 + max(1, math.ceil(n_qwen / PAGE_SIZE))


STATE_READ_FLOOR = 2  # OSS state: list the serial-numbered versions, get the newest


@dataclass
class ReviewWait:
    """How an apply waited for the review: list calls per second while voices were pending."""

    ticks: int = 0  # first pages of the CosyVoice list after the first create
    list_calls: int = 0
    query_calls: int = 0
    seconds: float = 0.0  # first create's arrival to the last list call
    per_second: float = 0.0
    detected_after: float = 0.0  # last voice's review end to the list that saw it (upper bound)
    tick_times: list[float] = field(default_factory=list)


def review_wait(calls: Sequence[Call], review_delay: float) -> ReviewWait:
    dash = sorted((c for c in calls if c.service == "dashscope"), key=lambda c: c.at)
    creates = [c for c in dash if c.action == "create_voice"]
    if not creates:
        return ReviewWait()
    first, last_create = creates[0].at, creates[-1].at
    after = [c for c in dash if c.at >= first]
    lists = [c for c in after if (c.service, c.action) in (COSY_LIST, QWEN_LIST)]
    ticks = [c.at for c in lists if c.action == "list_voice" and c.params.get("page_index", 0) == 0]
    out = ReviewWait(
        ticks=len(ticks),
        list_calls=len(lists),
        query_calls=sum(1 for c in after if c.action == "query_voice"),
        tick_times=ticks,
    )
    if lists:
        out.seconds = max(lists[-1].at - first, 1e-9)
        out.per_second = len(lists) / out.seconds
        out.detected_after = max(0.0, lists[-1].at - (last_create + review_delay))
    return out


@dataclass
class Phases:
    """Where an apply's wall time went, from the emulator's timestamps (seconds since spawn)."""

    first_call: float
    first_create: float
    last_create: float
    last_call: float
    exit: float


def phases(run: CliRun, calls: Sequence[Call]) -> Phases:
    mine = sorted(c.at for c in calls) or [run.started]
    creates = sorted(c.at for c in calls if c.action == "create_voice") or [run.started]
    return Phases(
        first_call=mine[0] - run.started,
        first_create=creates[0] - run.started,
        last_create=creates[-1] - run.started,
        last_call=mine[-1] - run.started,
        exit=run.wall,
    )
