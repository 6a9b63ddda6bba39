"""The planner and executor on the in-memory account: each scenario a user would recognise."""

from __future__ import annotations

import dataclasses
import json

import pytest

from reconciler.model import VoiceStatus
from reconciler.plan.plan import PlanOptions
from reconciler.plan.planner import plan_changes
from reconciler.ui.json_view import dumps, plan_json
from tests.fakes import FakeAccount, MemoryStateStore, binding, desired, voice
from tests.harness import apply, make_plan, summary_of

QWEN = "qwen3-tts-vc-2026-01-22"


@pytest.fixture
def account() -> FakeAccount:
    return FakeAccount()


@pytest.fixture
def store() -> MemoryStateStore:
    return MemoryStateStore()


def converge(d, account, store, **options):
    plan, report = apply(d, account, store, **options)
    assert report is None or report.ok, report
    after = make_plan(d, account, store, **options)
    assert not after.has_changes, [c.to_json() for c in after.pending]
    return plan, report


def actions(plan) -> dict[str, str]:
    return {c.address: c.action for c in plan.pending}


def test_first_plan_creates_everything_and_apply_converges(account, store) -> None:
    d = desired([voice("a"), voice("b", model=QWEN)], [binding("ag", "a")])
    plan = make_plan(d, account, store)
    assert actions(plan) == {"voice.a": "create", "voice.b": "create", "binding.ag.tts": "bind"}
    assert summary_of(plan) == (
        "Plan: 2 to create, 0 to update, 0 to replace, 0 to delete, 1 binding to change. Quota: 0 -> 2 of 30 (peak 2)."
    )
    converge(d, account, store)
    assert account.nodes[("ag", "tts")] == store.doc.voices["a"].voice_id
    assert summary_of(make_plan(d, account, store)) == "No changes. Quota: 2 of 30."


def test_audio_change_is_in_place_update_for_cosyvoice(account, store) -> None:
    converge(desired([voice("a", "a")], [binding("ag", "a")]), account, store)
    voice_id = store.doc.voices["a"].voice_id
    d2 = desired([voice("a", "b")], [binding("ag", "a")])
    plan = make_plan(d2, account, store)
    change = plan.change("voice.a")
    assert (change.action, change.reason, change.actions) == ("update", "audio_changed", ["update"])
    assert plan.change("binding.ag.tts").action == "no-op"
    converge(d2, account, store)
    assert store.doc.voices["a"].voice_id == voice_id
    assert account.calls.count("create") == 1 and account.calls.count("update") == 1


def test_audio_change_on_qwen_is_a_replacement(account, store) -> None:
    converge(desired([voice("q", "a", model=QWEN)]), account, store)
    d2 = desired([voice("q", "b", model=QWEN)])
    change = make_plan(d2, account, store, allow_delete=("q",)).change("voice.q")
    assert (change.action, change.reason, change.actions) == ("replace", "audio_changed", ["create", "delete"])


def test_model_change_replaces_create_before_destroy_and_moves_binding_first(account, store) -> None:
    converge(desired([voice("a")], [binding("ag", "a")]), account, store)
    old_id = store.doc.voices["a"].voice_id
    d2 = desired([voice("a", model="cosyvoice-v3-plus")], [binding("ag", "a", model="cosyvoice-v3-plus")])
    account.protected_bindings = {("ag", "tts")}
    plan = make_plan(d2, account, store, allow_delete=("a",))
    assert plan.change("voice.a").actions == ["create", "delete"]
    assert plan.change("binding.ag.tts").reason == "voice_replaced"
    phases = [(s.phase, s.op, s.address) for s in plan.steps]
    assert phases.index(("clone", "create", "voice.a")) < phases.index(("bind", "bind", "binding.ag.tts"))
    assert phases.index(("bind", "bind", "binding.ag.tts")) < phases.index(("retire", "delete", "voice.a"))
    assert plan.quota.peak == 2
    # The graph edges: the bind waits for the new voice's clone and review; retiring the old voice waits for
    # the bind and for the new voice to be approved.
    by_id = {s.id: s for s in plan.steps}
    bind = next(s for s in plan.steps if s.op == "bind")
    retire = next(s for s in plan.steps if s.phase == "retire")
    assert sorted(by_id[n].op for n in bind.needs) == ["create", "wait"] and bind.needs_ok_voice == "a"
    assert bind.id in retire.needs and retire.voice_id == old_id and retire.needs_ok_voice == "a"
    assert all(n in by_id for s in plan.steps for n in s.needs)
    converge(d2, account, store, allow_delete=("a",))
    assert old_id not in account.voices and account.violations == []
    assert store.doc.deposed == {}


def test_tight_quota_switches_to_destroy_before_create_and_names_bindings(account, store) -> None:
    account.quota = 2
    d1 = desired([voice("a"), voice("b")], [binding("ag", "a")], quota=2)
    converge(d1, account, store)
    d2 = desired(
        [voice("a", model="cosyvoice-v3-plus"), voice("b")], [binding("ag", "a", model="cosyvoice-v3-plus")], quota=2
    )
    plan = make_plan(d2, account, store, allow_delete=("a",))
    change = plan.change("voice.a")
    assert change.actions == ["delete", "create"]
    assert change.affected_bindings == ("binding.ag.tts",)
    assert any("console default" in n for n in change.notes)
    assert not plan.is_blocked and plan.quota.peak == 2
    # Destroy before create: detach, then delete the old voice, then clone the new one, each needing the last.
    by_op = {(s.phase, s.op): s for s in plan.steps if s.address in ("voice.a", "binding.ag.tts")}
    detach, free, create = by_op[("detach", "unbind")], by_op[("free", "delete")], by_op[("clone", "create")]
    assert free.needs == (detach.id,) and create.needs == (free.id,)
    converge(d2, account, store, allow_delete=("a",))
    assert account.violations == [] and account.peak <= 2


def test_quota_block_names_unmanaged_voices_and_exits_blocked(account, store) -> None:
    account.quota = 3
    for i in range(2):
        account.add(f"cosyvoice-v2-other-{i:032x}", "cosyvoice-v2")
    d = desired([voice("a"), voice("b")], quota=3)
    plan = make_plan(d, account, store)
    assert plan.is_blocked
    (blocked,) = plan.blocked
    assert blocked.guard == "quota"
    assert "cosyvoice-v2-other-" in blocked.message and "free 1 slot" in blocked.message
    assert (plan.quota.before, plan.quota.peak) == (2, 4)
    _, report = apply(d, account, store)
    assert report is None and account.calls.count("create") == 0


def test_unmanaged_voices_count_but_are_never_touched(account, store) -> None:
    account.add("cosyvoice-v2-other-" + "0" * 32, "cosyvoice-v2")
    d = desired([voice("a")])
    plan = make_plan(d, account, store)
    assert plan.quota.before == 1 and plan.quota.after == 2
    converge(d, account, store)
    assert "cosyvoice-v2-other-" + "0" * 32 in account.voices


def test_voice_deleted_outside_is_recreated_as_drift(account, store) -> None:
    d = desired([voice("a")])
    converge(d, account, store)
    account.voices.clear()
    plan = make_plan(d, account, store)
    assert plan.change("voice.a").reason == "missing_in_account"
    assert [x.reason for x in plan.drift] == ["missing_in_account"]
    converge(d, account, store)


def test_failed_review_is_reported_and_left_alone(account, store) -> None:
    account.fail_review = {"voicectl/audio/a/"}
    d = desired([voice("a"), voice("b")], [binding("ag", "a"), binding("bg", "b")])
    _, report = apply(d, account, store)
    assert not report.ok
    failed = dict(report.failed)
    assert "failed review (UNDEPLOYED)" in failed["voice.a"] and "content" in failed["voice.a"]
    assert "binding.ag.tts" in dict(report.not_attempted)
    assert ("binding.bg.tts", f"bound to b ({store.doc.voices['b'].voice_id})") in report.done
    again = make_plan(d, account, store)
    assert again.change("voice.a").action == "no-op"
    assert [x.reason for x in again.drift if x.address == "voice.a"] == ["review_failed"]
    # New audio for the failed voice is an update of the same id.
    d2 = desired([voice("a", "z"), voice("b")], [binding("ag", "a"), binding("bg", "b")])
    assert make_plan(d2, account, store).change("voice.a").action == "update"


def test_renamed_from_moves_without_cloning(account, store) -> None:
    converge(desired([voice("old")], [binding("ag", "old")]), account, store)
    voice_id = store.doc.voices["old"].voice_id
    d2 = desired([voice("new", renamed_from=("old",))], [binding("ag", "new")])
    plan = make_plan(d2, account, store)
    change = plan.change("voice.new")
    assert change.moved_from == "old" and change.action == "no-op" and change.state_only
    assert plan.change("voice.old") is None
    converge(d2, account, store)
    assert store.doc.voices["new"].voice_id == voice_id and "old" not in store.doc.voices
    assert account.calls.count("create") == 1


def test_voice_whose_create_response_was_lost_is_adopted_not_cloned_twice(account, store) -> None:
    d = desired([voice("a")])
    key = "voicectl/audio/a/" + "a" * 64 + ".wav"
    account.add("cosyvoice-v2-t-" + "f" * 32, "cosyvoice-v2", link=f"https://bucket.example/{key}?Signature=x")
    plan = make_plan(d, account, store)
    change = plan.change("voice.a")
    assert change.adopt_voice_id == "cosyvoice-v2-t-" + "f" * 32 and change.state_only
    assert plan.quota.after == 1
    converge(d, account, store)
    assert account.calls.count("create") == 0 and len(account.voices) == 1


def test_orphan_with_our_prefix_is_deleted_subject_to_guards(account, store) -> None:
    converge(desired([voice("a"), voice("b"), voice("c"), voice("d")]), account, store)
    orphan = "cosyvoice-v2-t-" + "e" * 32
    account.add(orphan, "cosyvoice-v2", link="https://bucket.example/elsewhere.wav")
    d = desired([voice("a"), voice("b"), voice("c"), voice("d")])
    plan = make_plan(d, account, store)
    (change,) = plan.pending
    assert (change.action, change.reason) == ("delete", "not_in_config")
    assert not plan.is_blocked
    converge(d, account, store)
    assert orphan not in account.voices


@pytest.mark.parametrize(
    ("guard", "setup"),
    [
        ("max_deletes", dict(n=8, keep=2, max_deletes=3, fraction=1.0)),
        ("max_delete_fraction", dict(n=10, keep=5, max_deletes=10, fraction=0.3)),
    ],
)
def test_delete_guards_block_until_allowed_per_voice(account, store, guard, setup) -> None:
    names = [f"v{i}" for i in range(setup["n"])]
    converge(desired([voice(n) for n in names], max_deletes=99, fraction=1.0), account, store)
    d2 = desired(
        [voice(n) for n in names[: setup["keep"]]], max_deletes=setup["max_deletes"], fraction=setup["fraction"]
    )
    plan = make_plan(d2, account, store)
    assert guard in {b.guard for b in plan.blocked}
    assert "--allow-delete" in plan.blocked[0].message
    doomed = tuple(names[setup["keep"] :])
    partly = make_plan(d2, account, store, allow_delete=doomed[:1])
    assert partly.is_blocked, "allowing one voice must not lift the guard for the others"
    assert not make_plan(d2, account, store, allow_delete=doomed).is_blocked


def test_protect_blocks_replace_and_delete_even_after_removal_from_config(account, store) -> None:
    converge(desired([voice("p", protect=True), voice("x"), voice("y"), voice("z")]), account, store)
    replaced = desired([voice("p", "b", model=QWEN, protect=True), voice("x"), voice("y"), voice("z")], fraction=1)
    assert {b.guard for b in make_plan(replaced, account, store).blocked} == {"protect"}
    removed = desired([voice("x"), voice("y"), voice("z")], fraction=1)
    assert {b.guard for b in make_plan(removed, account, store).blocked} == {"protect"}
    assert not make_plan(removed, account, store, allow_delete=("p",)).is_blocked


def test_empty_config_guard(account, store) -> None:
    converge(desired([voice("a")]), account, store)
    plan = make_plan(desired([], max_deletes=9, fraction=1), account, store)
    assert "empty_config" in {b.guard for b in plan.blocked}
    assert not make_plan(desired([], max_deletes=9, fraction=1), account, store, allow_delete=("a",)).is_blocked


def test_bound_voice_removed_from_config_is_deleted_after_the_binding_moves(account, store) -> None:
    converge(desired([voice("a"), voice("b")], [binding("ag", "a")]), account, store)
    d2 = desired([voice("b")], [binding("ag", "b")])
    account.protected_bindings = {("ag", "tts")}
    plan = make_plan(d2, account, store, allow_delete=("a",))
    ops = [(s.phase, s.op, s.address) for s in plan.steps]
    assert ("retire", "delete", "voice.a") in ops and ("bind", "bind", "binding.ag.tts") in ops
    converge(d2, account, store, allow_delete=("a",))
    assert account.violations == []


def test_removed_binding_is_unbound(account, store) -> None:
    converge(desired([voice("a")], [binding("ag", "a")]), account, store)
    d2 = desired([voice("a")])
    plan = make_plan(d2, account, store)
    assert plan.change("binding.ag.tts").actions == ["delete"]
    converge(d2, account, store)
    assert account.nodes[("ag", "tts")] is None and store.doc.bindings == {}


def test_binding_drift_is_rebound(account, store) -> None:
    d = desired([voice("a")], [binding("ag", "a")])
    converge(d, account, store)
    account.nodes[("ag", "tts")] = None
    plan = make_plan(d, account, store)
    assert plan.change("binding.ag.tts").reason == "missing_in_account"
    converge(d, account, store)


def test_target_narrows_to_voice_and_its_bindings(account, store) -> None:
    d = desired([voice("a"), voice("b")], [binding("ag", "a")])
    plan = make_plan(d, account, store, targets=("a",))
    assert set(actions(plan)) == {"voice.a", "binding.ag.tts"}
    plan_b = make_plan(d, account, store, targets=("binding.ag.tts",))
    assert set(actions(plan_b)) == {"voice.a", "binding.ag.tts"}


def test_unknown_target_is_an_error(account, store) -> None:
    from reconciler.errors import VoicectlError

    with pytest.raises(VoicectlError, match="--target nope"):
        make_plan(desired([voice("a")]), account, store, targets=("nope",))


def test_fingerprint_is_deterministic_and_sensitive(account, store) -> None:
    d = desired([voice("a")])
    state = store.read()
    from reconciler.providers.snapshot import read_live
    from tests.fakes import fake_provider

    live = read_live(fake_provider(account, store), d, state)
    one = plan_changes(d, state, live).fingerprint
    assert one == plan_changes(d, state, live).fingerprint
    account.add("cosyvoice-v2-zz-" + "1" * 32, "cosyvoice-v2")
    live2 = read_live(fake_provider(account, store), d, state)
    assert plan_changes(d, state, live2).fingerprint != one
    d2 = dataclasses.replace(d, file_sha256="different")
    assert plan_changes(d2, state, live).fingerprint != one


def test_json_document_shape(account, store) -> None:
    converge(desired([voice("a")], [binding("ag", "a")]), account, store)
    d2 = desired([voice("a", model=QWEN), voice("n")], [binding("ag", "a", model=QWEN)])
    doc = json.loads(dumps(plan_json(make_plan(d2, account, store, allow_delete=("a",)))))
    assert doc["format_version"] == "1"
    by_address = {c["address"]: c for c in doc["changes"]}
    assert by_address["voice.a"]["actions"] == ["create", "delete"]
    assert by_address["voice.n"]["actions"] == ["create"] and by_address["voice.n"]["before"] is None
    assert by_address["binding.ag.tts"]["actions"] == ["update"]
    assert set(doc["quota"]) == {"limit", "before", "after", "peak"}
    assert doc["fingerprint"].startswith("sha256:")
    assert isinstance(doc["blocked"], list) and isinstance(doc["drift"], list)


def test_no_wait_leaves_voices_under_review_and_rerun_finishes(account, store) -> None:
    account.review_ticks = 5
    d = desired([voice("a")], [binding("ag", "a")])
    _, report = apply(d, account, store, wait=False)
    assert report.pending_review == ["voice.a"]
    assert "binding.ag.tts" in dict(report.deferred) and report.ok
    assert store.doc.voices["a"].status == VoiceStatus.DEPLOYING
    converge(d, account, store)
    assert account.calls.count("create") == 1


def test_refresh_only_touches_state_only(account, store) -> None:
    d = desired([voice("a"), voice("b")])
    converge(d, account, store)
    del account.voices[store.doc.voices["b"].voice_id]
    plan = make_plan(desired([voice("a"), voice("c")]), account, store, refresh_only=True)
    # Only the state catches up (b is gone from the account); c is not created, nothing is deleted.
    assert [(c.address, c.action, c.state_only) for c in plan.pending] == [("voice.b", "delete", True)]
    assert PlanOptions(refresh_only=True).to_json()["refresh_only"] is True


def test_no_wait_never_retires_a_voice_before_its_replacement_passed_review(account, store) -> None:
    converge(desired([voice("a")]), account, store)
    old_id = store.doc.voices["a"].voice_id
    account.review_ticks = 5
    d2 = desired([voice("a", model="cosyvoice-v3-plus")])
    _, report = apply(d2, account, store, wait=False, allow_delete=("a",))
    assert report.ok and old_id in account.voices
    assert "under review" in dict(report.deferred)["voice.a"]
    converge(d2, account, store, allow_delete=("a",))
    assert old_id not in account.voices and len(account.voices) == 1
