"""API-call economy, apply wall time against the review bound, start-up, memory: measured side by side.

    python bench/bench_perf.py [--latency 0.05] [--review-delay 3] [--runs 5] [--quick]

Starts the loopback emulator (tests/emulator) with `--latency` seconds added to every request of every service
and `--review-delay` seconds of review per voice, rate limit 10 requests/s, and runs the real `voicectl`
console script against it as a child process (start-up and imports included):

- N = 10 and 30: one project (one account, prefix of its own): `apply --auto-approve` from an empty account,
  then `plan` (nothing to do); the baseline (bench/baseline_sequential.py: the guide's sample, sequential)
  clones the same N voices in this process against a fresh emulator with the same settings.
- N = 300: ten projects of 30 with distinct prefixes sharing ONE account, each run with the same command,
  SEQUENTIALLY (apply all ten, then plan all ten). Concurrent runs in separate processes would each have their
  own client-side limiter and overrun the account's 10/s together. Their quota is 1000 (the shared account).
- start-up: median wall time of `voicectl --help` and `voicectl validate` (the repository's example), and the
  heavy modules each imports (python -X importtime).

Floors: a plan needs the list pages that prove the whole account was seen (CosyVoice: N // 100 + 1, since
list_voice has no total; Qwen: 1) plus the state read (OSS: list the versions, get the newest). An apply
cannot end before the slowest review (the review delay after its create) plus its enrollment calls spread at
10 per second: review_delay + dashscope_calls / 10.

The machine is shared: absolute times are noisy, so every comparison is a ratio of figures measured in this
one run. Nothing here asserts a time; tests/test_bench_smoke.py only runs --quick and checks the table.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from baseline_sequential import run_baseline
from perf_support import (
    ROOT,
    STATE_READ_FLOOR,
    CliRun,
    Phases,
    ReviewWait,
    Workdir,
    base_env,
    check,
    client_calls,
    dashscope_count,
    fmt_tally,
    list_pages_floor,
    make_project,
    median_wall,
    phases,
    review_wait,
    run_cli,
    sample_wav,
    tally,
)

from tests.emulator import Emulator

HEAVY = ("dashscope", "oss2", "alibabacloud_ice20201109", "av", "rich", "jsonschema", "yaml", "tenacity")


@dataclass
class Settings:
    latency: float
    review_delay: float
    sizes: tuple[int, ...]
    projects: int
    per_project: int
    baseline_sizes: tuple[int, ...]
    baseline_poll: float
    runs: int


@dataclass
class Row:
    figure: str
    n: str
    measured: str
    floor: str
    ratio: str
    detail: str = ""


@dataclass
class ApplyFigures:
    wall: float
    floor: float
    dashscope: int
    oss: int
    tally: str
    review: ReviewWait
    phases: Phases
    maxrss_mb: float


@dataclass
class PlanFigures:
    wall: float
    calls: int
    floor: int
    tally: str
    maxrss_mb: float


@dataclass
class Scenario:
    n: int
    apply: list[ApplyFigures] = field(default_factory=list)
    plan: list[PlanFigures] = field(default_factory=list)
    baseline: float | None = None


def emulator(s: Settings) -> Emulator:
    return Emulator(
        buckets=("voices",), latency=s.latency, review_delay=s.review_delay, rate_limit=10, voice_limit=1000
    )


def measure_apply(emu: Emulator, config: Path, env: dict[str, str], s: Settings) -> ApplyFigures:
    emu.clear_calls()
    run = check(run_cli(["apply", "-f", str(config), "--auto-approve", "--no-color"], env=env))
    calls = client_calls(emu.calls)
    counts = tally(calls)
    dash = dashscope_count(counts)
    return ApplyFigures(
        wall=run.wall,
        floor=s.review_delay + dash / 10.0,
        dashscope=dash,
        oss=sum(counts.values()) - dash,
        tally=fmt_tally(counts),
        review=review_wait(calls, s.review_delay),
        phases=phases(run, calls),
        maxrss_mb=run.maxrss_mb,
    )


def measure_plan(emu: Emulator, config: Path, env: dict[str, str], n_account: int) -> PlanFigures:
    emu.clear_calls()
    run: CliRun = check(run_cli(["plan", "-f", str(config), "--detailed-exitcode", "--no-color"], env=env), 0)
    counts = tally(client_calls(emu.calls))
    return PlanFigures(
        wall=run.wall,
        calls=sum(counts.values()),
        floor=list_pages_floor(n_account, 0) + STATE_READ_FLOOR,
        tally=fmt_tally(counts),
        maxrss_mb=run.maxrss_mb,
    )


def single(n: int, s: Settings, work: Path, wav: Path) -> Scenario:
    out = Scenario(n)
    with emulator(s) as emu:
        env = base_env(emu.env())
        config = make_project(work, f"n{n}", n, wav, quota=max(30, n))
        out.apply.append(measure_apply(emu, config, env, s))
        out.plan.append(measure_plan(emu, config, env, n))
    if n in s.baseline_sizes:
        with emulator(s) as emu:
            result = run_baseline(emu.env(), [wav] * n, prefix=f"base{n}", poll=s.baseline_poll)
            out.baseline = result.wall
    return out


def shared(s: Settings, work: Path, wav: Path) -> Scenario:
    out = Scenario(s.projects * s.per_project)
    with emulator(s) as emu:
        env = base_env(emu.env())
        configs = [make_project(work, f"s{i}", s.per_project, wav, quota=1000) for i in range(s.projects)]
        for config in configs:
            out.apply.append(measure_apply(emu, config, env, s))
        for config in configs:
            out.plan.append(measure_plan(emu, config, env, out.n))
    return out


def heavy_imports(args: list[str]) -> list[str]:
    """Top-level heavy packages a command imports (python -X importtime)."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "reconciler", *args],
        cwd=ROOT,
        env=base_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    found = set(re.findall(r"\|\s+([A-Za-z0-9_]+)(?:\.|$)", proc.stderr, flags=re.MULTILINE))
    return sorted(set(HEAVY) & found)


def fmt_s(x: float) -> str:
    return f"{x:.2f} s"


def apply_rows(sc: Scenario, label: str) -> list[Row]:
    wall = sum(a.wall for a in sc.apply)
    floor = sum(a.floor for a in sc.apply)
    dash = sum(a.dashscope for a in sc.apply)
    oss = sum(a.oss for a in sc.apply)
    a0 = sc.apply[-1]
    p = a0.phases
    detail = (
        f"dashscope {dash}, oss {oss}; last run: first call {p.first_call:.2f}, creates {p.first_create:.2f}"
        f"-{p.last_create:.2f}, last call {p.last_call:.2f}, exit {p.exit:.2f} s"
    )
    # The floor counts the review polls too, although they overlap the review; without them it is stricter.
    strict = sum(a.floor - (a.review.list_calls + a.review.query_calls) / 10.0 for a in sc.apply)
    detail += f"; {wall / strict:.2f} x the floor without the review polls ({fmt_s(strict)})"
    rows = [Row("apply from empty: wall", label, fmt_s(wall), fmt_s(floor), f"{wall / floor:.2f} x floor", detail)]
    if sc.baseline is not None:
        rows.append(
            Row(
                "apply vs sequential baseline",
                label,
                fmt_s(wall),
                f"baseline {fmt_s(sc.baseline)}",
                f"{sc.baseline / wall:.1f} x faster",
                "bench/baseline_sequential.py, same emulator settings, same run",
            )
        )
    reviews = [a.review for a in sc.apply if a.review.ticks]
    if reviews:
        per_s = statistics.mean(r.per_second for r in reviews)
        ticks = sum(r.ticks for r in reviews)
        lists = sum(r.list_calls for r in reviews)
        queries = sum(r.query_calls for r in reviews)
        late = max(r.detected_after for r in reviews)
        rows.append(
            Row(
                "review wait: polling",
                label,
                f"{per_s:.2f} calls/s",
                f"{lists / ticks:.1f} list calls per tick",
                f"{queries} query_voice",
                f"{ticks} ticks, {lists} list calls; last OK seen {late:.2f} s after its review ended",
            )
        )
    return rows


def plan_rows(sc: Scenario, label: str) -> list[Row]:
    wall = statistics.median(p.wall for p in sc.plan)
    calls = sum(p.calls for p in sc.plan)
    floor = sum(p.floor for p in sc.plan)
    each = f" ({len(sc.plan)} plans, median wall)" if len(sc.plan) > 1 else ""
    return [
        Row(
            "plan (no changes): API calls",
            label,
            str(calls),
            str(floor),
            f"{calls / floor:.2f} x floor",
            sc.plan[-1].tally + each,
        ),
        Row("plan (no changes): wall", label, fmt_s(wall), "", "", "start-up, config + audio checks, state, listing"),
    ]


def render(rows: list[Row]) -> str:
    head = "| figure | N | measured | floor / baseline | ratio | detail |\n|---|---|---|---|---|---|"
    body = [f"| {r.figure} | {r.n} | {r.measured} | {r.floor} | {r.ratio} | {r.detail} |" for r in rows]
    return "\n".join([head, *body])


def settings(args: argparse.Namespace) -> Settings:
    if args.quick:
        return Settings(
            latency=args.latency if args.latency_given else 0.01,
            review_delay=args.review_delay if args.review_delay_given else 0.3,
            sizes=(3, 6),
            projects=2,
            per_project=3,
            baseline_sizes=(3,),
            baseline_poll=0.25,  # the sample does not handle 429: stay under 10/s
            runs=min(args.runs, 2),
        )
    return Settings(
        latency=args.latency,
        review_delay=args.review_delay,
        sizes=(10, 30),
        projects=10,
        per_project=30,
        baseline_sizes=(10, 30),
        baseline_poll=1.0,
        runs=args.runs,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency", type=float, default=None, help="seconds added to every request (0.05)")
    parser.add_argument("--review-delay", type=float, default=None, help="seconds of review per voice (3)")
    parser.add_argument("--runs", type=int, default=5, help="runs per start-up figure, median reported (5)")
    parser.add_argument("--quick", action="store_true", help="small N, short delays: a smoke run (< 30 s)")
    parser.add_argument("--sizes", help="comma-separated single-project sizes instead of the defaults")
    parser.add_argument(
        "--skip", default="", help="comma-separated parts to leave out: startup, baseline, shared (for quick looks)"
    )
    args = parser.parse_args(argv)
    args.latency_given, args.review_delay_given = args.latency is not None, args.review_delay is not None
    args.latency = 0.05 if args.latency is None else args.latency
    args.review_delay = 3.0 if args.review_delay is None else args.review_delay
    s = settings(args)
    skip = {part.strip() for part in args.skip.split(",") if part.strip()}
    if args.sizes:
        s.sizes = tuple(int(n) for n in args.sizes.split(","))
    if "baseline" in skip:
        s.baseline_sizes = ()
    started = time.perf_counter()
    print(
        f"# bench_perf: latency {s.latency * 1000:.0f} ms/request, review {s.review_delay:g} s, rate limit 10/s; "
        f"N = {', '.join(map(str, s.sizes))} and {s.projects} x {s.per_project} (one shared account, sequential)",
        flush=True,
    )
    rows: list[Row] = []
    with Workdir() as work:
        wav = sample_wav(work)
        env = base_env()
        if "startup" not in skip:
            rows += startup_rows(s, env)
        scenarios = [single(n, s, work, wav) for n in s.sizes]
        if "shared" not in skip:
            scenarios.append(shared(s, work, wav))
    for sc in scenarios:
        label = str(sc.n) if len(sc.apply) == 1 else f"{sc.n} ({s.projects} x {s.per_project})"
        rows += plan_rows(sc, label)
        rows += apply_rows(sc, label)
    big = max(reversed(scenarios), key=lambda sc: sc.n)  # the shared account when sizes tie
    rows.append(
        Row(
            "peak RSS: plan / apply",
            f"{big.n} ({s.projects} x {s.per_project})" if len(big.apply) > 1 else str(big.n),
            f"{max(p.maxrss_mb for p in big.plan):.0f} / {max(a.maxrss_mb for a in big.apply):.0f} MB",
            "",
            "",
            "the child's own peak RSS (VmHWM), max over the runs; the account holds all the voices",
        )
    )
    print(render(rows))
    print(f"# total bench time {time.perf_counter() - started:.0f} s", flush=True)
    return 0


def startup_rows(s: Settings, env: dict[str, str]) -> list[Row]:
    """Median wall time of `voicectl --help` and `voicectl validate` on the repository's example."""
    help_wall = median_wall(["--help"], env=env, cwd=ROOT, runs=s.runs)
    validate_wall = median_wall(["validate", "--no-color"], env=env, cwd=ROOT, runs=s.runs)
    return [
        Row(
            "start-up: voicectl --help",
            "-",
            fmt_s(help_wall),
            "target 0.30 s",
            f"{help_wall / 0.3:.2f} x target",
            f"median of {s.runs}; imports: {', '.join(heavy_imports(['--help'])) or 'none of the SDKs'}",
        ),
        Row(
            "start-up: voicectl validate (example)",
            "-",
            fmt_s(validate_wall),
            "",
            f"{validate_wall / help_wall:.1f} x --help",
            f"median of {s.runs}; imports: {', '.join(heavy_imports(['validate']))}",
        ),
    ]


if __name__ == "__main__":
    sys.exit(main())
