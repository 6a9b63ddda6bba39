"""Change-set approval: two pull requests branch from one main, both are planned and reviewed, both merge.

A reviewer approves what a plan would do (its `changes_digest`), not the inputs it was computed from, so
`apply --expect-changes DIGEST` on the merged commit applies when the change set is still the approved one,
although another pull request's apply moved the state and the account in between; and refuses, naming the
address, when the merge changed what it would do. Each scenario runs on the local provider and on provider
aliyun against the loopback emulator (real SDKs).
"""

# The `project` fixture is imported from the support module; test arguments named after it are not redefinitions.
# ruff: noqa: F811

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from tests.lifecycle_support import COSY, COSY3, Project, project  # noqa: F401


class Branch:
    """voices.yaml as one branch has it: a copy of the project's voices, planned and saved as the PR check."""

    def __init__(self, p: Project, name: str):
        self.p, self.name = p, name
        self.voices: dict[str, dict[str, Any]] = copy.deepcopy(p.voices)

    def plan(self) -> dict[str, Any]:
        """`plan --format json` of this branch against main's state and account, kept as the PR's artifact."""
        main = self.p.voices
        self.p.voices = self.voices
        try:
            plan = self.p.plan()
        finally:
            self.p.voices = main
        (self.p.dir / f"{self.name}.plan.json").write_text(json.dumps(plan), encoding="utf-8")
        return plan

    @property
    def plan_path(self) -> str:
        return str(self.p.dir / f"{self.name}.plan.json")


def account(p: Project) -> list[tuple[str, str, str]]:
    return sorted((v["voice_id"], v["target_model"], v["resource_link"] or "") for v in p.live())


def test_two_prs_on_different_voices_both_apply_on_merge(project: Project) -> None:
    p = project
    p.voice("support", COSY)
    p.apply()

    a, b = Branch(p, "a"), Branch(p, "b")
    p.voice("alpha", COSY)
    a.voices["alpha"] = p.voices.pop("alpha")
    p.voice("beta", COSY3)
    b.voices["beta"] = p.voices.pop("beta")
    plan_a, plan_b = a.plan(), b.plan()
    assert plan_a["changes_digest"] != plan_b["changes_digest"]

    # A merges and applies with its approved digest.
    p.voices = copy.deepcopy(a.voices)
    p.apply("--expect-changes", plan_a["changes_digest"], "--approved-plan", a.plan_path)
    # B merges on top: main now declares both. The state serial and the account moved (A's apply), so B's
    # fingerprint is stale, but what B's plan does is still exactly what was approved: it applies.
    p.voices = {**a.voices, **b.voices}
    stale = p.apply("--expect-fingerprint", plan_b["fingerprint"], expect=1)
    assert "plan is stale" in stale.stderr and "another apply ran" not in stale.stderr  # a bare fingerprint
    applied = p.apply("--expect-changes", plan_b["changes_digest"], "--approved-plan", b.plan_path)
    assert "Apply complete" in applied.stdout
    assert set(p.state().voices) == {"support", "alpha", "beta"}
    p.converged()


def test_a_merge_that_changes_the_approved_change_is_refused_by_address(project: Project) -> None:
    p = project
    p.guards = {"max_delete_fraction": 1.0}  # a replacement of one of two voices is not what is tested here
    p.voice("support", COSY)
    p.voice("other", COSY)
    p.apply()

    a, b = Branch(p, "a"), Branch(p, "b")
    p.new_audio("support")
    a.voices["support"]["audio"] = p.voices["support"]["audio"]  # A: new audio (an in-place update)
    b.voices["support"]["model"] = COSY3  # B: another model for the same voice (a replacement)
    plan_a, plan_b = a.plan(), b.plan()

    p.voices = copy.deepcopy(a.voices)
    p.apply("--expect-changes", plan_a["changes_digest"])
    # The merge keeps both edits (different lines of voices.yaml): B would now replace support with A's audio,
    # which no reviewer saw.
    p.voices = copy.deepcopy(a.voices)
    p.voices["support"]["model"] = COSY3
    before, state_before = account(p), p.state()

    refused = p.apply("--expect-changes", plan_b["changes_digest"], "--approved-plan", b.plan_path, expect=1)

    assert account(p) == before and p.state() == state_before  # nothing changed in the account or the state
    err = refused.stderr
    assert "the planned changes differ from the approved ones, so nothing was applied" in err
    assert "Planned differently from what was approved:" in err and "~ voice.support: audio sha256:" in err
    assert "voice.other" not in err  # untouched voices are not part of either change set
    assert "Inputs that moved since the approved plan:" in err
    assert "the audio of voice support changed" in err and "the state moved from serial" in err
    assert "voicectl apply --expect-changes sha256:" in err  # how to approve what is planned now
    assert "-/+ voice.support" in refused.stdout or "voice.support" in refused.stdout  # the fresh plan is shown

    # With only the digest (no approved plan at hand) it still refuses, and says how to see the difference.
    bare = p.apply("--expect-changes", plan_b["changes_digest"], expect=1)
    assert "--approved-plan FILE" in bare.stderr and account(p) == before

    # Approving the fresh change set applies it.
    fresh = p.plan()
    p.apply("--expect-changes", fresh["changes_digest"])
    assert p.state().voices["support"].model == COSY3
    p.converged()


def test_a_voice_made_by_hand_that_no_change_touches_keeps_the_digest(project: Project) -> None:
    p = project
    p.voice("support", COSY)
    p.apply()
    p.voice("alpha", COSY)
    plan = p.plan()

    p.add_unmanaged(1)
    again = p.plan()

    assert again["fingerprint"] != plan["fingerprint"]  # an input moved: a saved plan would be stale
    assert again["changes_digest"] == plan["changes_digest"]  # but the change set is the same
    p.apply("--expect-changes", plan["changes_digest"])
    assert "alpha" in p.state().voices


def test_approved_plan_must_match_its_digest(project: Project, tmp_path: Path) -> None:
    p = project
    p.voice("support", COSY)
    plan = p.plan()
    path = tmp_path / "approved.json"
    path.write_text(json.dumps(plan), encoding="utf-8")

    mismatch = p.apply("--expect-changes", "sha256:" + "0" * 64, "--approved-plan", str(path), expect=1)
    assert "pass the plan that digest came from" in mismatch.stderr

    edited = dict(plan, changes=[])
    path.write_text(json.dumps(edited), encoding="utf-8")
    forged = p.apply("--approved-plan", str(path), expect=1)
    assert "do not hash to the changes_digest it records" in forged.stderr
    assert p.live() == []
