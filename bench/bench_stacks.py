"""`voicectl stacks --changed-since` on a repository of many stacks: the CI's first job, before any matrix job.

    python bench/bench_stacks.py [--stacks 200] [--runs 5]

Builds a git repository of N stacks (stacks/NAME/voices.yaml, three voices each, audio shared from a common
folder by every tenth stack), commits it, changes three stacks (a voices.yaml, a stack's own audio, a shared
file), then runs the real `voicectl stacks --changed-since HEAD --format github-matrix` as a child process
(start-up and imports included) and `voicectl stacks` (all of them). Target: under 1 s with 200 stacks. The
machine is shared: the figure is a median and its ratio to the target, measured in this one run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from perf_support import Workdir, base_env, check, run_cli

TARGET = 1.0  # seconds


def build_repository(root: Path, n: int) -> None:
    (root / "shared").mkdir()
    for name in ("greeting.wav", "farewell.wav"):
        (root / "shared" / name).write_bytes(b"RIFF-not-read-by-stacks")
    for i in range(n):
        stack = root / "stacks" / f"stack-{i:03d}"
        (stack / "audio").mkdir(parents=True)
        voices = []
        for j in range(3):
            own = f"audio/v{j}.wav"
            (stack / own).write_bytes(f"{i}-{j}".encode())
            audio = "../../shared/greeting.wav" if i % 10 == 0 and j == 0 else own
            voices.append(f"  - name: v{j}\n    audio: {audio}\n    model: cosyvoice-v2\n")
        (stack / "voices.yaml").write_text(
            f"version: 1\naccount:\n  provider: aliyun\n  prefix: p{i:03d}\n  oss: {{bucket: voices}}\nvoices:\n"
            + "".join(voices),
            encoding="utf-8",
        )
    (root / "voicectl-stacks.yaml").write_text("version: 1\nstacks:\n  - stacks/*\n", encoding="utf-8")

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)

    git("init", "-q", "-b", "main")
    git("add", ".")
    git("-c", "user.name=bench", "-c", "user.email=bench@example.invalid", "commit", "-qm", "stacks")
    (root / "stacks" / "stack-001" / "voices.yaml").write_text(
        (root / "stacks" / "stack-001" / "voices.yaml").read_text() + "bindings: []\n", encoding="utf-8"
    )
    (root / "stacks" / "stack-002" / "audio" / "v1.wav").write_bytes(b"new take")
    (root / "shared" / "greeting.wav").write_bytes(b"RIFF-a-new-greeting")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stacks", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with Workdir() as root:
        build_repository(root, args.stacks)
        env = base_env()
        changed_args = ["stacks", "--root", str(root), "--changed-since", "HEAD", "--format", "github-matrix"]
        changed = [check(run_cli(changed_args, env=env)) for _ in range(args.runs)]
        everything = [check(run_cli(["stacks", "--root", str(root), "--format", "github-matrix"], env=env))
                      for _ in range(args.runs)]  # fmt: skip
        listed = [e["stack"] for e in json.loads(changed[-1].stdout)["include"]]
        total = len(json.loads(everything[-1].stdout)["include"])
    expected = 2 + len(range(0, args.stacks, 10))  # stack-001, stack-002 and every stack sharing the greeting
    wall = statistics.median(r.wall for r in changed)
    wall_all = statistics.median(r.wall for r in everything)
    print(f"# bench_stacks: {args.stacks} stacks, median of {args.runs} runs")
    print()
    print("| command | stacks listed | wall (s) | wall / 1 s target |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| stacks --changed-since HEAD --format github-matrix | {len(listed)} (expected {expected}) | "
          f"{wall:.3f} | {wall / TARGET:.2f} |")  # fmt: skip
    print(f"| stacks --format github-matrix | {total} | {wall_all:.3f} | {wall_all / TARGET:.2f} |")
    return 0 if len(listed) == expected and total == args.stacks else 1


if __name__ == "__main__":
    sys.exit(main())
