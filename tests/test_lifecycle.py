"""End-to-end lifecycles through the real CLI, the same scenarios on the local provider and on provider aliyun
against the loopback emulator (real SDKs, real HTTP): create, update, replace, delete, drift, quota, bindings
with running instances, failed reviews and reruns after interruptions; plus the cloud's own faults
(throttling, lost responses, 5xx) on aliyun.

Each test asserts what a user sees (plan JSON, exit codes, `agent-config`) and what the account holds after.
"""

# The `project` fixture is imported from the support module; test arguments named after it are not redefinitions.
# ruff: noqa: F811

from __future__ import annotations

import shutil

from reconciler.naming import resource_link_matches
from tests.lifecycle_support import (
    AGENT,
    COSY,
    COSY3,
    QWEN,
    Project,
    actions,
    aliyun,  # noqa: F401  (the fixture)
    drift,
    project,  # noqa: F401  (the fixture)
    reasons,
)


def one_voice_per_name(p: Project) -> dict[str, str]:
    """The account holds exactly the managed voices the state names, one per name; returns name -> id."""
    ids = {name: r.voice_id for name, r in p.state().voices.items()}
    assert sorted(ids.values()) == p.managed_ids(), (ids, p.managed_ids())
    return ids


# ------------------------------------------------------------------------------------------------- 1
def test_create_from_empty_then_nothing_to_do(project: Project) -> None:
    p = project
    p.voice("support", COSY, language="en")
    p.voice("sales", COSY3, language="zh")
    p.voice("narrator", QWEN)
    p.bind("support")

    plan = p.plan()
    assert actions(plan) == {
        "voice.support": ["create"],
        "voice.sales": ["create"],
        "voice.narrator": ["create"],
        "binding.agent1.tts": ["create"],
    }
    assert plan["quota"] == {"limit": 30, "before": 0, "after": 3, "peak": 3}
    assert plan["blocked"] == []

    applied = p.apply()
    assert "Plan: 3 to create, 0 to update, 0 to replace, 0 to delete, 1 binding to change." in applied.stdout
    assert "Apply complete" in applied.stdout
    # A quiet run prints progress, never the SDKs' own INFO chatter (a 404 on the upload's HEAD is expected).
    assert " INFO " not in applied.stderr and "NoSuchKey" not in applied.stderr

    p.converged()
    ids = one_voice_per_name(p)
    assert set(ids) == {"support", "sales", "narrator"}
    assert {v["status"] for v in p.live()} == {"OK"}
    assert p.agent_voice() == ids["support"]
    assert p.run("agent-config", "no-such-agent").code == 1


# ------------------------------------------------------------------------------------------------- 2
def test_new_audio_updates_cosyvoice_in_place(project: Project) -> None:
    p = project
    p.voice("support", COSY)
    p.bind("support")
    p.apply()
    before = p.state().voices["support"]

    p.new_audio("support")
    plan = p.plan("--out", "tfplan")
    assert actions(plan) == {"voice.support": ["update"]}
    assert reasons(plan)["voice.support"] == "audio_changed"
    shown = p.run("show", "tfplan", "--format", "json", expect=0).json
    assert shown["fingerprint"] == plan["fingerprint"]

    # The saved plan is the approval, and it applies once.
    p.run("apply", "tfplan", expect=0)
    again = p.run("apply", "tfplan", expect=1)
    assert "plan is stale" in again.stderr
    after = p.state().voices["support"]
    assert after.voice_id == before.voice_id
    assert after.audio_key != before.audio_key and after.audio_identity != before.audio_identity
    live = {v["voice_id"]: v for v in p.live()}
    assert resource_link_matches(live[after.voice_id]["resource_link"], after.audio_key)
    assert live[after.voice_id]["status"] == "OK"
    assert p.agent_voice() == after.voice_id
    if p.emu is not None:
        assert p.emu.count("dashscope", "update_voice") == 1
        assert p.emu.count("dashscope", "create_voice") == 1
    p.converged()


# ------------------------------------------------------------------------------------------------- 3
def test_replace_on_model_change_and_qwen_audio_change(project: Project) -> None:
    p = project
    p.voice("support", COSY)
    p.voice("narrator", QWEN)
    p.bind("support")
    p.apply()
    old = one_voice_per_name(p)

    p.voices["support"]["model"] = COSY3
    p.new_audio("narrator")  # Qwen has no update: new audio is a new voice
    blocked = p.plan(expect=3)
    assert {b["guard"] for b in blocked["blocked"]} == {"max_delete_fraction"}

    allow = ("--allow-delete", "support", "--allow-delete", "narrator")
    plan = p.plan(*allow)
    assert actions(plan) == {
        "voice.support": ["create", "delete"],
        "voice.narrator": ["create", "delete"],
        "binding.agent1.tts": ["update"],
    }
    assert reasons(plan)["voice.support"] == "model_changed"
    assert reasons(plan)["voice.narrator"] == "audio_changed"

    p.apply(*allow)
    new = one_voice_per_name(p)
    assert not set(old.values()) & set(new.values())  # both old voices are gone from the account
    assert new["support"].startswith(f"{COSY3}-acme-")
    assert p.agent_voice() == new["support"]
    assert p.state().deposed == {}
    p.converged()


# ------------------------------------------------------------------------------------------------- 4
def test_delete_is_guarded_then_done(project: Project) -> None:
    p = project
    p.voice("support", COSY)
    p.voice("legacy", COSY)
    p.apply()
    legacy = p.voice_id("legacy")

    del p.voices["legacy"]
    plan = p.plan(expect=3)  # one of two managed voices is over max_delete_fraction 0.3
    assert actions(plan) == {"voice.legacy": ["delete"]}
    assert reasons(plan)["voice.legacy"] == "not_in_config"
    assert plan["blocked"][0]["guard"] == "max_delete_fraction"
    assert "--allow-delete legacy" in plan["blocked"][0]["message"]

    refused = p.apply(expect=3)
    assert "blocked" in refused.stderr
    assert legacy in p.managed_ids()

    p.guards = {"max_delete_fraction": 0.5}  # now deleting one of two is within the guard
    p.plan()
    p.apply()
    assert legacy not in p.managed_ids()
    assert set(one_voice_per_name(p)) == {"support"}
    p.converged()


# ------------------------------------------------------------------------------------------------- 5
def test_voice_deleted_behind_our_back_is_recreated(project: Project) -> None:
    p = project
    p.voice("support", COSY)
    p.bind("support")
    p.apply()
    gone = p.voice_id("support")
    p.remove_voice(gone)

    plan = p.plan()
    assert ("voice.support", "missing_in_account") in drift(plan)
    assert actions(plan)["voice.support"] == ["create"]
    assert reasons(plan)["voice.support"] == "missing_in_account"
    assert actions(plan)["binding.agent1.tts"] == ["update"]

    p.apply()
    ids = one_voice_per_name(p)
    assert ids["support"] != gone
    assert p.agent_voice() == ids["support"]
    p.converged()


# ------------------------------------------------------------------------------------------------- 6
def test_quota_blocks_then_destroy_before_create_names_the_binding(project: Project) -> None:
    p = project
    p.quota = 3
    unmanaged = p.add_unmanaged(2)
    p.voice("support", COSY)
    p.voice("sales", COSY)
    p.bind("support")

    text = p.run("plan", "--no-color", expect=3)  # blocked exits 3 even without --detailed-exitcode
    plan = p.plan(expect=3)
    assert plan["quota"]["peak"] == 4 and plan["quota"]["limit"] == 3
    [quota] = [b for b in plan["blocked"] if b["guard"] == "quota"]
    for voice_id in unmanaged:
        assert voice_id in quota["message"] and voice_id in text.stdout + text.stderr
    refused = p.apply(expect=3)
    assert "quota" in refused.stderr
    assert p.managed_ids() == []  # nothing was created
    if p.emu is not None:
        assert p.emu.count("dashscope", "create_voice") == 0

    del p.voices["sales"]
    p.apply()
    old = p.voice_id("support")

    # No room for the new voice next to the old one: destroy before create, and say whose voice falls back.
    p.voices["support"]["model"] = COSY3
    plan = p.plan("--allow-delete", "support")
    change = next(c for c in plan["changes"] if c["address"] == "voice.support")
    assert change["actions"] == ["delete", "create"]
    assert change["affected_bindings"] == ["binding.agent1.tts"]
    assert any("binding.agent1.tts" in n for n in change["notes"])
    assert plan["quota"]["peak"] == 3

    p.apply("--allow-delete", "support")
    ids = one_voice_per_name(p)
    assert ids["support"] != old and old not in p.managed_ids()
    assert p.agent_voice() == ids["support"]
    assert sorted(v["voice_id"] for v in p.live() if "-other-" in v["voice_id"]) == unmanaged  # never touched
    listed = p.run("voices", "--all", "--format", "json", expect=0).json
    assert {(v["name"], v["voice_id"], v["managed"]) for v in listed} == {
        ("support", ids["support"], True),
        *((None, voice_id, False) for voice_id in unmanaged),
    }
    assert [v["name"] for v in p.run("voices", "--format", "json", expect=0).json] == ["support"]
    p.converged()


# ------------------------------------------------------------------------------------------------- 7
def test_binding_repoints_running_instance_and_fixes_its_drift(project: Project) -> None:
    p = project
    p.add_instance("inst-1", AGENT)
    p.voice("support", COSY)
    p.bind("support", instances=("inst-1",))
    p.apply()
    voice_id = p.voice_id("support")
    assert p.instance_voice("inst-1") == voice_id
    if p.emu is not None:
        updates = [c.params for c in p.emu.calls if c.action == "UpdateAIAgentInstance"]
        assert updates == [{"InstanceId": "inst-1", "AgentConfig": {"TtsConfig": {"VoiceId": voice_id}}}]
        p.emu.clear_calls()
    p.converged()

    p.set_instance_voice("inst-1", "cosyvoice-v2-someone-else")
    plan = p.plan()
    assert ("binding.agent1.tts", "instance_drift") in drift(plan)
    assert actions(plan) == {"binding.agent1.tts": ["update"]}
    assert reasons(plan)["binding.agent1.tts"] == "instance_drift"

    p.apply()
    assert p.instance_voice("inst-1") == voice_id
    if p.emu is not None:
        updates = [c.params for c in p.emu.calls if c.action == "UpdateAIAgentInstance"]
        assert updates == [{"InstanceId": "inst-1", "AgentConfig": {"TtsConfig": {"VoiceId": voice_id}}}]
    p.converged()


# ------------------------------------------------------------------------------------------------- 9
def test_failed_review_is_reported_and_new_audio_fixes_it(project: Project) -> None:
    p = project
    p.voice("support", COSY)
    if p.emu is not None:
        p.voice("sales", COSY3)
        p.emu.fail_review(lambda voice_id: voice_id.startswith(f"{COSY3}-acme-"))
    else:
        # lint: false lets silence past validate and plan; the local review fails it, as the service does.
        p.voice("sales", COSY3, silent=True, lint=False)
    p.bind("sales")

    failed = p.apply(expect=1)
    assert "failed review" in failed.stdout + failed.stderr
    assert "Apply incomplete" in failed.stdout
    ids = one_voice_per_name(p)
    statuses = {v["voice_id"]: v["status"] for v in p.live()}
    assert statuses == {ids["support"]: "OK", ids["sales"]: "UNDEPLOYED"}
    assert p.run("agent-config", AGENT).code == 1  # never bound to a voice that failed review

    plan = p.plan()
    assert ("voice.sales", "review_failed") in drift(plan)
    assert "voice.sales" not in actions(plan)  # the same audio would fail again: left alone
    assert actions(plan) == {"binding.agent1.tts": ["create"]}

    p.new_audio("sales")
    plan = p.plan()
    assert actions(plan)["voice.sales"] == ["update"]
    p.apply()
    assert one_voice_per_name(p)["sales"] == ids["sales"]
    assert {v["status"] for v in p.live()} == {"OK"}
    assert p.agent_voice() == ids["sales"]
    p.converged()


def test_replacement_that_fails_review_keeps_the_old_voice_bound(project: Project) -> None:
    p = project
    p.voice("support", COSY)
    p.bind("support")
    p.apply()
    old = p.voice_id("support")

    if p.emu is not None:
        p.voice("support", COSY3)
        p.emu.fail_review(lambda voice_id: voice_id.startswith(f"{COSY3}-acme-"))
    else:
        p.voice("support", COSY3, silent=True, lint=False)
    failed = p.apply("--allow-delete", "support", expect=1)
    assert "failed review" in failed.stdout
    assert old in p.managed_ids() and p.agent_voice() == old  # the working voice stays in service
    plan = p.plan()
    assert ("voice.support", "replacement_not_ready") in drift(plan)
    assert actions(plan) == {"binding.agent1.tts": ["update"]}  # waits for new audio that passes

    p.new_audio("support")
    p.apply("--allow-delete", "support")
    new = p.voice_id("support")
    assert p.agent_voice() == new != old
    # Retiring the old half is guarded like any delete, but it is not "deleting every managed voice".
    rest = p.plan(expect=None)
    assert "empty_config" not in {b["guard"] for b in rest["blocked"]}
    p.apply("--allow-delete", "support")
    assert p.managed_ids() == [new]
    p.converged()


def test_binding_of_a_voice_left_under_review_is_done_by_the_next_apply(project: Project) -> None:
    p = project
    p.voice("support", COSY)
    p.bind("support")
    first = p.apply("--no-wait")  # the binding needs an approved voice: left for the next apply
    assert "Waiting for review: binding.agent1.tts" in first.stdout and "Apply complete for now" in first.stdout
    assert p.run("agent-config", AGENT).code == 1

    # The review ended between the runs; the state still says DEPLOYING, which must not block the bind.
    p.apply()
    assert p.agent_voice() == p.voice_id("support")
    p.converged()


# ------------------------------------------------------------------------------------------------- 10
def test_rerun_after_lost_state_adopts_instead_of_cloning(project: Project) -> None:
    p = project
    p.state_backend = "local"  # aliyun too: the state in a file next to voices.yaml, not in OSS
    p.voice("support", COSY)
    p.voice("narrator", QWEN)
    p.apply("--no-wait")
    ids = one_voice_per_name(p)

    # A lost state (deleted, or an apply killed between the create and the state write): the account has the
    # voices, the state not. (`state rm` is not this: it forgets on purpose, see test_cli.)
    state_dir = p.dir / ".voicectl"
    (state_dir / "state.json").unlink()
    shutil.rmtree(state_dir / "state.history")  # all of it: a missing file beside its history is refused
    assert p.state().voices == {}

    plan = p.plan()
    for name in ("support", "narrator"):
        change = next(c for c in plan["changes"] if c["address"] == f"voice.{name}")
        assert change["reason"] == "found_in_account"
        assert change["adopt_voice_id"] == ids[name]
    assert plan["quota"]["after"] == 2  # nothing new to clone

    p.apply()
    assert one_voice_per_name(p) == ids
    if p.emu is not None:
        assert p.emu.count("dashscope", "create_voice") + p.emu.count("dashscope", "create") == 2
    p.converged()


# ------------------------------------------------------------------------------------------------- 8 (aliyun)
def test_throttling_bursts_converge_within_the_rate_limit(aliyun: Project) -> None:
    p = aliyun
    assert p.emu is not None
    names = [f"v{i:02d}" for i in range(12)]
    for name in names:
        p.voice(name, COSY)
    # Past the plan's two listings (CosyVoice, Qwen), so that the burst meets the parallel creates.
    p.emu.inject("dashscope", "*", "429", times=5, after=2)

    p.apply("--parallelism", "10")
    assert set(one_voice_per_name(p)) == set(names)
    assert len([c for c in p.emu.calls if c.fault == "429"]) == 5
    throttled_by_server = [c for c in p.emu.calls if c.service == "dashscope" and c.status == 429 and not c.fault]
    assert throttled_by_server == []  # the client-side limiter kept every burst under the account's rate
    assert p.emu.max_rate("dashscope", family="cosyvoice") <= 10
    assert p.emu.max_rate("dashscope", family="qwen") <= 3
    p.converged()


def test_lost_responses_and_server_errors_never_clone_twice(aliyun: Project) -> None:
    p = aliyun
    emu = p.emu
    assert emu is not None
    p.voice("support", COSY)
    p.voice("sales", COSY)
    p.voice("narrator", QWEN)
    emu.inject("dashscope", "list_voice", "500", times=2)
    emu.inject("dashscope", "query_voice", "500")
    p.plan()  # a 500 on list is retried, the plan comes through

    emu.inject("dashscope", "create_voice", "drop_after_commit")  # cloned, but the answer is lost
    emu.inject("dashscope", "create_voice", "drop_before_commit")  # lost before the service saw it
    emu.inject("dashscope", "create", "drop_after_commit")  # the same for Qwen
    p.apply()
    ids = one_voice_per_name(p)
    assert set(ids) == {"support", "sales", "narrator"}
    faulted = sorted((c.action, c.fault) for c in emu.calls if c.fault)
    assert faulted == [
        ("create", "drop_after_commit"),
        ("create_voice", "drop_after_commit"),
        ("create_voice", "drop_before_commit"),
        ("list_voice", "500"),
        ("list_voice", "500"),
        ("query_voice", "500"),
    ]

    p.apply()  # a rerun changes nothing
    assert one_voice_per_name(p) == ids
    p.converged()
