"""bench/bench_lint.py runs and prints its table (a smoke run: no timing is asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_bench_lint_prints_the_table() -> None:
    args = [sys.executable, str(REPO / "bench" / "bench_lint.py"), "--files", "3", "--seconds", "6", "--rounds", "1"]
    result = subprocess.run(args, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    for row in ("| lint, cold cache |", "| lint, warm (process) |", "| lint, warm (disk) |", "| rules only"):
        assert row in result.stdout
    assert "the target (30 x 20 s in 3 s), scaled to it:" in result.stdout
