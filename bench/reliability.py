"""Reliability scenarios: faults, crashes, concurrency and hostile input, with figures.

    python bench/reliability.py --quick              # what CI runs (tests/test_reliability.py), < 90 s
    python bench/reliability.py --full               # 50 SIGKILL seeds and every case, for developers
    python bench/reliability.py --quick --only sigkill-local --out /tmp/R.md

A reconciler that runs unattended on merge must never lose track of a voice, clone one twice, exceed the
quota or leave the state locked for good. Each scenario drives `voicectl` as a real subprocess against the
embedded local provider or the loopback emulator of DashScope/OSS/ICE (tests/emulator, real SDKs, no
mocks), injects its faults, lets the tool recover the way an operator would (rerun, `force-unlock` of a
reported lock), then audits the account and the state with code independent of the code under test
(tests/reliability_support.py). The figures go to RELIABILITY.md (or `--out`); the exit code is 1 when any
scenario found a problem.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
import multiprocessing
import os
import random
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:  # run as a plain script from a checkout
    sys.path.insert(0, ROOT)

from tests.reliability_support import (
    BUCKET,
    COSY,
    COSY3,
    HOLD_REVIEW,
    KEY_PREFIX,
    LEASE_SECONDS,
    QWEN,
    SECRETS,
    STATE_KEY,
    Audit,
    Binding,
    PeakSampler,
    Project,
    Run,
    Voice,
    aliyun_project,
    audit_emulator,
    audit_local,
    delete_object,
    emulator,
    files_under,
    finish_emulator_reviews,
    finish_local_reviews,
    local_count,
    local_live,
    lock_id_in,
    oss_state_keys,
    put_object,
    quota_refusals,
    wait_until,
)

# ------------------------------------------------------------------------------------------ framework

TRACE = bool(os.environ.get("VOICECTL_BENCH_TRACE"))  # print every voicectl run with its exit code and time


@dataclass
class Outcome:
    """What one scenario did and found. `problems` empty and every audit figure zero is a pass."""

    name: str
    title: str
    target: str  # local | emulator | oss
    runs: int = 0  # voicectl invocations
    faults: int = 0  # faults that fired (injected errors, dropped responses, kills, broken locks, bad inputs)
    cases: int = 0  # seeds, cases or sub-scenarios
    converged: int = 0
    lost: int = 0
    duplicated: int = 0
    orphaned: int = 0
    quota_exceeded: int = 0
    locks_left: int = 0
    manual_unlocks: int = 0  # a lock the next run did not take over by itself: someone had to force-unlock it
    figures: list[str] = field(default_factory=list)  # scenario-specific lines for the report
    texts: list[str] = field(default_factory=list, repr=False)  # every run's output, scanned for quota refusals
    second_applies: list[str] = field(default_factory=list)  # recoveries whose first apply did not finish the job
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0
    _mutex: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, runs: Sequence[Run] | Run) -> None:
        runs = [runs] if isinstance(runs, Run) else list(runs)
        if TRACE:
            for r in runs:
                print(f"  [{self.name}] voicectl {' '.join(r.args)} -> {r.rc} in {r.seconds:.1f} s", flush=True)
        with self._mutex:
            self.runs += len(runs)
            self.texts += [r.text for r in runs]

    def add_audit(self, audit: Audit, context: str) -> None:
        with self._mutex:
            self.lost += len(audit.lost)
            self.duplicated += len(audit.duplicated)
            self.orphaned += len(audit.orphaned)
            self.quota_exceeded += audit.quota_exceeded
            self.locks_left += audit.locks_left
            if not audit.clean:
                self.problems.append(f"{context}: {audit.describe()}")

    def problem(self, text: str) -> None:
        with self._mutex:
            self.problems.append(text)

    def check(self, condition: bool, text: str) -> bool:
        if not condition:
            self.problem(text)
        return condition

    def __getstate__(self) -> dict[str, Any]:  # sent back from a worker process: the lock stays behind
        return {k: v for k, v in self.__dict__.items() if k != "_mutex"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, _mutex=threading.Lock())

    @property
    def ok(self) -> bool:
        return not self.problems and not (
            self.lost
            or self.duplicated
            or self.orphaned
            or self.quota_exceeded
            or self.locks_left
            or self.manual_unlocks
        )


@dataclass(frozen=True)
class Mode:
    name: str  # quick | full
    kill_seeds_local: int
    kill_seeds_emulator: int
    hostile: bool  # the hostile-input matrix (tests/test_hostile_input.py runs it in CI)
    jobs: int
    full: bool  # every sub-case; quick keeps one or two of each kind


QUICK = Mode("quick", kill_seeds_local=3, kill_seeds_emulator=1, hostile=False, jobs=3, full=False)
FULL = Mode("full", kill_seeds_local=50, kill_seeds_emulator=50, hostile=True, jobs=3, full=True)
SEED_JOBS = 2  # kill seeds of one scenario run at once


@dataclass
class Context:
    mode: Mode
    work: Path
    seed: int

    def dir(self, *parts: str) -> Path:
        path = self.work.joinpath(*parts)
        path.mkdir(parents=True, exist_ok=True)
        return path


def tail(run: Run | Any, lines: int = 8) -> str:
    text = run.text if hasattr(run, "text") else str(run)
    return " | ".join(text.strip().splitlines()[-lines:])


def converge(project: Project, outcome: Outcome, context: str, *, env: dict[str, str] | None = None) -> bool:
    """An operator's rerun: `apply` (once more if the first one reports an incomplete apply), then
    `plan --detailed-exitcode` must say there is nothing left to do."""
    for attempt in range(2):
        run = project.cli("apply", "--auto-approve", env=env)
        outcome.count(run)
        if run.rc == 0:
            break
        if attempt == 0:
            with outcome._mutex:
                outcome.second_applies.append(f"{context}: {tail(run, 3)}")
    else:
        outcome.problem(f"{context}: apply did not converge: {tail(run)}")
        return False
    check = project.cli("plan", "--detailed-exitcode", env=env)
    outcome.count(check)
    return outcome.check(
        check.rc == 0, f"{context}: plan --detailed-exitcode after apply exited {check.rc}: {tail(check)}"
    )


def recover(project: Project, outcome: Outcome, context: str, *, env: dict[str, str] | None = None) -> int:
    """The apply after a kill, as CI would run it. A lock the killed run left is a lease whose holder is
    gone: the apply takes it over by itself (at once on this host; on OSS once the lease ran out by the
    service's clock, which --lock-timeout waits for). Returns 1 when it took a lock over. A lock still
    reported as held would have needed a person: a manual unlock, counted (and done, so the scenario goes on)."""
    run = project.cli("apply", "--auto-approve", "--lock-timeout", f"{3 * LEASE_SECONDS:g}", env=env)
    outcome.count(run)
    took_over = int("took over the state lock of a run that is gone" in run.err)
    lock_id = lock_id_in(run.err) if run.rc != 0 else None
    if lock_id is None:
        return took_over  # done, or failed for another reason (the caller's convergence check reports it)
    with outcome._mutex:
        outcome.manual_unlocks += 1
    outcome.problem(f"{context}: the next apply did not take the dead run's lock over: {tail(run)}")
    unlock = project.cli("force-unlock", lock_id, "--force", env=env)
    outcome.count(unlock)
    return took_over


# ------------------------------------------------------------------------------------ SIGKILL matrix

# A first config, and a second that changes everything at once: an update (new audio), a replace (model
# change, create before destroy, or destroy before create with the tight quota), a delete, a create, a
# rebind. Kills land in every phase of both applies.
KILL_A = (Voice("v1", 1), Voice("v2", 2), Voice("v3", 3), Voice("v4", 4))
KILL_A_BINDINGS = (Binding("agent-1", "v1"), Binding("agent-2", "v2"))
KILL_B = (Voice("v1", 11), Voice("v2", 2, model=COSY3), Voice("v4", 4), Voice("v5", 5))
KILL_B_BINDINGS = (Binding("agent-1", "v5"), Binding("agent-2", "v2", model=COSY3))

# (name, line that opens the phase, longest random delay after it in seconds)
KILL_POINTS = (
    ("upload", r"will perform|Plan: ", 0.25),
    ("clone", r"audio (already )?uploaded", 0.25),
    ("review", r"waiting for review", 1.0),
    ("bind", r"passed review", 0.25),
    ("delete", r"bound to|unbound", 0.35),  # the old halves of replacements go last, once bindings moved
    ("anywhere", r"$^", 0.0),  # no marker: a uniformly random moment of the run
)
# The phase a kill landed in, from the last progress line before it (upload and clone interleave per voice).
PHASE_OF_LINE = (
    ("delete", re.compile(r": deleted ")),
    ("bind", re.compile(r"bound to|unbound")),
    ("bind", re.compile(r"passed review")),
    ("review", re.compile(r"waiting for review|under review")),
    ("clone", re.compile(r": (created|updated audio|adopted) ")),
    # A voice's create follows its upload in the same worker: after this line one create may be in flight.
    ("upload or clone", re.compile(r"audio (already )?uploaded")),
    ("first steps (deletes that free quota, uploads)", re.compile(r"will perform|Plan: ")),
)


def phase_at_kill(lines: Sequence[tuple[float, str]], at: float) -> str:
    """The phase a kill landed in, from the last progress line printed before it."""
    before = [line for t, line in lines if t <= at]
    for line in reversed(before):
        for phase, rx in PHASE_OF_LINE:
            if rx.search(line):
                return phase
    return "start-up (before the lock)" if not before else "planning"


@dataclass
class KillResult:
    seed: int
    stage: str
    aimed: str
    landed: str
    killed: bool
    taken_over: int  # the next apply took the killed run's lock over (1) or found none left (0)
    audit: Audit | None = None


def kill_and_recover(
    outcome: Outcome,
    seed: int,
    project: Project,
    stage_b: bool,
    slow: Callable[[bool], dict[str, str]],
    auditor: Callable[[Sequence[str], int], Audit],
    count: Callable[[], int],
) -> KillResult:
    """Kill one apply at a seeded point, recover as an operator would, audit. `slow(True)` returns the
    environment (and sets the emulator's latency) that stretches the killed run so the kill lands mid-phase."""
    rng = random.Random(seed)
    points = KILL_POINTS if stage_b else tuple(p for p in KILL_POINTS if p[0] != "delete")
    aimed, pattern, spread = rng.choice(points)
    context = f"seed {seed} (stage {'B' if stage_b else 'A'}, aimed at {aimed})"
    with PeakSampler(count) as sampler:
        proc = project.spawn("apply", "--auto-approve", env=slow(True))
        if aimed == "anywhere":
            time.sleep(rng.uniform(0.4, 4.0))
        elif proc.wait_for(pattern, timeout=90):
            time.sleep(rng.uniform(0.0, spread))
        at = time.monotonic() - proc.started
        killed = proc.kill()
        slow(False)
        outcome.count(Run(proc.args, proc.proc.returncode, proc.text, "", at))
        landed = phase_at_kill(proc.lines, at) if killed else "after exit (finished first)"
        taken_over = recover(project, outcome, context)
        ok = converge(project, outcome, context)
    desired = [v.name for v in (KILL_B if stage_b else KILL_A)]
    audit = auditor(desired, sampler.peak)
    outcome.add_audit(audit, context)
    if ok:
        with outcome._mutex:
            outcome.converged += 1
    return KillResult(seed, "B" if stage_b else "A", aimed, landed, killed, taken_over, audit)


def report_kills(outcome: Outcome, results: Sequence[KillResult]) -> None:
    outcome.cases = len(results)
    outcome.faults = sum(r.killed for r in results)
    locks = sum(r.taken_over for r in results)
    landed = Counter(r.landed for r in results if r.killed)
    how = (
        "at once, its holder's process being gone"
        if outcome.target == "local"
        else f"once its {LEASE_SECONDS:g} s lease ran out by the service's clock"
    )
    outcome.figures.append(
        f"{outcome.faults} of {len(results)} applies killed (the others finished before their kill point); the kills "
        f"left {locks} lock{'s' if locks != 1 else ''} behind, each taken over by the next apply ({how}, the dead holder named in a note); "
        f"{outcome.manual_unlocks} needed `force-unlock`"
    )
    outcome.figures.append("kills by phase: " + ", ".join(f"{k} {v}" for k, v in sorted(landed.items())))
    stages = Counter(r.stage for r in results)
    outcome.figures.append(
        f"stage A (first apply: 4 creates, 2 binds) {stages['A']}; stage B (update, replace, delete, create, "
        f"rebind; one in three with a quota so tight the replace is destroy-before-create) {stages['B']}"
    )


def scenario_sigkill_local(ctx: Context) -> Outcome:
    outcome = Outcome("sigkill-local", "SIGKILL of `voicectl apply` at random points (local provider)", "local")
    seeds = [ctx.seed * 1000 + i for i in range(ctx.mode.kill_seeds_local)]
    base = ctx.dir("sigkill-local")
    fresh = Project(base / "template-a", quota=8)
    fresh.write(KILL_A, KILL_A_BINDINGS)
    applied = fresh.copy_to(base / "template-b")
    fast = {"VOICECTL_LOCAL_REVIEW_DELAY": "0.3"}
    applied.env.update(fast)
    if not converge(applied, outcome, "template"):
        return outcome

    def one(seed: int) -> KillResult:
        rng = random.Random(seed)
        stage_b = rng.random() < 0.7
        project = (applied if stage_b else fresh).copy_to(base / f"seed-{seed}")
        project.env.update(fast)
        if stage_b:
            project.quota = 4 if rng.random() < 0.34 else 8
            project.write(KILL_B, KILL_B_BINDINGS)
        latency = f"{rng.uniform(0.03, 0.12):.3f}"

        def slow(on: bool) -> dict[str, str]:
            return {"VOICECTL_LOCAL_LATENCY": latency, "VOICECTL_LOCAL_REVIEW_DELAY": "1.0"} if on else {}

        def auditor(desired: Sequence[str], peak: int) -> Audit:
            return audit_local(project, desired, peak=peak)

        return kill_and_recover(outcome, seed, project, stage_b, slow, auditor, local_count(project))

    with ThreadPoolExecutor(SEED_JOBS) as pool:
        results = list(pool.map(one, seeds))
    report_kills(outcome, results)
    return outcome


def with_instances(bindings: Sequence[Binding]) -> tuple[Binding, ...]:
    """The same bindings, each re-pointing one running AI agent instance (UpdateAIAgentInstance)."""
    return tuple(Binding(b.agent, b.voice, b.model, (f"inst-{b.agent}",)) for b in bindings)


def scenario_sigkill_emulator(ctx: Context) -> Outcome:
    outcome = Outcome(
        "sigkill-emulator",
        "SIGKILL of `voicectl apply` at random points (aliyun provider on the emulator, state and lock on OSS)",
        "emulator",
    )
    seeds = [ctx.seed * 1000 + 500 + i for i in range(ctx.mode.kill_seeds_emulator)]
    base = ctx.dir("sigkill-emulator")
    rates: list[float] = []

    def one(seed: int) -> KillResult:
        rng = random.Random(seed)
        stage_b = rng.random() < 0.7
        quota = 4 if stage_b and rng.random() < 0.34 else 8
        with emulator(review_delay=0.3, voice_limit=quota) as emu:
            for agent in ("agent-1", "agent-2"):
                emu.add_instance(f"inst-{agent}", agent, {})
            project = aliyun_project(base / f"seed-{seed}", emu, quota=quota, state_backend="oss")
            project.write(KILL_A, with_instances(KILL_A_BINDINGS))
            if stage_b:
                if not converge(project, outcome, f"seed {seed} (stage A before the kill)"):
                    return KillResult(seed, "B", "-", "-", False, 0)
                project.write(KILL_B, with_instances(KILL_B_BINDINGS))
            latency = rng.uniform(0.02, 0.08)

            def slow(on: bool) -> dict[str, str]:
                emu.latency, emu.review_delay = (latency, 1.0) if on else (0.0, 0.3)
                return {}

            def auditor(desired: Sequence[str], peak: int) -> Audit:
                return audit_emulator(emu, project, desired, peak=peak)

            result = kill_and_recover(outcome, seed, project, stage_b, slow, auditor, lambda: len(emu.voices()))
            rates.append(emu.max_rate("dashscope", family="cosyvoice"))
            return result

    # Each seed has an emulator of its own and mostly waits on it (latency, reviews, the lease): more at once.
    with ThreadPoolExecutor(SEED_JOBS + 1) as pool:
        results = list(pool.map(one, seeds))
    report_kills(outcome, results)
    worst = max(rates, default=0.0)
    outcome.figures.append(f"highest CosyVoice request rate seen in any one-second window: {worst:g}/s (limit 10)")
    outcome.check(worst <= 10, f"the client let {worst:g} requests/s reach DashScope (limit 10)")
    return outcome


# ------------------------------------------------------------------------------- throttling and 5xx

# Every kind of call the aliyun provider makes, with how many of its first calls fail.
FAULT_TARGETS = (
    ("dashscope", "list_voice", 2),
    ("dashscope", "query_voice", 2),
    ("dashscope", "create_voice", 3),
    ("dashscope", "update_voice", 2),
    ("dashscope", "delete_voice", 2),
    ("dashscope", "list", 2),  # Qwen
    ("dashscope", "create", 1),  # Qwen
    ("oss", "HeadObject", 2),
    ("oss", "PutObject", 2),
    ("oss", "GetObject", 2),
    ("oss", "ListObjectsV2", 2),
    ("ice", "UpdateAIAgentInstance", 2),
)


def scenario_faults(kind: str) -> Callable[[Context], Outcome]:
    """`kind` 429 or 500 on every kind of call (full mode). Quick mode runs one lifecycle, under faults-429,
    with 429 and 500 alternating over the kinds of call, and skips faults-500."""

    def run(ctx: Context) -> Outcome:
        what = "throttling (HTTP 429)" if kind == "429" else "server errors (HTTP 500)"
        outcome = Outcome(f"faults-{kind}", f"{what} on every kind of call", "emulator")
        if not ctx.mode.full:
            if kind == "500":
                outcome.figures.append("full mode only (quick mode alternates 429 and 500 in faults-429)")
                return outcome
            outcome.title = "throttling (HTTP 429) and server errors (HTTP 500), alternating over every kind of call"
        # (service, action, fault, times): quick mode fails each kind of call once; full mode, the table's bursts.
        targets = [
            (s, a, kind if ctx.mode.full else ("429", "500")[i % 2], t if ctx.mode.full else 1)
            for i, (s, a, t) in enumerate(FAULT_TARGETS)
        ]
        with emulator(review_delay=0.3) as emu:
            emu.add_instance("inst-1", "agent-1", {})
            project = aliyun_project(ctx.dir("project"), emu, prefix="flt", state_backend="oss")
            # Twelve voices make a burst the client must pace to 10 requests a second.
            count = 12
            first = [Voice(f"t{i:02d}", 100 + i) for i in range(count)] + [Voice("tq", 150, model=QWEN)]
            bindings = [Binding("agent-1", "t01", instances=("inst-1",))]
            project.write(first, bindings)
            # A voice an earlier run created but never recorded: reading the account queries it and adopts it.
            sha = hashlib.sha256((project.dir / project.audio_ref(first[0])).read_bytes()).hexdigest()
            key = quote(f"{KEY_PREFIX}t00/{sha}.wav", safe="")
            emu.add_voice(f"{COSY}-flt-{'0' * 31}1", COSY, "OK", resource_link=f"{emu.oss_endpoint}/{BUCKET}/{key}")
            for service, action, fault, times in targets:
                emu.inject(service, action, fault, times=times)
            outcome.cases = 2
            if converge(project, outcome, f"{count + 1} voices, an orphan to adopt, a binding with an instance"):
                outcome.converged += 1
            # Second step: an update (new audio), two deletes and a rebind.
            second = [Voice("t02", 202) if v.name == "t02" else v for v in first if v.name not in ("t03", "t04")]
            project.write(second, [Binding("agent-1", "t05", instances=("inst-1",))])
            if converge(project, outcome, "an update, two deletes, a rebind"):
                outcome.converged += 1
            fired = Counter((c.service, c.action, c.fault) for c in emu.calls if c.fault in ("429", "500"))
            outcome.faults = sum(fired.values())
            for service, action, fault, times in targets:
                got = fired[(service, action, fault)]
                outcome.check(got == times, f"{service} {action}: {got} of {times} {fault} faults fired")
            unasked = sum(1 for c in emu.calls if c.status == 429 and c.fault is None)
            outcome.check(unasked == 0, f"the emulator throttled {unasked} requests on its own (rate limit exceeded)")
            # Each enrollment family has its own budget: CosyVoice 10 per second, Qwen 3 (180 per minute).
            rate = emu.max_rate("dashscope", family="cosyvoice")
            qwen_rate = emu.max_rate("dashscope", family="qwen")
            outcome.check(rate <= 10, f"{rate:g} CosyVoice requests in one second (limit 10)")
            outcome.check(qwen_rate <= 3, f"{qwen_rate:g} Qwen requests in one second (limit 3)")
            outcome.figures += [
                f"{count + 1} voices (one Qwen) and an orphan to adopt; then an update, two deletes and a rebind",
                "faults fired: " + ", ".join(f"{s} {a} {f} x{fired[(s, a, f)]}" for s, a, f, _ in targets),
                f"DashScope: {emu.count('dashscope')} requests, at most {rate:g} CosyVoice and {qwen_rate:g} Qwen in "
                f"any one-second window (limits 10 and 3); requests the emulator throttled on its own: {unasked}",
            ]
            outcome.add_audit(audit_emulator(emu, project, [v.name for v in second]), outcome.name)
        return outcome

    return run


# --------------------------------------------------------------------------------- lost responses


def scenario_lost_create(ctx: Context) -> Outcome:
    outcome = Outcome("lost-create", "create responses lost after or before the voice was made", "emulator")
    # 1: the connection drops after the server made the voice (twice), before it did (once), and a Qwen create
    # whose answer is lost. The adapter looks the voice up before cloning again.
    with emulator(review_delay=0.2) as emu:
        project = aliyun_project(ctx.dir("dropped"), emu, prefix="lost")
        voices = [Voice(f"c{i}", 300 + i) for i in range(1, 5)] + [Voice("q1", 310, model=QWEN)]
        project.write(voices)
        emu.inject("dashscope", "create_voice", "drop_after_commit", times=2)
        emu.inject("dashscope", "create_voice", "drop_before_commit", times=1, after=2)
        emu.inject("dashscope", "create", "drop_after_commit", times=1)
        if converge(project, outcome, "dropped create responses"):
            outcome.converged += 1
        dropped = [c for c in emu.calls if c.fault and c.fault.startswith("drop")]
        creates = emu.count("dashscope", "create_voice") + emu.count("dashscope", "create")
        outcome.faults += len(dropped)
        outcome.figures.append(
            f"{len(dropped)} create responses dropped ({sum(c.fault == 'drop_after_commit' for c in dropped)} after "
            f"the voice was made); {creates} create requests for {len(voices)} voices; "
            f"{len(emu.voices())} voices in the account"
        )
        outcome.add_audit(audit_emulator(emu, project, [v.name for v in voices]), "dropped create responses")
    # 2: the answer is lost and so is every lookup after it: the apply gives up on that voice, saying the next
    # run will recognise it, and the next run adopts it instead of cloning again.
    with emulator(review_delay=0.2) as emu:
        project = aliyun_project(ctx.dir("lookup-failed"), emu, prefix="lost")
        voices = [Voice("d1", 320)]
        project.write(voices)
        emu.inject("dashscope", "create_voice", "drop_after_commit", times=1)
        emu.inject("dashscope", "list_voice", "500", times=6, after=1)
        first = project.cli("apply", "--auto-approve")
        outcome.count(first)
        outcome.faults += 7
        outcome.check(
            first.rc == 1 and "recognises it" in first.text,
            f"a create whose answer and lookups were lost should fail saying the next run recognises it: {tail(first)}",
        )
        if converge(project, outcome, "rerun after a lost create and failed lookups"):
            outcome.converged += 1
        creates = emu.count("dashscope", "create_voice")
        outcome.check(creates == 1, f"{creates} create requests for one voice")
        outcome.figures.append(
            f"create answer lost and 6 lookups failed: apply exit {first.rc}, the rerun adopted the voice "
            f"({creates} create request in all, {len(emu.voices())} voice in the account)"
        )
        outcome.add_audit(audit_emulator(emu, project, ["d1"]), "lost create with failed lookups")
    outcome.cases = 2
    return outcome


# ------------------------------------------------------------------------------------- concurrency


@dataclass
class HeldReviews:
    """A project whose reviews a scenario holds open (`hold()`, the env for the run that creates) and ends
    (`release()`), so that who holds the lock when is decided by the scenario, not by how fast a loaded
    machine starts Python; on the local provider or on an emulator with the OSS state."""

    project: Project
    emu: Any = None

    @classmethod
    def open(cls, stack: contextlib.ExitStack, ctx: Context, target: str, *, prefix: str) -> HeldReviews:
        if target == "local":
            return cls(Project(ctx.dir("project"), prefix=prefix, env={"VOICECTL_LOCAL_REVIEW_DELAY": "0.2"}))
        emu = stack.enter_context(emulator(review_delay=0.2))
        return cls(aliyun_project(ctx.dir("project"), emu, prefix=prefix, state_backend="oss"), emu)

    def hold(self) -> dict[str, str]:
        if self.emu is None:
            return {"VOICECTL_LOCAL_REVIEW_DELAY": str(HOLD_REVIEW)}
        self.emu.review_delay = HOLD_REVIEW
        return {}

    def release(self) -> int:
        if self.emu is None:
            return finish_local_reviews(self.project)
        self.emu.review_delay = 0.2
        return finish_emulator_reviews(self.emu)

    def audit(self, names: Sequence[str]) -> Audit:
        return audit_local(self.project, names) if self.emu is None else audit_emulator(self.emu, self.project, names)


def scenario_concurrency(target: str) -> Callable[[Context], Outcome]:
    """Reviews are held open until the scenario ends them, so who holds the lock when is decided by the
    scenario, not by how fast a loaded machine starts Python."""

    def run(ctx: Context) -> Outcome:
        where = "local state file" if target == "local" else "OSS state on the emulator"
        outcome = Outcome(f"concurrency-{target}", f"two applies at once on one state ({where})", target)
        with contextlib.ExitStack() as stack:
            held = HeldReviews.open(stack, ctx, target, prefix="conc")
            project, hold, release, audit = held.project, held.hold, held.release, held.audit

            def is_locked_out(text: str) -> bool:
                return "state is locked" in text and "held by" in text and "operation apply" in text

            voices = [Voice("k1", 401), Voice("k2", 402), Voice("k3", 403)]
            project.write(voices, [Binding("agent-1", "k1")])
            # 1: two applies start together, neither waits: exactly one proceeds, the other names the holder.
            env = hold()
            a = project.spawn("apply", "--auto-approve", "--lock-timeout", "0", env=env)
            b = project.spawn("apply", "--auto-approve", "--lock-timeout", "0", env=env)
            one_ended = wait_until(lambda: a.proc.poll() is not None or b.proc.poll() is not None)
            release()
            codes = sorted([a.finish(), b.finish()])
            outcome.count(
                [Run(a.args, a.proc.returncode, a.text, "", 0), Run(b.args, b.proc.returncode, b.text, "", 0)]
            )
            loser = a if a.proc.returncode else b
            outcome.check(one_ended and codes == [0, 1], f"race: exit codes {codes}, expected one 0 and one 1")
            outcome.check(
                is_locked_out(loser.text), f"race: the refused apply does not name the holder: {tail(loser.text)}"
            )
            outcome.add_audit(audit([v.name for v in voices]), "race")
            outcome.cases += 1
            # 2: the second one waits (--lock-timeout) and then finds nothing left to do (quick: local only).
            voices.append(Voice("k4", 404))
            project.write(voices, [Binding("agent-1", "k1")])
            if target == "local" or ctx.mode.full:
                a = project.spawn("apply", "--auto-approve", env=hold())
                a.wait_for(r"waiting for review")
                b = project.spawn("apply", "--auto-approve", "--lock-timeout", "120")
                time.sleep(2.0)  # long enough for the second to reach the lock; it cannot pass it
                waited = b.proc.poll() is None
                release()
                rc_a, rc_b = a.finish(), b.finish()
                outcome.count([Run(a.args, rc_a, a.text, "", 0), Run(b.args, rc_b, b.text, "", 0)])
                outcome.check(waited and rc_a == 0, f"wait: exit {rc_a} of the first apply: {tail(a.text)}")
                outcome.check(
                    rc_b == 0 and "No changes" in b.text,
                    f"wait: the waiting apply should find nothing left to do: exit {rc_b}: {tail(b.text)}",
                )
                outcome.add_audit(audit([v.name for v in voices]), "wait")
                outcome.cases += 1
            # 3: a lock broken under a running apply: the apply that takes over writes newer state, and the
            # broken writer must stop instead of overwriting it.
            voices.append(Voice("k5", 405))
            project.write(voices, [Binding("agent-1", "k1"), Binding("agent-5", "k5")])
            a = project.spawn("apply", "--auto-approve", env=hold())
            reviewing = a.wait_for(r"waiting for review")
            blocked = project.cli("apply", "--auto-approve", "--lock-timeout", "0")
            lock_id = lock_id_in(blocked.err)
            outcome.check(
                reviewing and lock_id is not None and is_locked_out(blocked.err),
                f"broken lock: the running apply's lock was not reported: {tail(blocked)}",
            )
            unlock = project.cli("force-unlock", lock_id or "-", "--force")
            outcome.check(unlock.rc == 0, f"broken lock: force-unlock failed: {tail(unlock)}")
            d = project.spawn("apply", "--auto-approve", "--lock-timeout", "30")
            taken_over = d.wait_for(r"waiting for review")  # holds the lock and waits for the same review
            release()
            rc_d, rc_a = d.finish(), a.finish()
            outcome.count([blocked, unlock, Run(d.args, rc_d, d.text, "", 0), Run(a.args, rc_a, a.text, "", 0)])
            outcome.check(
                taken_over and rc_d == 0, f"broken lock: the apply that took over: exit {rc_d}: {tail(d.text)}"
            )
            outcome.check(
                rc_a == 1 and re.search(r"lost the state lock|lock .*(was )?broken", a.text) is not None,
                f"broken lock: the broken writer should stop with a conflict: exit {rc_a}: {tail(a.text)}",
            )
            converge(project, outcome, "broken lock")
            outcome.add_audit(audit([v.name for v in voices]), "broken lock")
            outcome.cases += 1
            outcome.faults = outcome.cases
            outcome.converged = outcome.cases if outcome.ok else 0
            outcome.figures.append(
                "race: one apply proceeded, the other exited 1 naming the holder"
                + ("; --lock-timeout: the second waited and then found no changes" if outcome.cases == 3 else "")
                + "; force-unlock under a running apply: the apply that took over finished, the broken writer exited"
                ' 1 ("lock was broken") without writing'
            )
        return outcome

    return run


# ----------------------------------------------------------------------------------- failed review


def scenario_lease(target: str) -> Callable[[Context], Outcome]:
    """A lock is a lease. A holder frozen (SIGSTOP) past its lease loses the lock to the next apply, which takes
    it over by itself, and once woken (SIGCONT) changes nothing and exits 1. Of two applies that find a killed
    run's lock, exactly one takes it over; the other names the new holder."""

    def run(ctx: Context) -> Outcome:
        where = "local state file" if target == "local" else "OSS state on the emulator"
        outcome = Outcome(f"lease-{target}", f"a holder stopped past its lease, and two takers ({where})", target)
        with contextlib.ExitStack() as stack:
            held = HeldReviews.open(stack, ctx, target, prefix="lease")
            project, hold, release, audit = held.project, held.hold, held.release, held.audit

            wait = f"{3 * LEASE_SECONDS:g}"
            voices = [Voice("s1", 501), Voice("s2", 502)]
            project.write(voices, [Binding("agent-1", "s1")])
            # 1: frozen past the lease while its voices are under review; the next apply takes over and
            # finishes the job; the frozen one, woken, must not write or change anything.
            a = project.spawn("apply", "--auto-approve", env=hold())
            reviewing = a.wait_for(r"waiting for review")
            a.stop()
            time.sleep(LEASE_SECONDS + 2.0)
            release()
            b = project.cli("apply", "--auto-approve", "--lock-timeout", wait)
            a.cont()
            rc_a = a.finish()
            outcome.count([b, Run(a.args, rc_a, a.text, "", 0)])
            outcome.faults += 1
            outcome.check(
                reviewing and b.rc == 0 and "took over the state lock of a run that is gone" in b.err,
                f"stopped holder: the next apply did not take the lock over: exit {b.rc}: {tail(b)}",
            )
            outcome.check(
                rc_a == 1 and "lost the state lock" in a.text,
                f"stopped holder: woken past its lease it should exit 1, saying it lost the lock: exit {rc_a}: "
                f"{tail(a.text)}",
            )
            if converge(project, outcome, "stopped holder"):
                outcome.converged += 1
            outcome.add_audit(audit([v.name for v in voices]), "stopped holder")
            outcome.cases += 1
            # 2: a run killed while holding the lock; two applies start together: exactly one takes it over.
            voices.append(Voice("s3", 503))
            project.write(voices, [Binding("agent-1", "s1")])
            a = project.spawn("apply", "--auto-approve", env=hold())
            a.wait_for(r"waiting for review")
            a.kill()
            outcome.faults += 1
            if target != "local":
                time.sleep(LEASE_SECONDS + 2.0)  # only the lease frees it: the holder's host is not ours to judge
            b = project.spawn("apply", "--auto-approve", "--lock-timeout", "0")
            c = project.spawn("apply", "--auto-approve", "--lock-timeout", "0")
            one_ended = wait_until(lambda: b.proc.poll() is not None or c.proc.poll() is not None)
            release()
            codes = sorted([b.finish(), c.finish()])
            outcome.count([Run(x.args, x.proc.returncode or 0, x.text, "", 0) for x in (a, b, c)])
            winner, loser = (b, c) if b.proc.returncode == 0 else (c, b)
            outcome.check(one_ended and codes == [0, 1], f"two takers: exit codes {codes}, expected one 0 and one 1")
            outcome.check(
                "took over the state lock of a run that is gone" in winner.text,
                f"two takers: the one that proceeded did not say it took the lock over: {tail(winner.text)}",
            )
            outcome.check(
                "state is locked" in loser.text and "took over" not in loser.text,
                f"two takers: the other should find the new holder's lock: {tail(loser.text)}",
            )
            if converge(project, outcome, "two takers"):
                outcome.converged += 1
            outcome.add_audit(audit([v.name for v in voices]), "two takers")
            outcome.cases += 1
        outcome.figures.append(
            f"lease {LEASE_SECONDS:g} s (VOICECTL_LOCK_LEASE), renewed every {LEASE_SECONDS / 3:.2f} s; "
            + (
                "a dead holder on this host is taken over at once, a stopped one once its lease ran out"
                if target == "local"
                else "expiry judged by the emulator's clock (Date vs the renewal's Last-Modified)"
            )
        )
        return outcome

    return run


def scenario_review(target: str) -> Callable[[Context], Outcome]:
    def run(ctx: Context) -> Outcome:
        outcome = Outcome(f"review-{target}", "one voice fails its review (UNDEPLOYED), the others complete", target)
        if target != "local" and not ctx.mode.full:
            outcome.figures.append("full mode only (quick mode runs the local variant)")
            return outcome
        with contextlib.ExitStack() as stack:
            if target == "local":
                project = Project(ctx.dir("project"), prefix="rvw", env={"VOICECTL_LOCAL_REVIEW_DELAY": "0.3"})

                def audit(names: Sequence[str]) -> Audit:
                    return audit_local(project, names)
            else:
                emu = stack.enter_context(emulator(review_delay=0.3))
                project = aliyun_project(ctx.dir("project"), emu, prefix="rvw")

                def audit(names: Sequence[str]) -> Audit:
                    return audit_emulator(emu, project, names)

            voices = [Voice("r1", 501), Voice("r2", 502, silent=True), Voice("r3", 503)]
            bindings = [Binding("agent-1", "r1"), Binding("agent-2", "r2")]
            project.write(voices, bindings)
            first = project.cli("apply", "--auto-approve")
            outcome.count(first)
            text = first.text
            failed = [line for line in text.splitlines() if "voice.r2" in line and "failed review" in line]
            outcome.check(first.rc == 1, f"apply with a failed review exited {first.rc}")
            outcome.check(
                bool(failed) and all(w in failed[0] for w in ("content", "format", "clarity", "noise")),
                f"the failure does not carry the review checklist: {tail(first)}",
            )
            for name in ("r1", "r3"):
                passed = any(f"voice.{name}:" in line and "passed review" in line for line in text.splitlines())
                outcome.check(passed, f"{name} did not complete: {tail(first)}")
            outcome.check("binding.agent-1.tts: bound to r1" in text, f"the binding of r1 was not made: {tail(first)}")
            planned = project.cli("plan", "--format", "json")
            outcome.count(planned)
            drift = json.loads(planned.out).get("drift", []) if planned.out.startswith("{") else []
            outcome.check(
                any(d["address"] == "voice.r2" and d["reason"] == "review_failed" for d in drift),
                f"the next plan does not show the failed review: {planned.out[:500]}",
            )
            # New audio for the failed voice is an update; then everything converges.
            voices[1] = Voice("r2", 512)
            project.write(voices, bindings)
            if converge(project, outcome, "after new audio"):
                outcome.converged = 1
            outcome.add_audit(audit([v.name for v in voices]), "review failure")
            outcome.cases, outcome.faults = 1, 1
            outcome.figures.append(
                "apply exit 1; r1 and r3 passed and r1 was bound; r2 reported with the checklist (content, format, "
                "clarity, noise); the next plan lists it as review_failed drift; new audio for r2 converged"
            )
        return outcome

    return run


# ------------------------------------------------------------------------------------------ secrets

# Where the emulator legitimately sees credentials: OSS signature and token parameters and headers, and the
# signed audio URL handed to the cloning service (it must carry the STS token for OSS to accept it).
_AUTH_KEYS = {"x-oss-security-token", "x-oss-signature", "x-oss-credential", "authorization", "securitytoken"}


def _without_auth(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_auth(v) for k, v in value.items() if str(k).lower() not in _AUTH_KEYS}
    if isinstance(value, list):
        return [_without_auth(v) for v in value]
    if isinstance(value, str) and "x-oss-" in value.lower():
        return re.sub(r"(?i)([?&])(x-oss-security-token|x-oss-signature|x-oss-credential)=[^&]*", r"\1\2=-", value)
    return value


SIGNED = re.compile(r"(?i)x-oss-signature|x-oss-credential|x-oss-security-token|[?&]signature=|OSSAccessKeyId")


def scenario_secrets(ctx: Context) -> Outcome:
    outcome = Outcome("secrets", "credentials and signed URLs never leak (-v, errors, files, requests)", "emulator")
    with emulator(review_delay=0.3) as emu:
        emu.add_instance("inst-1", "agent-1", {})
        report_dir = ctx.dir("project")
        project = aliyun_project(report_dir, emu, prefix="sec", state_backend="oss")
        voices = [Voice("s1", 601), Voice("s2", 602), Voice("s3", 603, silent=True), Voice("sq", 604, model=QWEN)]
        project.write(voices, [Binding("agent-1", "s1", instances=("inst-1",))])
        emu.inject("dashscope", "create_voice", "500", times=1)
        emu.inject("dashscope", "create_voice", "drop_after_commit", times=1, after=1)
        emu.inject("dashscope", "list_voice", "429", times=1)
        emu.inject("oss", "PutObject", "500", times=1)
        emu.inject("ice", "UpdateAIAgentInstance", "500", times=1)
        plan = project.cli("plan", "-v", "--out", "plan.json")
        applied = project.cli("apply", "plan.json", "-v", "--report", "report.md")
        again = project.cli("apply", "--auto-approve", "-v", "--report", "report2.md")
        runs = [plan, applied, again, project.cli("plan", "-v", "--format", "markdown")]
        if ctx.mode.full:
            runs += [
                project.cli("validate", "-v"),
                project.cli("show", "plan.json", "--format", "json"),
                project.cli("plan", "-v", "--format", "json", "--out", "plan2.json"),
                project.cli("voices", "-v", "--all", "--format", "json"),
                project.cli("state", "list", "-v"),
                project.cli("agent-config", "agent-1", "-v"),
            ]
        # Refused credentials: the error must not echo the key it was given.
        revoked = project.cli("plan", "-v", env={"DASHSCOPE_API_KEY": SECRETS[0] + "-revoked"})
        runs.append(revoked)
        outcome.count(runs)
        outcome.faults = 6
        outcome.check(applied.rc in (0, 1) and "Traceback" not in applied.text, f"apply crashed: {tail(applied)}")
        outcome.check(revoked.rc == 1, f"a refused API key should fail the plan: {tail(revoked)}")
        leaks: list[str] = []
        for run in runs:
            for secret in SECRETS:
                if secret in run.text:
                    leaks.append(f"`voicectl {' '.join(run.args)}` output")
        files = list(files_under(project.dir))
        for path in files:
            data = path.read_bytes()
            for secret in SECRETS:
                if secret.encode() in data:
                    leaks.append(str(path.relative_to(project.dir)))
            if path.suffix in (".json", ".md") and SIGNED.search(data.decode("utf-8", "replace")):
                leaks.append(f"{path.relative_to(project.dir)} holds a signed URL")
        state_objects = {k: v for k, v in emu.objects(BUCKET).items() if k.startswith(STATE_KEY)}
        for key, data in state_objects.items():
            text = data.decode("utf-8", "replace")
            if any(s in text for s in SECRETS) or SIGNED.search(text):
                leaks.append(f"oss://{BUCKET}/{key}")
        carried = 0  # requests that legitimately carry the STS token: proof that the search can find one
        for call in emu.calls:
            carried += any(s in json.dumps(call.params) for s in SECRETS)
            text = json.dumps(_without_auth(call.params))
            if any(s in text for s in SECRETS):
                leaks.append(f"{call.service} {call.action} request parameters")
        outcome.check(carried > 0, "no request carried the STS token where it belongs: the search proves nothing")
        for leak in sorted(set(leaks)):
            outcome.problem(f"secret or signed URL found in {leak}")
        outcome.cases = outcome.converged = 1
        outcome.figures.append(
            f"searched {len(runs)} outputs (all with -v, faults and a failed review on the way), {len(files)} files "
            f"under the project, {len(state_objects)} state objects and {len(emu.calls)} recorded requests for "
            f"{len(SECRETS)} secrets (API key, AccessKey secret, STS token) and for signed-URL query parameters: "
            f"{len(set(leaks))} found ({carried} requests carry the STS token where it belongs: signed audio URLs and "
            "x-oss-security-token)"
        )
    return outcome


# ------------------------------------------------------------------------------------ corrupt state

CORRUPTIONS: tuple[tuple[str, Callable[[bytes], bytes | None]], ...] = (
    ("truncated", lambda data: data[: len(data) // 2]),
    ("empty", lambda data: b""),
    ("garbage", lambda data: bytes(range(256)) * 4),
    ("json array", lambda data: b"[1, 2, 3]\n"),
    ("wrong shape", lambda data: b'{"version": 1, "serial": 7, "lineage": "x", "voices": [1]}\n'),
    ("not UTF-8", lambda data: data.replace(b'"', b"\xff", 1)),
    ("deleted", lambda data: None),
)


def scenario_corrupt_local(ctx: Context) -> Outcome:
    outcome = Outcome("corrupt-state-local", "corrupt or truncated state file (local backend)", "local")
    cases = CORRUPTIONS if ctx.mode.full else CORRUPTIONS[:1]
    template = Project(ctx.dir("template"), prefix="cor", env={"VOICECTL_LOCAL_REVIEW_DELAY": "0.2"})
    voices = [Voice("x1", 701), Voice("x2", 702)]
    template.write(voices, [Binding("agent-1", "x1")])
    if not converge(template, outcome, "template"):
        return outcome
    for i, (name, corrupt) in enumerate(cases):
        project = template.copy_to(ctx.work / f"case-{i}")
        good = project.state_path.read_bytes()
        bad = corrupt(good)
        if bad is None:
            project.state_path.unlink()
        else:
            project.state_path.write_bytes(bad)
        live_before = sorted(e.voice_id for e in local_live(project))
        for args in (("plan",), ("apply", "--auto-approve")):
            run = project.cli(*args)
            outcome.count(run)
            outcome.check(run.rc == 1 and "Traceback" not in run.text, f"{name}: {args[0]} exit {run.rc}: {tail(run)}")
            outcome.check(
                "restore it with" in run.err and "state.history" in run.err,
                f"{name}: {args[0]} names no previous version: {tail(run)}",
            )
            now = project.state_path.read_bytes() if project.state_path.exists() else None
            outcome.check(now == bad, f"{name}: {args[0]} changed the state file")
            outcome.check(not project.lock_path.exists(), f"{name}: {args[0]} left the lock")
        outcome.check(sorted(e.voice_id for e in local_live(project)) == live_before, f"{name}: the account changed")
        # Follow the message's own recovery command.
        command = re.search(r"^\s*cp (\S+) (\S+)\s*$", run.err, re.MULTILINE)
        if outcome.check(command is not None, f"{name}: no cp command in the message"):
            assert command is not None
            src, dst = (project.dir / shlex.split(command.group(g))[0] for g in (1, 2))
            shutil.copyfile(src, dst)
            if converge(project, outcome, f"{name}: after restoring the named version"):
                outcome.converged += 1
        outcome.add_audit(audit_local(project, [v.name for v in voices]), name)
    outcome.cases = outcome.faults = len(cases)
    outcome.figures.append(
        f"{len(cases)} corruptions ({', '.join(n for n, _ in cases)}): plan and apply exit 1 naming the newest readable "
        "previous serial with the command to restore it; state bytes unchanged, no lock left, account untouched; "
        "running that command and a plan converged"
    )
    return outcome


def scenario_corrupt_oss(ctx: Context) -> Outcome:
    outcome = Outcome("corrupt-state-oss", "corrupt or truncated state version (OSS backend)", "emulator")
    cases = CORRUPTIONS[:3] if ctx.mode.full else CORRUPTIONS[:1]
    for i, (name, corrupt) in enumerate(cases):
        with emulator(review_delay=0.2) as emu:
            project = aliyun_project(ctx.dir(f"case-{i}"), emu, prefix="cor", state_backend="oss")
            voices = [Voice("x1", 711), Voice("x2", 712)]
            project.write(voices, [Binding("agent-1", "x1")])
            if not converge(project, outcome, f"{name}: setup"):
                continue
            keys = oss_state_keys(emu)
            newest = keys[-1]
            bad = corrupt(emu.objects(BUCKET)[newest]) or b""
            put_object(emu, newest, bad)
            before = emu.objects(BUCKET)
            live_before = sorted(v["voice_id"] for v in emu.voices())
            for args in (("plan",), ("apply", "--auto-approve")):
                run = project.cli(*args)
                outcome.count(run)
                outcome.check(
                    run.rc == 1 and "Traceback" not in run.text, f"{name}: {args[0]} exit {run.rc}: {tail(run)}"
                )
                outcome.check(keys[-2] in run.err, f"{name}: {args[0]} does not name the previous version: {tail(run)}")
                outcome.check(emu.objects(BUCKET) == before, f"{name}: {args[0]} changed the bucket")
            outcome.check(sorted(v["voice_id"] for v in emu.voices()) == live_before, f"{name}: the account changed")
            # The message's recovery: delete the corrupt version, the previous one becomes current.
            delete_object(emu, newest)
            if converge(project, outcome, f"{name}: after removing the corrupt version"):
                outcome.converged += 1
            outcome.add_audit(audit_emulator(emu, project, [v.name for v in voices]), name)
    outcome.cases = outcome.faults = len(cases)
    outcome.figures.append(
        f"{len(cases)} corruptions of the newest state version: plan and apply exit 1 naming the previous version; "
        "bucket unchanged, no lock left; deleting the corrupt version as told and rerunning converged"
    )
    return outcome


# ------------------------------------------------------------------------------------ hostile input


def scenario_hostile(ctx: Context) -> Outcome:
    outcome = Outcome("hostile-input", "broken and hostile voices.yaml, audio and -f paths", "emulator")
    if not ctx.mode.hostile:
        outcome.figures.append("quick mode: the matrix runs in tests/test_hostile_input.py instead")
        return outcome
    from tests.reliability_support import HOSTILE_CASES, hostile_project, snapshot

    with emulator(review_delay=0.05) as emu:
        base = hostile_project(ctx.dir("base"), emu)
        if not converge(base, outcome, "base"):
            return outcome
        slowest = (0.0, "")
        for case in HOSTILE_CASES:
            project = base.copy_to(ctx.work / f"case-{case.id}")
            before = snapshot(project.dir)
            config = case.setup(project)
            emu.clear_calls()
            for command in (("plan",), ("apply", "--auto-approve")):
                args = (*command, *(("-f", config) if config else ()))
                try:
                    run = project.cli(*args, timeout=60)
                except subprocess.TimeoutExpired:
                    outcome.problem(f"{case.id}: voicectl {' '.join(args)} hung")
                    continue
                outcome.count(run)
                slowest = max(slowest, (run.seconds, case.id))
                ok = (
                    run.rc == 1
                    and "Traceback" not in run.text
                    and re.search(case.expect, run.text, re.IGNORECASE | re.DOTALL) is not None
                    and len(run.text) < 5000
                    and (case.line is None or re.search(rf"\.yaml:{case.line}:\d+: ", run.text) is not None)
                )
                outcome.check(ok, f"{case.id}: {command[0]}: {tail(run)}")
            outcome.check(not emu.calls, f"{case.id}: the account was called")
            outcome.check(snapshot(project.dir) == before, f"{case.id}: the state directory changed")
            outcome.cases += 1
            outcome.faults += 1
        outcome.converged = outcome.cases if outcome.ok else 0
        outcome.figures.append(
            f"{outcome.cases} inputs, each refused by plan and apply with exit 1, the file and line and the fix; no "
            f"traceback, no request to the account, no state byte changed; slowest refusal {slowest[0]:.1f} s "
            f"({slowest[1]})"
        )
    return outcome


# --------------------------------------------------------------------------------------------- main

SCENARIOS: dict[str, Callable[[Context], Outcome]] = {
    "faults-429": scenario_faults("429"),
    "faults-500": scenario_faults("500"),
    "lost-create": scenario_lost_create,
    "sigkill-local": scenario_sigkill_local,
    "sigkill-emulator": scenario_sigkill_emulator,
    "concurrency-local": scenario_concurrency("local"),
    "concurrency-oss": scenario_concurrency("oss"),
    "lease-local": scenario_lease("local"),
    "lease-oss": scenario_lease("oss"),
    "review-local": scenario_review("local"),
    "review-emulator": scenario_review("emulator"),
    "secrets": scenario_secrets,
    "corrupt-state-local": scenario_corrupt_local,
    "corrupt-state-oss": scenario_corrupt_oss,
    "hostile-input": scenario_hostile,
}


def render(outcomes: Sequence[Outcome], mode: Mode, command: str, seconds: float) -> str:
    total = Outcome("total", "Total", "")
    for o in outcomes:
        for key in ("runs", "faults", "cases", "converged", "lost", "duplicated", "orphaned", "quota_exceeded"):
            setattr(total, key, getattr(total, key) + getattr(o, key))
        total.locks_left += o.locks_left
        total.manual_unlocks += o.manual_unlocks
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    verdict = "all scenarios passed" if all(o.ok for o in outcomes) else "PROBLEMS FOUND (see below)"
    out = [
        "# Reliability figures",
        "",
        f"Generated by `{command}` on {now} ({mode.name} mode, {seconds:.0f} s): {verdict}.",
        "",
        "Every scenario drives `voicectl` as a real subprocess against the embedded local provider or the loopback",
        "emulator of DashScope, OSS and ICE (the real SDKs, no mocks), injects its faults, recovers as an operator",
        "would (rerun; a lock left by a killed or stopped run is a lease the rerun takes over by itself), then",
        "audits the account and the state independently:",
        "",
        "- **lost**: a voice in voices.yaml that the state does not lead to a live voice;",
        "- **duplicated**: a name with more than one live voice;",
        "- **orphaned**: a live voice carrying the prefix that is neither in the state nor adopted;",
        "- **quota exceeded**: a create refused for quota, or the account seen above its quota at any moment;",
        "- **locks left**: a state lock still held once the scenario is over;",
        "- **manual unlocks**: a lock the next run did not take over by itself, so a person would have had to run",
        "  `force-unlock` (the scenario does it, and fails).",
        "",
        "**cases** are seeds, inputs or sub-scenarios; **faults** the injected errors and dropped responses, kills,",
        "broken locks, corruptions and hostile inputs that took effect; **converged** the cases that ended with",
        "`plan --detailed-exitcode` exiting 0 after the recovery (hostile input: the cases refused cleanly).",
        "",
        "| scenario | target | cases | voicectl runs | faults | converged | lost | duplicated | orphaned "
        "| quota exceeded | locks left | manual unlocks | result |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    for o in [*outcomes, total]:
        result = "" if o is total else ("pass" if o.ok else "**FAIL**")
        name = "**total**" if o is total else f"`{o.name}`"
        out.append(
            f"| {name} | {o.target} | {o.cases} | {o.runs} | {o.faults} | {o.converged} | {o.lost} | "
            f"{o.duplicated} | {o.orphaned} | {o.quota_exceeded} | {o.locks_left} | {o.manual_unlocks} | {result} |"
        )
    out.append("")
    for o in outcomes:
        out += [f"## `{o.name}`: {o.title}", "", f"{o.seconds:.0f} s."]
        out += [f"- {line}" for line in o.figures]
        if o.problems:
            out += ["", "Problems:"] + [f"- {p}" for p in o.problems[:20]]
        out.append("")
    return "\n".join(out)


def run_scenario(job: tuple[str, Mode, Path, int]) -> Outcome:
    """One scenario in a worker process; whatever goes wrong becomes a problem in its outcome."""
    name, mode, work, seed = job
    t0 = time.monotonic()
    try:
        outcome = SCENARIOS[name](Context(mode, work, seed))
    except Exception as exc:  # a broken scenario is a finding too, never a silent pass
        import traceback

        outcome = Outcome(name, name, "?")
        outcome.problem(f"scenario crashed: {type(exc).__name__}: {exc}\n{traceback.format_exc()}")
    outcome.seconds = time.monotonic() - t0
    refused = quota_refusals(*outcome.texts)
    if refused:
        outcome.quota_exceeded += refused
        outcome.problem(f"{refused} creates were refused for quota (see the outputs)")
    outcome.texts = []  # not needed past this point, and large to send back
    status = "pass" if outcome.ok else "FAIL"
    lines = [f"{name}: {status} ({outcome.seconds:.0f} s, {outcome.cases} cases, {outcome.runs} runs)"]
    lines += [f"  problem: {p}" for p in outcome.problems]
    print("\n".join(lines), flush=True)
    return outcome


def quiet_killed_clients() -> None:
    """A killed voicectl drops its connections mid-request; the emulator's socketserver would print a traceback
    for each broken pipe, which is the expected effect of a kill, not a finding."""
    import socketserver

    from tests.emulator._http import _Server

    def handle_error(self: Any, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            socketserver.BaseServer.handle_error(self, request, client_address)

    _Server.handle_error = handle_error  # type: ignore[method-assign]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/reliability.py", description=__doc__.split("\n\n")[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="a few seeds per scenario (CI); the default")
    size.add_argument("--full", action="store_true", help="50 SIGKILL seeds, every hostile input")
    parser.add_argument("--only", action="append", choices=sorted(SCENARIOS), help="run these scenarios (repeatable)")
    parser.add_argument("--out", default=os.path.join(ROOT, "RELIABILITY.md"), help="where to write the report")
    parser.add_argument("--seed", type=int, default=1, help="base seed of the random kill points")
    parser.add_argument("--jobs", type=int, default=None, help="scenarios run at once (default 3)")
    parser.add_argument("--keep", action="store_true", help="keep the scenarios' working directories")
    args = parser.parse_args(argv)
    mode = FULL if args.full else QUICK
    if args.jobs:
        mode = dataclasses.replace(mode, jobs=args.jobs)
    names = args.only or list(SCENARIOS)
    quiet_killed_clients()
    command = "python bench/reliability.py " + " ".join(a for a in (argv or sys.argv[1:]) if not a.startswith("/"))
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="voicectl-reliability-") as tmp:
        work = Path(tempfile.mkdtemp(prefix="voicectl-reliability-")) if args.keep else Path(tmp)

        # Scenarios mostly wait (reviews, backoff, kill points), so a few run side by side, each in its own
        # process: an emulator then shares its interpreter with no other scenario's threads, so the arrival
        # times it records (and the request rate measured from them) are not skewed by another's work.
        jobs = [(name, mode, work / name, args.seed) for name in names]
        with ProcessPoolExecutor(mode.jobs, mp_context=multiprocessing.get_context("fork")) as pool:
            outcomes = list(pool.map(run_scenario, jobs))
        if args.keep:
            print(f"working directories kept in {work}")
    for o in outcomes:
        if o.second_applies:
            o.figures.append(
                f"{len(o.second_applies)} recoveries needed a second apply (the first exited 1): "
                + "; ".join(o.second_applies[:5])
            )
    text = render(outcomes, mode, command, time.monotonic() - started)
    Path(args.out).write_text(text + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0 if all(o.ok for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
