"""Policy as code on a big plan: what evaluating the five example policies adds to `voicectl plan`.

    python bench/bench_policy.py [--voices 300] [--runs 5]

A project of N voices on the local provider (every voice its own copy of one reading, so each is hashed and
linted as a real recording would be) is planned from an empty account, N creates, with and without
`--policy examples/policies` (the five shipped policies: allowed models, protected prod- voices, at most five
new voices, the maintenance window, Qwen transcripts), each as a child process, median of --runs. The policy
step is also timed on its own, in-process, on the same plan. Target: under 0.5 s added. The machine is shared:
the figures are medians and their ratios to the target, measured in this one run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from perf_support import ROOT, Workdir, base_env, check, link_or_copy, run_cli

from reconciler.audio.sample import write_sample_wav

TARGET = 0.5  # seconds
POLICIES = ROOT / "examples" / "policies"


def make_project(root: Path, n: int) -> Path:
    (root / "audio").mkdir(parents=True)
    sample = root / "sample.wav"
    write_sample_wav(str(sample), seconds=11.0, sample_rate=16000, seed=5)
    lines = ["version: 1", "account:", "  provider: local", f"  quota: {n}", "  prefix: bench", "voices:"]
    for i in range(n):
        name = f"prod-{i:03d}"
        link_or_copy(sample, root / "audio" / f"{name}.wav")
        lines += [
            f"  - name: {name}",
            f"    audio: audio/{name}.wav",
            "    model: cosyvoice-v3-flash",
            "    protect: true",
        ]
    path = root / "voices.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--voices", type=int, default=300)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with Workdir() as root:
        config = make_project(root, args.voices)
        env = base_env({"VOICECTL_POLICY_NOW": "2026-12-05T03:00:00Z"})
        plan = ["plan", "-f", str(config), "--format", "json"]
        check(run_cli(plan, env=env))  # warms the lint cache: both sides read it
        without = [check(run_cli(plan, env=env)).wall for _ in range(args.runs)]
        with_policy = [check(run_cli([*plan, "--policy", str(POLICIES)], env=env), 3).wall for _ in range(args.runs)]
        last = check(run_cli([*plan, "--policy", str(POLICIES)], env=env), 3)
        denied = last.stdout.count('"guard": "policy"')

        from reconciler.config.loader import load_desired
        from reconciler.operations import plan as make_plan
        from reconciler.plan.plan import PlanOptions
        from reconciler.policy import check_plan

        os.environ.update(env)
        desired, _ = load_desired(str(config))
        planned = make_plan(desired, PlanOptions())
        options = PlanOptions(policies=(str(POLICIES),))
        planned = planned.__class__(**{**planned.__dict__, "options": options})
        alone = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            check_plan(planned, desired)
            alone.append(time.perf_counter() - t0)
    added = statistics.median(with_policy) - statistics.median(without)
    print(f"# bench_policy: {args.voices} voices, 5 policies, median of {args.runs} runs")
    print()
    print("| figure | seconds | / 0.5 s target |")
    print("| --- | ---: | ---: |")
    print(f"| voicectl plan ({args.voices} creates) | {statistics.median(without):.3f} | |")
    print(f"| voicectl plan --policy examples/policies ({denied} denied) | {statistics.median(with_policy):.3f} | |")
    print(f"| added by the policies (child processes) | {added:.3f} | {added / TARGET:.2f} |")
    print(
        f"| policy step alone, in-process | {statistics.median(alone):.3f} | {statistics.median(alone) / TARGET:.2f} |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
