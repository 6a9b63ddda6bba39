"""JSON views: one document per command for pipelines (`--format json`). The plan's is the contract's
Terraform-like document; the apply report's carries the plan it carried out."""

from __future__ import annotations

import json
from typing import Any

from reconciler.apply.report import ApplyReport
from reconciler.errors import Problem
from reconciler.model import StateDoc
from reconciler.naming import voice_address
from reconciler.plan.plan import Plan
from reconciler.ui.summary import plan_summary, report_summary

FORMAT_VERSION = "1"


def dumps(doc: Any) -> str:
    return json.dumps(doc, indent=2) + "\n"


def validation_json(errors: list[Problem], warnings: list[Problem]) -> dict[str, Any]:
    """`validate --format json`: `{"valid", "errors": [{"file", "line", "column", "message"}], "warnings"}`."""
    return {
        "valid": not errors,
        "errors": [p.to_json() for p in errors],
        "warnings": [p.to_json() for p in warnings],
    }


def state_json(doc: StateDoc) -> dict[str, Any]:
    """`state list --format json`: the state's voices, bindings, deposed and forgotten voices as lists."""
    return {
        "serial": doc.serial,
        "lineage": doc.lineage,
        "voices": [{"address": voice_address(n), "name": n, **r.to_json()} for n, r in sorted(doc.voices.items())],
        "bindings": [{"address": a, **b.to_json()} for a, b in sorted(doc.bindings.items())],
        "deposed": [{"address": voice_address(r.name or v), **r.to_json()} for v, r in sorted(doc.deposed.items())],
        "forgotten": [{"voice_id": v, "name": n} for v, n in sorted(doc.forgotten.items())],
    }


def plan_json(plan: Plan) -> dict[str, Any]:
    return {**plan.to_json(), "summary": plan_summary(plan)}


def report_json(report: ApplyReport) -> dict[str, Any]:
    return {
        "ok": report.ok,
        "done": [{"address": a, "result": r} for a, r in report.done],
        "failed": [{"address": a, "error": e} for a, e in report.failed],
        "not_attempted": [{"address": a, "reason": r} for a, r in report.not_attempted],
        "pending_review": list(report.pending_review),
        "deferred": [{"address": a, "reason": r} for a, r in report.deferred],
        "warnings": [{"address": a, "warning": w} for a, w in report.warnings],
        "summary": report_summary(report),
    }


def apply_json(plan: Plan, report: ApplyReport | None, *, cancelled: bool = False) -> dict[str, Any]:
    """`apply --format json`: the plan that was applied and what became of it (`report` is null when there was
    nothing to do or the apply was cancelled)."""
    return {
        "format_version": FORMAT_VERSION,
        "plan": plan_json(plan),
        "report": report_json(report) if report is not None else None,
        "cancelled": cancelled,
        "ok": (report.ok if report is not None else not cancelled),
    }
