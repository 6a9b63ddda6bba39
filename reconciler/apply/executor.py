"""Carrying a plan out: phase by phase, the steps of a phase in parallel, state written after every success.

There is no rollback (the cloud has none). A step runs only when the steps it needs succeeded (`Step.needs`,
decided by the schedule) and the voice it needs is approved; otherwise it is not attempted (see `gate.py`).
Errors are collected per address, so one voice failing review does not stop the others. Because state is
written after each step and the planner recognises half-finished work (adopts orphans, retires deposed
voices), a rerun after a crash or a failure continues where this run stopped.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from reconciler.apply.gate import Held, Outcome, blocked_by_need, blocked_by_status
from reconciler.apply.report import ApplyReport
from reconciler.apply.review_wait import ReviewOutcome, wait_for_review
from reconciler.catalog import AUDIO_CONTENT_TYPES, MODELS, REVIEW_CHECKLIST
from reconciler.errors import StateConflict, VoicectlError
from reconciler.model import BindingRecord, Desired, VoiceRecord, VoiceSpec, VoiceStatus
from reconciler.naming import desired_audio_key, parse_address
from reconciler.plan.changes import Action, Change, Kind, Phase, Step, StepOp, VoiceBefore
from reconciler.plan.plan import Plan
from reconciler.providers.base import Provider
from reconciler.state import edits
from reconciler.state.journal import StateJournal

# (address, message, kind: "done" | "failed" | "info" | "heartbeat"); heartbeats come every review sweep
Progress = Callable[[str, str, str], None]


@dataclass(frozen=True)
class RunSettings:
    """How an apply runs: `--parallelism`, `--wait/--no-wait`, `--timeout` (and the clock, for tests)."""

    parallelism: int = 10
    wait: bool = True
    timeout: float = 900.0
    sleep: Callable[[float], None] = time.sleep


class Executor:
    def __init__(
        self,
        provider: Provider,
        desired: Desired,
        plan: Plan,
        journal: StateJournal,
        settings: RunSettings = RunSettings(),
        progress: Progress | None = None,
    ):
        self.provider, self.desired, self.plan, self.journal = provider, desired, plan, journal
        self.sleep = settings.sleep
        self.parallelism, self.wait, self.timeout = max(1, settings.parallelism), settings.wait, settings.timeout
        self.progress = progress or (lambda address, message, kind: None)
        self.report = ApplyReport()
        self.outcomes: dict[str, Outcome] = {}  # step id -> what happened to it
        self.steps = {s.id: s for s in plan.steps}
        self.changes = {c.address: c for c in plan.changes}
        self.specs = {v.address: v for v in desired.voices}
        self.bindings = {b.address: b for b in desired.bindings}
        self.reviewed: dict[str, str] = {}  # voice id -> status known this run
        self.key_prefix = desired.account.oss.key_prefix
        self._mutex = threading.Lock()
        self._ops: dict[StepOp, Callable[[Step], None]] = {
            StepOp.ADOPT: self._adopt,
            StepOp.MOVE: self._record,
            StepOp.RECORD: self._record,
            StepOp.FORGET: self._forget,
            StepOp.UNBIND: self._unbind,
            StepOp.DELETE: self._delete,
            StepOp.CREATE: self._create,
            StepOp.UPDATE: self._update,
            StepOp.BIND: self._bind,
        }

    # -- the run --------------------------------------------------------------------------------------
    def run(self) -> ApplyReport:
        for phase in Phase:
            steps = [s for s in self.plan.steps if s.phase == phase]
            if phase == Phase.REVIEW:
                self._wait_for_reviews(steps)
            elif steps:
                self._each(self._run, steps)
        return self.report

    def _each(self, work: Callable[[Step], None], steps: list[Step]) -> None:
        """Run `work` on every step of a phase, up to `parallelism` at once."""
        if len(steps) <= 1 or self.parallelism == 1:
            for step in steps:
                work(step)
            return
        with ThreadPoolExecutor(max_workers=self.parallelism) as pool:
            list(pool.map(work, steps))

    def _run(self, step: Step) -> None:
        held = self._held(step)
        if held is not None:
            self._hold(step, held)
            return
        try:
            self.journal.check_lease()
            self._ops[step.op](step)
        except StateConflict:
            raise  # our lock was broken or the state moved on: stop everything, record nothing more
        except VoicectlError as e:
            self._fail(step, str(e))
        except Exception as e:  # an adapter bug must not lose the record of what already happened
            self._fail(step, f"unexpected {type(e).__name__}: {e}")

    def _held(self, step: Step) -> Held | None:
        """Why `step` must not run now, or None."""
        for need_id in step.needs:
            need = self.steps[need_id]
            held = blocked_by_need(step, need, self.outcomes.get(need_id, Outcome.NOT_ATTEMPTED))
            if held is not None:
                return held
        if step.needs_ok_voice is None:
            return None
        voice_id = self._voice_id(step.needs_ok_voice)
        if voice_id is None:
            return Held(Outcome.NOT_ATTEMPTED, f"voice {step.needs_ok_voice} has no voice id yet")
        return blocked_by_status(step, self._status(step.needs_ok_voice, voice_id), waiting=self.wait)

    # -- bookkeeping ----------------------------------------------------------------------------------
    def _done(self, step: Step, what: str) -> None:
        with self._mutex:
            self.outcomes[step.id] = Outcome.DONE
            self.report.done.append((step.address, what))
        self.progress(step.address, what, "done")

    def _fail(self, step: Step, error: str) -> None:
        with self._mutex:
            self.outcomes[step.id] = Outcome.FAILED
            self.report.failed.append((step.address, error))
        self.progress(step.address, f"failed: {error}", "failed")

    def _hold(self, step: Step, held: Held) -> None:
        with self._mutex:
            self.outcomes[step.id] = held.outcome
            if step.op == StepOp.WAIT:
                return  # the create or update it waits for has already said why
            if held.outcome == Outcome.DEFERRED:
                self.report.deferred.append((step.address, held.why))
            else:
                self.report.not_attempted.append((step.address, held.why))

    # -- state only -----------------------------------------------------------------------------------
    def _adopt(self, step: Step) -> None:
        change, voice = self._change(step), self.specs[step.address]
        adopt_id = change.adopt_voice_id or ""
        # The review wait that follows (for models with a review) reads the real status.
        self._put_voice(voice, change, adopt_id, _initial_status(voice))
        self._done(step, f"adopted {adopt_id} (found in the account, no new clone)")

    def _record(self, step: Step) -> None:
        change = self._change(step)
        if change.kind == Kind.BINDING:
            spec = self.bindings[step.address]
            self.journal.update(
                lambda doc: edits.put_binding(doc, BindingRecord.of(spec, self._voice_id(spec.voice) or ""))
            )
            self._done(step, "recorded in state")
            return
        voice = self.specs[step.address]
        self.journal.update(
            lambda doc: edits.move_voice(doc, voice.name, moved_from=change.moved_from, protect=voice.protect)
        )
        self._done(step, f"moved from voice.{change.moved_from}" if change.moved_from else "recorded")

    def _forget(self, step: Step) -> None:
        change = self._change(step)
        if change.kind == Kind.BINDING:
            self.journal.update(lambda doc: edits.drop_binding(doc, step.address))
        else:
            self.journal.update(lambda doc: edits.drop_voice(doc, change.name, step.voice_id))
        self._done(step, "removed from state (already gone from the account)")

    # -- the account ----------------------------------------------------------------------------------
    def _unbind(self, step: Step) -> None:
        # Agent and node come from the records, never from splitting the address: both may contain '.'.
        target = self.journal.doc.bindings.get(step.address) or self.bindings[step.address]
        self.provider.binder.unbind(agent=target.agent, node=target.node, instances=target.instances)
        self.journal.update(lambda doc: edits.drop_binding(doc, step.address))
        self._done(step, "unbound (node falls back to the workflow's console default)")

    def _delete(self, step: Step) -> None:
        voice_id = step.voice_id or ""
        self.provider.voices.delete_voice(voice_id)
        self.journal.update(lambda doc: edits.drop_voice(doc, parse_address(step.address).name, voice_id))
        self._done(step, f"deleted {voice_id}")

    def _create(self, step: Step) -> None:
        change, voice = self._change(step), self.specs[step.address]
        url = self._audio_url(voice)
        created = self.provider.voices.create_voice(
            name=voice.name,
            model=voice.model,
            prefix=self.desired.account.prefix,
            audio_url=url,
            audio_key=desired_audio_key(self.key_prefix, voice),
            options=voice.clone_options,
        )
        voice_id = created.voice_id
        self._put_voice(voice, change, voice_id, _initial_status(voice), warning=created.warning)
        if created.warning:
            with self._mutex:
                self.report.warnings.append((step.address, f"{voice_id} {created.warning}"))
            self.progress(step.address, f"warning: {created.warning}", "info")
        self._done(step, f"created {voice_id}")

    def _update(self, step: Step) -> None:
        change, voice = self._change(step), self.specs[step.address]
        voice_id = step.voice_id or ""
        self.provider.voices.update_voice(voice_id, audio_url=self._audio_url(voice))
        self._put_voice(voice, change, voice_id, VoiceStatus.DEPLOYING.value)
        self._done(step, f"updated audio of {voice_id}")

    def _audio_url(self, voice: VoiceSpec) -> str:
        """Upload the voice's audio (content-addressed: skipped when present) and sign a URL for this run.
        Done by the create's own worker, so the creates, paced at the account's rate limit, start with the
        first upload instead of after all of them."""
        ttl = self.desired.account.oss.url_ttl
        if voice.audio.url:
            return self.provider.audio.url_for(voice.audio.url, ttl)
        key = desired_audio_key(self.key_prefix, voice)
        ext = key.rsplit(".", 1)[-1]
        try:
            uploaded = self.provider.audio.ensure_uploaded(
                path=voice.audio.path or "",
                key=key,
                sha256=voice.audio.sha256 or "",
                content_type=AUDIO_CONTENT_TYPES.get(ext, "application/octet-stream"),
            )
        except VoicectlError as e:
            raise VoicectlError(f"audio upload failed: {e}") from e
        if self.desired.account.audio_delivery == "inline":
            self.progress(voice.address, "audio sent inline (no upload)", "info")
        else:
            self.progress(voice.address, "audio uploaded" if uploaded else "audio already uploaded", "info")
        return self.provider.audio.signed_url(key, ttl)

    def _bind(self, step: Step) -> None:
        spec = self.bindings[step.address]
        voice_id = self._voice_id(spec.voice) or ""
        self.provider.binder.bind(agent=spec.agent, node=spec.node, voice_id=voice_id, instances=spec.instances)
        self.journal.update(lambda doc: edits.put_binding(doc, BindingRecord.of(spec, voice_id)))
        self._done(step, f"bound to {spec.voice} ({voice_id})")

    # -- the review -----------------------------------------------------------------------------------
    def _wait_for_reviews(self, steps: list[Step]) -> None:
        waiting: dict[str, Step] = {}  # voice id -> its wait step
        for step in steps:
            held = self._held(step)
            voice_id = self._voice_id(parse_address(step.address).name)
            if held is not None or not voice_id:
                self._hold(step, held or Held(Outcome.NOT_ATTEMPTED, "no voice to wait for"))
            else:
                waiting[voice_id] = step
        if not waiting:
            return
        if not self.wait:
            for voice_id, step in waiting.items():
                self.outcomes[step.id] = Outcome.DEFERRED
                self.report.pending_review.append(step.address)
                self.progress(step.address, f"{voice_id} left under review (--no-wait)", "info")
            return
        for step in waiting.values():
            self.progress(step.address, "waiting for review", "info")
        outcome = wait_for_review(
            self.provider.voices, set(waiting), timeout=self.timeout, sleep=self.sleep, on_tick=self._heartbeat
        )
        self._record_review(outcome, waiting)

    def _heartbeat(self, pending: int, elapsed: float) -> None:
        """Each sweep of the review wait; the view decides how often to show it (kind "heartbeat")."""
        voices = "1 voice" if pending == 1 else f"{pending} voices"
        self.progress("review", f"{voices} still under review after {elapsed:.0f} s", "heartbeat")

    def _record_review(self, outcome: ReviewOutcome, waiting: dict[str, Step]) -> None:
        self.reviewed.update(outcome.statuses)
        self.journal.update(lambda doc: edits.with_statuses(doc, outcome.statuses))
        for voice_id, step in sorted(waiting.items(), key=lambda kv: kv[1].address):
            status = outcome.statuses.get(voice_id)
            if status == VoiceStatus.OK:
                self._done(step, f"{voice_id} passed review (OK)")
            elif status == VoiceStatus.UNDEPLOYED:
                self._fail(step, review_failed_message(voice_id, self._measured(step.address, voice_id)))
            elif status is None:
                self._fail(step, f"{voice_id} disappeared from the account during review")
            else:
                self._fail(
                    step,
                    f"{voice_id} still under review after {self.timeout:g} s; it stays in state and the next apply "
                    "keeps waiting for it (raise --timeout to wait longer)",
                )

    # -- helpers ----------------------------------------------------------------------------------------
    def _change(self, step: Step) -> Change:
        """The change a step carries out. The old half of a replacement (deposed) shares its name's address,
        so a delete is matched by the voice id it removes."""
        if step.op == StepOp.DELETE and step.voice_id:
            for change in self.plan.changes:
                if change.address == step.address and change.old_voice_id == step.voice_id:
                    return change
        return self.changes[step.address]

    def _put_voice(
        self, voice: VoiceSpec, change: Change, voice_id: str, status: str, *, warning: str | None = None
    ) -> None:
        record = VoiceRecord(
            voice_id=voice_id,
            model=voice.model,
            audio_identity=voice.audio.identity,
            audio_key=desired_audio_key(self.key_prefix, voice),
            status=status,
            language=voice.language,
            protect=voice.protect,
            lint=voice.audio.metrics,
            options=voice.create_options,
            warning=warning,
        )
        replaces = change.action == Action.REPLACE
        self.journal.update(
            lambda doc: edits.put_voice(doc, voice.name, record, moved_from=change.moved_from, replaces=replaces)
        )

    def _measured(self, address: str, voice_id: str) -> str:
        """The audio lint's metrics of a voice whose review failed, in words. When the lint was skipped they
        are measured now and recorded in state too: failed reviews are what calibrates the thresholds."""
        spec = self.specs.get(address)
        if spec is None or spec.audio.path is None:
            return ""
        from reconciler.audio.lint import explain, lint_file, metrics_summary

        model = MODELS[spec.model]
        metrics = spec.audio.metrics
        if not metrics:
            summary = metrics_summary(lint_file(spec.audio.path, model=model).metrics)
            metrics = tuple(summary.items()) if summary else ()
            if metrics:
                self.journal.update(lambda doc: edits.with_lint(doc, voice_id, metrics))
        return explain(metrics, model=model)

    def _voice_id(self, name: str) -> str | None:
        record = self.journal.doc.voices.get(name)
        return record.voice_id if record else None

    def _status(self, name: str, voice_id: str) -> str:
        """The status of `name`'s voice: as this run's review saw it, else as the account had it at plan time
        (the state's copy is stale when a review ended between runs), else as the state says."""
        if voice_id in self.reviewed:
            return self.reviewed[voice_id]
        # Looked up by voice id, not address: the old half of an interrupted replacement (deposed) is a delete
        # under the same address and would hide the no-op of the voice that replaced it.
        for change in self.plan.changes:
            before = change.before
            same = change.action == Action.NOOP and change.old_voice_id == voice_id
            if same and isinstance(before, VoiceBefore) and before.status:
                return before.status
        record = self.journal.doc.voices.get(name)
        return record.status if record else "missing"


def review_failed_message(voice_id: str, measured: str = "") -> str:
    return (
        f"{voice_id} failed review (UNDEPLOYED). {measured + ' ' if measured else ''}"
        "Check the source audio against the review checklist: "
        + "; ".join(REVIEW_CHECKLIST)
        + ". Give the voice new audio; the same audio would fail again."
    )


def _initial_status(voice: VoiceSpec) -> str:
    """What a new voice's record says until the review wait reads the real status: Qwen has no review."""
    return VoiceStatus.DEPLOYING.value if MODELS[voice.model].has_review else VoiceStatus.OK.value
