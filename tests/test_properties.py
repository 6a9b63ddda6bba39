"""Properties of plan/apply over random desired/live/state triples (hypothesis).

For any first config applied, any drift made behind voicectl's back, and any second config:
- a plan that is not blocked applies cleanly, and the next plan is empty (convergence);
- the account never holds more voices than the quota at any step;
- no voice is deleted while a binding in the config still speaks with it;
- a plan blocked by the quota changes nothing in the account.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.plan.changes import Phase
from tests.fakes import FakeAccount, MemoryStateStore, binding, desired, voice
from tests.harness import allow_all, apply, make_plan

NAMES = ["a", "b", "c", "d", "e"]
AUDIO = ["a", "b", "c"]
MODELS = ["cosyvoice-v2", "cosyvoice-v3-flash", "qwen3-tts-vc-2026-01-22"]
AGENTS = ["x", "y", "z"]
PREFIX = "t"


@st.composite
def configs(draw: st.DrawFn) -> tuple[list, list]:
    names = draw(st.lists(st.sampled_from(NAMES), unique=True, max_size=5))
    voices = [voice(n, draw(st.sampled_from(AUDIO)), draw(st.sampled_from(MODELS))) for n in names]
    bindings = []
    for agent in AGENTS:
        if voices and draw(st.booleans()):
            v = draw(st.sampled_from(voices))
            bindings.append(binding(agent, v.name, v.model))
    return voices, bindings


DRIFT = st.lists(st.sampled_from(["remove_voice", "orphan", "unmanaged", "reset_node", "fail_review"]), max_size=3)


def _perturb(account: FakeAccount, store: MemoryStateStore, drift: list[str], quota: int, seed: int) -> list[str]:
    extra_ids: list[str] = []
    for i, kind in enumerate(drift):
        managed = sorted(r.voice_id for r in store.doc.voices.values() if r.voice_id in account.voices)
        if kind == "remove_voice" and managed:
            account.voices.pop(managed[(seed + i) % len(managed)])
        elif kind in ("orphan", "unmanaged") and len(account.voices) < quota:
            prefix = PREFIX if kind == "orphan" else "other"
            voice_id = f"cosyvoice-v2-{prefix}-{seed * 10 + i:032x}"
            account.add(voice_id, "cosyvoice-v2", link="https://bucket.example/elsewhere.wav")
            extra_ids.append(voice_id)
        elif kind == "reset_node" and account.nodes:
            node = sorted(account.nodes)[(seed + i) % len(account.nodes)]
            account.nodes[node] = None
        elif kind == "fail_review":
            account.fail_review.add(f"voicectl/audio/{NAMES[(seed + i) % len(NAMES)]}/")
    return extra_ids


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    first=configs(),
    second=configs(),
    unmanaged=st.integers(0, 4),
    quota=st.integers(1, 10),
    drift=DRIFT,
    seed=st.integers(0, 1000),
)
def test_plan_apply_properties(first, second, unmanaged, quota, drift, seed) -> None:
    account = FakeAccount(quota=quota, review_ticks=1)
    for i in range(min(unmanaged, quota)):
        account.add(f"cosyvoice-v2-other-{i:032x}", "cosyvoice-v2")
    store = MemoryStateStore()
    d1 = desired(*first, quota=quota, prefix=PREFIX, max_deletes=99, fraction=1.0)
    apply(d1, account, store, allow_delete=allow_all(d1))
    extra = _perturb(account, store, drift, quota, seed)

    d2 = desired(*second, quota=quota, prefix=PREFIX, max_deletes=99, fraction=1.0)
    allow = allow_all(d1, d2, extra=tuple(extra) + tuple(store.doc.deposed))
    account.protected_bindings = {(b.agent, b.node) for b in d2.bindings}
    before_calls = list(account.calls)
    plan, report = apply(d2, account, store, allow_delete=allow)

    assert account.violations == [], account.violations
    assert account.peak <= quota
    if plan.is_blocked:
        assert {b.guard for b in plan.blocked} == {"quota"}
        assert plan.quota.peak > quota
        writes = [c for c in account.calls if c not in ("list", "query")]
        assert writes == [c for c in before_calls if c not in ("list", "query")]
        return
    assert plan.quota.peak <= quota or all(s.quota_delta <= 0 for s in plan.steps)
    failed_review = report is not None and any("failed review" in e for _, e in report.failed)
    if report is not None and not failed_review:
        assert report.ok, report
    after = make_plan(d2, account, store, allow_delete=allow)
    if failed_review:
        # A voice that failed review stays (reported as drift) and its bindings cannot move to it; what remains
        # is those bindings and the deletes that wait for them (the retire phase), never anything else.
        assert any(d.reason == "review_failed" for d in after.drift)
        waiting = {s.address for s in after.steps if s.phase == Phase.RETIRE}
        leftover = {c.address for c in after.pending if not c.address.startswith("binding.")}
        assert leftover <= waiting, (leftover, waiting)
    else:
        assert not after.has_changes, [c.to_json() for c in after.pending]
