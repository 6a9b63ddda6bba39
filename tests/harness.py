"""Plan and apply against the in-memory fake account (see fakes.py), the way `voicectl apply` does."""

from __future__ import annotations

from reconciler.apply.executor import Executor, RunSettings
from reconciler.apply.report import ApplyReport
from reconciler.model import Desired
from reconciler.plan.plan import Plan, PlanOptions
from reconciler.plan.planner import plan_changes
from reconciler.providers.snapshot import read_live
from reconciler.state.journal import StateJournal
from tests.fakes import FakeAccount, MemoryStateStore, fake_provider


def make_plan(d: Desired, account: FakeAccount, store: MemoryStateStore, **options: object) -> Plan:
    provider = fake_provider(account, store)
    state = store.read()
    return plan_changes(d, state, read_live(provider, d, state), PlanOptions(**options))  # type: ignore[arg-type]


def apply(
    d: Desired,
    account: FakeAccount,
    store: MemoryStateStore,
    *,
    wait: bool = True,
    parallelism: int = 4,
    **options: object,
) -> tuple[Plan, ApplyReport | None]:
    provider = fake_provider(account, store)
    lock = store.acquire_lock("apply")
    try:
        plan = make_plan(d, account, store, **options)
        if plan.is_blocked or not plan.has_changes:
            return plan, None
        journal = StateJournal(provider.state, store.read(), lock)
        settings = RunSettings(parallelism=parallelism, wait=wait, timeout=30, sleep=lambda s: None)
        executor = Executor(provider, d, plan, journal, settings)
        return plan, executor.run()
    finally:
        store.release_lock(lock)


def allow_all(*desireds: Desired, extra: tuple[str, ...] = ()) -> tuple[str, ...]:
    names = {v.name for d in desireds for v in d.voices} | set(extra)
    return tuple(sorted(names))


def summary_of(result: Plan | ApplyReport) -> str:
    """The summary line a user reads under a plan or an apply report."""
    from reconciler.ui.summary import plan_summary, report_summary

    return plan_summary(result) if isinstance(result, Plan) else report_summary(result)
