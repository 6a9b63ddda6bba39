"""Policy as code (issue 31): Rego `deny` rules block a plan like a guard (exit 3, named in text, markdown and
JSON; apply refuses), `warn` rules show in it; account.policy applies to every plan; every shipped example
policy passes and denies; a policy that cannot be evaluated is an error naming its file and line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cli_support import NARRATOR, REPO, SALES, SUPPORT, Project, new_project, voice

POLICIES = REPO / "examples" / "policies"
SATURDAY_NIGHT = "2026-12-05T03:00:00Z"  # inside the example maintenance window
MONDAY_MORNING = "2026-12-07T10:00:00Z"


def plan(p: Project, *policies: str, now: str = MONDAY_MORNING, expect: int = 0) -> dict[str, Any]:
    args = [a for name in policies for a in ("--policy", str(POLICIES / name))]
    result = p.cli("plan", "--format", "json", *args, env={"VOICECTL_POLICY_NOW": now})
    assert result.exit_code == expect, result.output
    return json.loads(result.stdout)


def denied(doc: dict[str, Any]) -> list[str]:
    return [b["message"] for b in doc["blocked"] if b["guard"] == "policy"]


def project(tmp_path: Path, *voices: dict[str, Any], **account: Any) -> Project:
    return new_project(tmp_path, voices, (), **account)


def test_allowed_models(tmp_path: Path) -> None:
    p = project(tmp_path, SALES)
    assert denied(plan(p, "allowed_models.rego")) == []
    p.configure([SALES, SUPPORT], ())
    doc = plan(p, "allowed_models.rego", expect=3)
    [message] = denied(doc)
    assert message.startswith("examples/policies/allowed_models.rego: voice.support-en: model cosyvoice-v2 is not")


def test_prod_voices_must_be_protected(tmp_path: Path) -> None:
    prod = voice(SALES, name="prod-sales")
    p = project(tmp_path, {**prod, "protect": True})
    assert denied(plan(p, "protect_prod.rego")) == []
    p.configure([prod], ())
    [message] = denied(plan(p, "protect_prod.rego", expect=3))
    assert "voice.prod-sales: a prod- voice must be protected: add `protect: true`" in message


def test_at_most_five_new_voices(tmp_path: Path) -> None:
    five = [voice(SALES, name=f"sales-{i}") for i in range(5)]
    p = project(tmp_path, *five)
    doc = plan(p, "max_new_voices.rego")
    assert denied(doc) == [] and any("5 new voices: the most one plan may have" in n for n in doc["notes"])
    p.configure([*five, voice(SALES, name="sales-5")], ())
    [message] = denied(plan(p, "max_new_voices.rego", expect=3))
    assert "6 new voices in one plan, at most 5: split the change" in message


def test_deletes_only_in_the_maintenance_window(tmp_path: Path) -> None:
    p = project(tmp_path, SALES, voice(SALES, name="sales-2"), guards={"max_delete_fraction": 1.0})
    assert p.cli("apply", "--auto-approve").exit_code == 0
    p.configure([SALES], (), guards={"max_delete_fraction": 1.0})
    assert denied(plan(p, "maintenance_window.rego", now=SATURDAY_NIGHT, expect=0)) == []
    [message] = denied(plan(p, "maintenance_window.rego", now=MONDAY_MORNING, expect=3))
    assert "voice.sales-2: deletes only in the maintenance window" in message and MONDAY_MORNING in message


def test_qwen_voices_need_a_transcript(tmp_path: Path) -> None:
    p = project(tmp_path, {**NARRATOR, "text": "Once upon a time, there was a voice."})
    assert denied(plan(p, "qwen_transcript.rego")) == []
    p.configure([NARRATOR], ())
    [message] = denied(plan(p, "qwen_transcript.rego", expect=3))
    assert "voice.narrator: a Qwen voice needs `text:`" in message


def test_a_denied_plan_is_named_everywhere_and_apply_refuses_it(tmp_path: Path) -> None:
    p = project(tmp_path, SUPPORT)
    policy = str(POLICIES / "allowed_models.rego")
    text = p.cli("plan", "--policy", policy)
    assert text.exit_code == 3 and "[policy] examples/policies/allowed_models.rego: voice.support-en" in text.stdout
    markdown = p.cli("plan", "--format", "markdown", "--policy", policy)
    assert markdown.exit_code == 3 and "- `policy`: examples/policies/allowed_models.rego: voice.support-en" in (
        markdown.stdout
    )
    refused = p.cli("apply", "--auto-approve", "--policy", policy)
    assert refused.exit_code == 3 and not p.state_path.exists()

    # A saved plan carries its policies: applying it checks them again.
    saved = p.cli("plan", "--policy", policy, "--out", str(tmp_path / "p.plan"))
    assert saved.exit_code == 3
    assert p.cli("apply", str(tmp_path / "p.plan"), "--auto-approve").exit_code == 3


def test_account_policy_applies_to_every_plan_and_apply(tmp_path: Path) -> None:
    p = project(tmp_path, SUPPORT)
    shutil.copytree(POLICIES, p.dir / "policies")
    doc = yaml.safe_load(p.file.read_text())
    doc["account"]["policy"] = "policies"
    p.file.write_text(yaml.safe_dump(doc, sort_keys=False))
    plain = p.cli("plan", "--format", "json", env={"VOICECTL_POLICY_NOW": MONDAY_MORNING})
    assert plain.exit_code == 3
    assert [m.split(":")[0] for m in denied(json.loads(plain.stdout))] == ["policies/allowed_models.rego"]
    assert p.cli("apply", "--auto-approve").exit_code == 3 and not p.state_path.exists()


@pytest.mark.parametrize(
    ("source", "where", "says"),
    [
        ('package voicectl\n\ndeny contains msg if {\n  msg := "x"\n', ":3:", "does not compile: this is unclosed"),
        (
            'package voicectl\n\ndeny contains msg if {\n  msg := concat(",", [1])\n}\n',
            ":3:",
            "rule deny failed to evaluate",
        ),
        ('package other\n\ndeny contains "x" if { true }\n', ":1:", "voicectl reads `package voicectl`"),
        (
            'package voicectl\n\ndeny contains "x" if {\n  time.weekday(input.context.now_ns) == "Monday"\n}\n',
            ":4:",
            "use input.context.weekday",
        ),
    ],
    ids=["syntax", "evaluation", "package", "crashing-builtin"],
)
def test_a_policy_that_cannot_be_evaluated_is_an_error_with_its_line(
    tmp_path: Path, source: str, where: str, says: str
) -> None:
    p = project(tmp_path, SALES)
    bad = p.dir / "bad.rego"
    bad.write_text(source, encoding="utf-8")
    result = p.cli("plan", "--format", "json", "--policy", str(bad))
    assert result.exit_code == 1 and result.stdout == ""  # no plan passes, nothing printed as one
    assert f"bad.rego{where}" in result.stderr and says in result.stderr
    assert p.cli("apply", "--auto-approve", "--policy", str(bad)).exit_code == 1 and not p.state_path.exists()


def test_missing_policy_path_and_findings_as_objects(tmp_path: Path) -> None:
    p = project(tmp_path, SALES)
    missing = p.cli("plan", "--policy", str(p.dir / "nope"))
    assert missing.exit_code == 1 and "policy path not found" in missing.stderr
    (p.dir / "obj.rego").write_text(
        'package voicectl\n\nwarn contains {"msg": "listen to it first", "address": c.address} if {\n'
        "  some c in input.changes\n}\n",
        encoding="utf-8",
    )
    doc = json.loads(p.cli("plan", "--format", "json", "--policy", str(p.dir / "obj.rego")).stdout)
    assert "policy warning (obj.rego): listen to it first" in doc["notes"]


def test_an_engine_that_crashes_is_an_error_naming_the_policy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """rego-cpp is native code: the engine runs in a child process, so its crash (here a stand-in that aborts
    the way a heap corruption does, after announcing the file) is an error naming the file, never a pass."""
    import sys

    import reconciler.policy as policy

    engine = tmp_path / "engine.py"
    engine.write_text(
        "import json, os, signal, sys\n"
        "request = json.load(sys.stdin)\n"
        "print(json.dumps({'evaluating': request['files'][-1][1]}), flush=True)\n"
        "os.kill(os.getpid(), signal.SIGABRT)\n",
        encoding="utf-8",
    )
    fake = tmp_path / "python"
    fake.write_text(f"#!/bin/sh\nexec {sys.executable} {engine}\n", encoding="utf-8")
    fake.chmod(0o755)
    monkeypatch.setattr(policy.sys, "executable", str(fake))
    p = project(tmp_path, SALES)
    result = p.cli(
        "plan", "--policy", str(POLICIES / "allowed_models.rego"), "--policy", str(POLICIES / "protect_prod.rego")
    )
    assert result.exit_code == 1
    assert "examples/policies/protect_prod.rego: error: the Rego engine crashed evaluating this policy (signal 6" in (
        result.stderr
    )


def test_validate_compiles_account_policies_offline(tmp_path: Path) -> None:
    """A fork's pull request gets no secrets, so only validate runs: it still finds a policy that cannot compile."""
    p = project(tmp_path, SALES)
    (p.dir / "policies").mkdir()
    shutil.copy(POLICIES / "protect_prod.rego", p.dir / "policies")
    doc = yaml.safe_load(p.file.read_text())
    doc["account"]["policy"] = ["policies"]
    p.file.write_text(yaml.safe_dump(doc, sort_keys=False))
    assert p.cli("validate").exit_code == 0

    (p.dir / "policies" / "broken.rego").write_text("package voicectl\n\ndeny contains msg if {\n", encoding="utf-8")
    broken = p.cli("validate", "--format", "json")
    assert broken.exit_code == 1
    [error] = json.loads(broken.stdout)["errors"]
    assert error["file"] == "policies/broken.rego" and error["line"] == 3 and "does not compile" in error["message"]
