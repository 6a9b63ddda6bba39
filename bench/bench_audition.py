"""Audition speed: time to the first audio byte and total synthesis time against the text's length, and the
CLI's own overhead above the emulator's answer time.

    python bench/bench_audition.py [--latency 0.05] [--runs 3] [--quick]

Starts the loopback emulator (tests/emulator) with `--latency` seconds before every answer (and before the
first audio of a synthesis; a tenth of it between audio frames), clones one CosyVoice and one realtime Qwen
voice with the real `voicectl apply`, then:

- synthesis: the provider's own adapter (`AliyunSpeech`: the dashscope SDK's `SpeechSynthesizer` and
  `QwenTtsRealtime`, in this process) speaks texts of growing length; the first audio byte's delay and the
  total time, median of `--runs`. The emulator's audio is as long as the text takes to read (0.07 s a
  character), sent as fast as the latency allows: the figures show what the client adds, and that long text
  (split within each API's limit) costs one round trip per piece.
- CLI overhead: `voicectl audition NAME`'s wall time minus the emulator's answer time (from the first
  request's arrival to the synthesis connection's close, by the emulator's own clock). Budget: 0.3 s. "cold"
  is a child process, as a user runs it (interpreter start-up and imports included); "warm" is the same
  command in this process once its modules are loaded (reading voices.yaml and the state, the status query,
  writing the file, the lint's measurement). The dashscope SDK's import is measured on its own in a fresh
  interpreter, since it is most of the cold overhead.

The machine is shared: every comparison is a ratio of figures measured in this one run. Nothing here asserts
a time; tests/test_bench_smoke.py runs --quick and checks the table's shape.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from perf_support import BUCKET, Workdir, base_env, check, run_cli

from reconciler.audio.sample import write_sample_wav
from reconciler.providers.aliyun.speech import AliyunSpeech
from tests.emulator import Emulator

CLI_BUDGET = 0.3  # seconds the CLI may add above the emulator's answer time
VOICES = {"support": "cosyvoice-v2", "host": "qwen3-tts-vc-realtime-2026-01-15"}
SENTENCE = "The quick brown fox jumps over the lazy dog near the river bank. "  # 65 characters


@dataclass
class Synthesis:
    voice: str
    characters: int
    first: float  # seconds from the request to the first audio byte (median)
    total: float  # seconds of the whole synthesis (median)
    audio: float  # seconds of audio that came back


@dataclass
class Overhead:
    voice: str
    how: str  # "cold": a child process (start-up and imports); "warm": in-process, imports done
    wall: float  # spawn (or call) to exit (median)
    answer: float  # the emulator's answer time within it (median)

    @property
    def overhead(self) -> float:
        return self.wall - self.answer


def make_project(root: Path, emu: Emulator) -> Path:
    (root / "audio").mkdir(parents=True)
    lines = [
        "version: 1",
        "account:",
        "  provider: aliyun",
        "  prefix: bench",
        "  region: cn-beijing",
        "  oss:",
        f"    bucket: {BUCKET}",
        f"    endpoint: {emu.oss_endpoint}",
        "  state:",
        "    backend: local",
        "voices:",
    ]
    for i, (name, model) in enumerate(VOICES.items()):
        write_sample_wav(str(root / "audio" / f"{name}.wav"), seconds=12.0, sample_rate=24_000, seed=20 + i)
        lines += [f"  - name: {name}", f"    audio: audio/{name}.wav", f"    model: {model}", "    language: en"]
    path = root / "voices.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def measure_synthesis(speech: AliyunSpeech, voice: str, voice_id: str, model: str, n: int, runs: int) -> Synthesis:
    text = (SENTENCE * (n // len(SENTENCE) + 1))[:n]
    firsts, totals, audio = [], [], 0.0
    for _ in range(runs):
        t0 = time.monotonic()
        result = speech.synthesize(voice_id=voice_id, model=model, text=text)
        totals.append(time.monotonic() - t0)
        firsts.append(result.first_audio_seconds if result.first_audio_seconds is not None else float("nan"))
        audio = (len(result.wav) - 44) / 2 / 24_000
    return Synthesis(voice, n, statistics.median(firsts), statistics.median(totals), audio)


def _answer_time(emu: Emulator, since: float) -> float:
    """From the first request's arrival to the synthesis connection's close, by the emulator's clock."""
    calls = [c for c in emu.calls if c.at >= since]  # not a close left over from the runs before
    first = min(c.at for c in calls)
    return max(c.at for c in calls if c.service == "speech" and c.action == "closed") - first


def measure_cold(emu: Emulator, config: Path, env: dict[str, str], warm: Overhead, runs: int) -> Overhead:
    """`voicectl audition` as a user runs it: a child process, interpreter start-up and imports included. The
    emulator's answer time is the warm run's: in a cold one, the window between the first request and the
    last answer also holds imports the client makes between them (Qwen's status query needs no SDK; its
    synthesis imports dashscope)."""
    walls = []
    for i in range(runs):
        out = config.parent / f"cold-{warm.voice}-{i}.wav"
        walls.append(check(run_cli(["audition", warm.voice, "-f", str(config), "--out", str(out)], env=env)).wall)
    return Overhead(warm.voice, "cold", statistics.median(walls), warm.answer)


def measure_warm(emu: Emulator, config: Path, env: dict[str, str], voice: str, runs: int) -> Overhead:
    """The same command in this process once its modules are imported: what the command itself adds (reading
    voices.yaml and the state, the status query, writing the file, the lint's measurement)."""
    from typer.testing import CliRunner

    from reconciler.cli import app

    runner = CliRunner()
    walls, answers = [], []
    for i in range(runs + 1):  # the first run imports: not counted
        out = config.parent / f"warm-{voice}-{i}.wav"
        started, t0 = time.time(), time.perf_counter()
        result = runner.invoke(app, ["audition", voice, "-f", str(config), "--out", str(out)], env=env)
        wall = time.perf_counter() - t0
        if result.exit_code != 0:
            raise SystemExit(f"audition {voice} exited {result.exit_code}: {result.output[-2000:]}")
        if i:
            walls.append(wall)
            answers.append(_answer_time(emu, started))
    return Overhead(voice, "warm", statistics.median(walls), statistics.median(answers))


def import_seconds(module: str, runs: int) -> float:
    """What importing `module` adds to a fresh interpreter's start (median of child processes)."""

    def wall(code: str) -> float:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        return time.perf_counter() - t0

    return statistics.median(wall(f"import {module}") - wall("pass") for _ in range(max(runs, 3)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency", type=float, default=0.05, help="seconds before every answer (0.05)")
    parser.add_argument("--runs", type=int, default=3, help="runs per figure; the median is shown (3)")
    parser.add_argument("--quick", action="store_true", help="two text lengths, one run each (the smoke test)")
    args = parser.parse_args()
    lengths = [60, 600] if args.quick else [20, 100, 400, 1600]
    runs = 1 if args.quick else args.runs

    with Workdir() as root, Emulator(buckets=(BUCKET,), latency=args.latency, review_delay=0.2) as emu:
        config = make_project(root, emu)
        env = base_env(emu.env())
        check(run_cli(["apply", "-f", str(config), "--auto-approve", "--no-color"], env=env))
        state = json.loads((root / ".voicectl" / "state.json").read_text(encoding="utf-8"))["voices"]
        speech = AliyunSpeech(env, region="cn-beijing", workspace=None)
        synthesis = [
            measure_synthesis(speech, name, state[name]["voice_id"], model, n, runs)
            for name, model in VOICES.items()
            for n in lengths
        ]
        warm = [measure_warm(emu, config, env, name, runs) for name in VOICES]
        overheads = [*(measure_cold(emu, config, env, w, runs) for w in warm), *warm]
    sdk_import = import_seconds("dashscope", runs)

    print(f"# bench_audition: latency {args.latency * 1000:.0f} ms per answer; median of {runs} run(s)")
    print()
    print("| voice | model | characters | audio (s) | first audio (s) | total (s) | total / audio |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for s in synthesis:
        print(
            f"| {s.voice} | {VOICES[s.voice]} | {s.characters} | {s.audio:.1f} | {s.first:.3f} | {s.total:.3f} | "
            f"{s.total / s.audio:.2f} |"
        )
    print()
    print(f"| voice | run | CLI wall (s) | emulator answer (s) | CLI overhead (s) | overhead / {CLI_BUDGET} s budget |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for o in overheads:
        print(
            f"| {o.voice} | {o.how} | {o.wall:.3f} | {o.answer:.3f} | {o.overhead:.3f} | "
            f"{o.overhead / CLI_BUDGET:.2f} |"
        )
    print()
    print(
        f"Of the overhead, importing the dashscope SDK (its package imports aiohttp, pydantic and its v2 client "
        f"whatever module is asked for) takes {sdk_import:.3f} s in a fresh interpreter: "
        f"{sdk_import / CLI_BUDGET:.2f} of the budget on its own."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
