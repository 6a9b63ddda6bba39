"""A declared voice that cannot be used (failed review with the same audio, or gone from the account) is never
"No changes": plan shows it above the summary with the fix, `drift --detailed-exitcode` exits 2 while it lasts,
and `apply --replace NAME` clones the same audio once more. On the local provider and on the emulator."""

# The `project` fixture is imported from the support module; test arguments named after it are not redefinitions.
# ruff: noqa: F811

from __future__ import annotations

from tests.lifecycle_support import COSY, Project, project  # noqa: F401


def _failed_voice(p: Project) -> None:
    """support OK; sales declared but failed review (UNDEPLOYED), nothing else pending."""
    p.voice("support", COSY)
    if p.emu is not None:
        p.voice("sales", COSY)
        p.apply()
        p.emu.fail_review(lambda voice_id: True)
        p.new_audio("sales")
        p.apply(expect=1)  # the update's review fails
    else:
        # lint: false lets silence past validate and plan; the local review fails it, as the service does.
        p.voice("sales", COSY, silent=True, lint=False)
        p.apply(expect=1)
    assert sorted(v["status"] for v in p.live()) == ["OK", "UNDEPLOYED"]


def test_a_failed_voice_is_never_no_changes(project: Project) -> None:
    p = project
    _failed_voice(p)

    text = p.run("plan", "--no-color", "--detailed-exitcode", expect=0)  # nothing apply could do
    assert "No changes." not in text.stdout
    assert "Declared voices that cannot be used (they need you):" in text.stdout
    assert "voice.sales: voice " in text.stdout and "failed review (UNDEPLOYED)" in text.stdout
    assert "fix: give it new audio in voices.yaml" in text.stdout and "voicectl apply --replace sales" in text.stdout
    assert text.stdout.rstrip().splitlines()[-1].startswith("Nothing to apply, but 1 declared voice cannot be used")
    assert text.stdout.index("cannot be used (they need you)") < text.stdout.index("Nothing to apply")

    markdown = p.run("plan", "--format", "markdown", expect=0).stdout
    fold = markdown.index("<details>") if "<details>" in markdown else len(markdown)
    assert 0 <= markdown.index("⚠️ 1 declared voice cannot be used") < fold

    doc = p.run("drift", "--format", "json", "--detailed-exitcode", expect=2).json
    [attention] = doc["attention"]
    assert attention["address"] == "voice.sales" and attention["reason"] == "review_failed" and attention["fix"]
    assert p.run("drift", "--detailed-exitcode", expect=2).code == 2
    assert p.run("drift", expect=0).code == 0  # without the flag, success like plan

    # Terraform's -replace: clone the same audio again (here it fails review again, but it was tried).
    replaced = p.plan("--replace", "sales", "--allow-delete", "sales")  # a replacement meets the delete guards
    change = next(c for c in replaced["changes"] if c["address"] == "voice.sales")
    assert change["reason"] == "replace_requested" and change["actions"][0] in ("create", "delete")
    unknown = p.run("plan", "--replace", "nobody", expect=1)
    assert "--replace nobody: not declared" in unknown.stderr

    # New audio fixes it; then drift is clean.
    if p.emu is not None:
        p.emu.fail_review(lambda voice_id: False)
    p.new_audio("sales")
    p.apply()
    p.converged()
    assert p.run("drift", "--detailed-exitcode", expect=0).code == 0


def test_a_vanished_voice_needs_attention_until_recreated(project: Project) -> None:
    p = project
    p.voice("support", COSY)
    p.apply()
    p.remove_voice(p.voice_id("support"))

    plan = p.plan()
    [attention] = plan["attention"]
    assert attention["reason"] == "missing_in_account" and "clones it again" in attention["fix"]
    assert p.run("drift", "--detailed-exitcode", expect=2).code == 2
    p.apply()
    assert p.run("drift", "--detailed-exitcode", expect=0).code == 0
