"""The one-line summaries people and pipelines read: the last line of a plan and of an apply report.

The plan's wording is part of the contract (`Plan: 2 to create, ...` / `No changes. Quota: N of 30.`).
"""

from __future__ import annotations

from reconciler.apply.report import ApplyReport
from reconciler.plan.plan import Plan


def plural(n: int, word: str, words: str | None = None) -> str:
    """'1 binding', '3 bindings' (and '1 voice needs', given the verb forms as `word`/`words`)."""
    return f"{n} {word if n == 1 else (words or word + 's')}"


def plan_summary(plan: Plan) -> str:
    q = plan.quota
    attention = len(plan.attention)
    if not plan.has_changes:
        if attention:  # never "No changes": a declared voice cannot be used until someone acts
            return (
                f"Nothing to apply, but {plural(attention, 'declared voice cannot', 'declared voices cannot')} be "
                f"used (see above). Quota: {q.before} of {q.limit}."
            )
        return f"No changes. Quota: {q.before} of {q.limit}."
    n = plan.counts()
    return (
        f"Plan: {n['create']} to create, {n['update']} to update, {n['replace']} to replace, "
        f"{n['delete']} to delete, {plural(n['bindings'], 'binding')} to change. "
        f"Quota: {q.before} -> {q.after} of {q.limit} (peak {q.peak})."
    )


def report_summary(report: ApplyReport) -> str:
    counts = f"{len(report.done)} done, {len(report.failed)} failed, {len(report.not_attempted)} not attempted"
    if not report.ok:
        return f"Apply incomplete: {counts}."
    if report.waiting:
        # The voices --no-wait left under review, and the steps (binds, retirements) that wait for them.
        left = [f"{plural(len(report.pending_review), 'voice')} left under review"] if report.pending_review else []
        if report.deferred:
            left.append(f"{plural(len(report.deferred), 'step')} waiting for a review to end")
        return f"Apply complete for now: {counts}; {' and '.join(left)} (--no-wait): rerun apply to finish them."
    return f"Apply complete: {counts}."
