"""bench/bench_perf.py --quick runs end to end and prints its table (no timing thresholds: the figures are
for people, measured side by side; a shared CI machine makes absolute times meaningless)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_bench(script: str, *args: str) -> str:
    """bench/SCRIPT ARGS without any real credentials; its stdout, once it exited 0."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DASHSCOPE_", "ALIBABA_CLOUD_", "VOICECTL_"))}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return proc.stdout


def test_bench_perf_quick_prints_the_table() -> None:
    lines = run_bench("bench_perf.py", "--quick").splitlines()
    assert "| figure | N | measured | floor / baseline | ratio | detail |" in lines
    for figure in (
        "start-up: voicectl --help",
        "plan (no changes): API calls",
        "apply from empty: wall",
        "apply vs sequential baseline",
        "review wait: polling",
        "peak RSS: plan / apply",
    ):
        assert any(line.startswith(f"| {figure} |") for line in lines), figure


def test_bench_audition_quick_prints_both_tables() -> None:
    lines = run_bench("bench_audition.py", "--quick").splitlines()
    assert "| voice | model | characters | audio (s) | first audio (s) | total (s) | total / audio |" in lines
    assert sum(line.startswith("| support | cosyvoice-v2 | ") for line in lines) == 2
    assert sum(line.startswith("| host | qwen3-tts-vc-realtime-2026-01-15 | ") for line in lines) == 2
    assert any(line.startswith("| host | cold | ") for line in lines)
    assert any(line.startswith("| support | warm | ") for line in lines)
    assert any("importing the dashscope SDK" in line for line in lines)


def test_bench_stacks_lists_exactly_the_changed_stacks() -> None:
    out = run_bench("bench_stacks.py", "--stacks", "20", "--runs", "1")
    assert "| stacks --changed-since HEAD --format github-matrix | 4 (expected 4) | " in out


def test_bench_policy_prints_its_table() -> None:
    out = run_bench("bench_policy.py", "--voices", "12", "--runs", "1")
    assert "| voicectl plan --policy examples/policies (1 denied) | " in out
    assert any(line.startswith("| added by the policies (child processes) | ") for line in out.splitlines())
