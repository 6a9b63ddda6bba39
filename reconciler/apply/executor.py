"""Carrying a plan out: phase by phase, steps of a phase in parallel, state written after every success.

There is no rollback (the cloud has none). A step whose prerequisite failed is not attempted; errors are
collected per address, so one voice failing review does not stop the others. Because state is written after
each step and the planner recognises half-finished work (adopts orphans, retires deposed voices), a rerun
after a crash or a failure continues where this run stopped.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from reconciler.apply.report import ApplyReport
from reconciler.apply.review_wait import ReviewOutcome, wait_for_review
from reconciler.catalog import MODELS
from reconciler.errors import StateConflict, VoicectlError
from reconciler.model import (
    BindingSpec,
    Desired,
    StateDoc,
    VoiceRecord,
    VoiceSpec,
    VoiceStatus,
    renamed_bindings,
)
from reconciler.naming import desired_audio_key
from reconciler.plan.plan import DESTROY_BEFORE_CREATE, Change, Plan, Step
from reconciler.plan.planner import binding_record
from reconciler.providers.base import Provider
from reconciler.state.journal import StateJournal

_UNDER_REVIEW = "under review (DEPLOYING)"
CONTENT_TYPES = {"wav": "audio/wav", "mp3": "audio/mpeg", "m4a": "audio/mp4"}
Progress = Callable[[str, str, str], None]  # (address, message, kind: "done" | "failed" | "info")


def _with(doc: StateDoc, **parts: Any) -> StateDoc:
    return dataclasses.replace(doc, **parts)


class Executor:
    def __init__(
        self,
        provider: Provider,
        desired: Desired,
        plan: Plan,
        journal: StateJournal,
        *,
        parallelism: int = 10,
        wait: bool = True,
        timeout: float = 900.0,
        progress: Progress | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.provider, self.desired, self.plan, self.journal = provider, desired, plan, journal
        self.sleep = sleep
        self.parallelism, self.wait, self.timeout = max(1, parallelism), wait, timeout
        self.progress = progress or (lambda address, message, kind: None)
        self.report = ApplyReport()
        self.failed: set[str] = set()  # addresses whose step failed or was skipped
        self.changes = {c.address: c for c in plan.changes}
        self.specs = {v.address: v for v in desired.voices}
        self.bindings = {b.address: b for b in desired.bindings}
        self.urls: dict[str, str] = {}  # voice address -> audio URL for this run (never stored)
        self.reviewed: dict[str, str] = {}  # voice id -> status known this run
        self._report_mutex = threading.Lock()

    # -- bookkeeping ----------------------------------------------------------------------------------
    def _done(self, address: str, what: str) -> None:
        with self._report_mutex:
            self.report.done.append((address, what))
        self.progress(address, what, "done")

    def _fail(self, address: str, error: str) -> None:
        with self._report_mutex:
            self.failed.add(address)
            self.report.failed.append((address, error))
        self.progress(address, f"failed: {error}", "failed")

    def _skip(self, address: str, why: str) -> None:
        with self._report_mutex:
            self.failed.add(address)
            if not self.wait and _UNDER_REVIEW in why:
                self.report.deferred.append((address, why))
            else:
                self.report.not_attempted.append((address, why))

    # -- the run --------------------------------------------------------------------------------------
    def run(self) -> ApplyReport:
        phases = sorted({s.phase for s in self.plan.steps})
        for phase in phases:
            steps = [s for s in self.plan.steps if s.phase == phase]
            if phase == 3:
                self._clone_phase(steps)
                continue
            if phase == 4:
                self._wait_phase(steps)
                continue
            self._run_parallel(steps)
        return self.report

    def _each(self, work: Callable[[Step], None], steps: list[Step]) -> None:
        """Run `work` on every step of a phase, up to `parallelism` at once."""
        if len(steps) <= 1 or self.parallelism == 1:
            for step in steps:
                work(step)
            return
        with ThreadPoolExecutor(max_workers=self.parallelism) as pool:
            list(pool.map(work, steps))

    def _run_parallel(self, steps: list[Step]) -> None:
        self._each(self._run_unless_blocked, steps)

    def _run_unless_blocked(self, step: Step) -> None:
        blocker = self._blocker(step)
        if blocker:
            self._skip(step.address, blocker)
        else:
            self._run_step(step)

    def _run_step(self, step: Step) -> None:
        try:
            getattr(self, f"_op_{step.op}")(step)
        except StateConflict:
            raise  # our lock was broken or the state moved on: stop everything, record nothing more
        except VoicectlError as e:
            self._fail(step.address, str(e))
        except Exception as e:  # an adapter bug must not lose the record of what already happened
            self._fail(step.address, f"unexpected {type(e).__name__}: {e}")

    def _change_for(self, step: Step) -> Change | None:
        """The change a step carries out. The old half of a replacement (deposed) shares its name's address,
        so a delete is matched by the voice id it removes."""
        if step.op == "delete" and step.voice_id:
            for change in self.plan.changes:
                if change.address == step.address and (change.before or {}).get("voice_id") == step.voice_id:
                    return change
        return self.changes.get(step.address)

    def _blocker(self, step: Step) -> str | None:
        """Why a step must not run given what failed before it (None: it may run)."""
        change = self._change_for(step)
        if step.op == "bind":
            spec = self.bindings[step.address]
            voice_address = f"voice.{spec.voice}"
            if voice_address in self.failed:
                return f"voice {spec.voice} was not created or did not pass review"
            voice_id = self._voice_id(spec.voice)
            status = self.reviewed.get(voice_id or "") or self._planned_status(spec.voice, voice_id)
            if voice_id is None:
                return f"voice {spec.voice} has no voice id yet"
            if status == VoiceStatus.DEPLOYING:
                return f"voice {spec.voice} is {_UNDER_REVIEW}: bindings need an approved (OK) voice; rerun apply later"
            if status != VoiceStatus.OK:
                return f"voice {spec.voice} is {status}: bindings need an approved (OK) voice"
        if step.op == "delete" and step.phase == 6 and change is not None:
            if (change.action == "replace" or change.reason == "replaced") and step.address in self.failed:
                return "the new voice is not ready, so the old one is kept"
            if change.action == "replace" or change.reason == "replaced":
                new_id = self._voice_id(change.name)
                new_status = self.reviewed.get(new_id or "") or self._planned_status(change.name, new_id)
                if new_status == VoiceStatus.DEPLOYING:
                    # --no-wait: never retire a working voice before its replacement passed review.
                    return f"the new voice is {_UNDER_REVIEW}, so the old one is kept until it passes"
                if new_status != VoiceStatus.OK:
                    return f"the new voice is {new_status}, so the old one is kept"
            stuck = [b for b in self._bound_to(step.voice_id) if b in self.failed]
            if stuck:
                waiting = any(a == b and _UNDER_REVIEW in why for b in stuck for a, why in self.report.deferred)
                return f"still bound: {', '.join(stuck)} did not move to the new voice" + (
                    f" (its voice is {_UNDER_REVIEW})" if waiting else ""
                )
        if step.op == "delete" and step.phase == 2 and change is not None and change.action == "replace":
            stuck = [b for b in change.affected_bindings if b in self.failed]
            if stuck:
                return f"could not detach {', '.join(stuck)}"
        if step.op in ("create", "update") and step.address not in self.urls:
            if change is not None and change.order == DESTROY_BEFORE_CREATE and step.address in self.failed:
                return "the old voice could not be deleted to make room"
            return "no audio URL (the upload failed)"
        return None

    # -- phase 0: state only --------------------------------------------------------------------------
    def _op_adopt(self, step: Step) -> None:
        change = self.changes[step.address]
        voice = self.specs[step.address]
        adopt_id = change.adopt_voice_id or ""
        # The review wait that follows (for models with a review) reads the real status.
        status = _initial_status(voice)
        self.journal.update(lambda doc: self._record_voice(doc, voice, change, adopt_id, status))
        self._done(step.address, f"adopted {adopt_id} (found in the account, no new clone)")

    def _op_move(self, step: Step) -> None:
        self._op_record(step)

    def _op_record(self, step: Step) -> None:
        change = self.changes[step.address]
        if change.kind == "binding":
            spec = self.bindings[step.address]
            self._record_binding(spec, self._voice_id(spec.voice) or "")
            self._done(step.address, "recorded in state")
            return
        voice = self.specs[step.address]

        def move(doc: StateDoc) -> StateDoc:
            voices = dict(doc.voices)
            record = voices.pop(change.moved_from, None) if change.moved_from else voices.get(voice.name)
            if record is not None:
                voices[voice.name] = dataclasses.replace(record, protect=voice.protect)
            return _with(doc, voices=voices, bindings=renamed_bindings(doc, change.moved_from, voice.name))

        self.journal.update(move)
        self._done(step.address, f"moved from voice.{change.moved_from}" if change.moved_from else "recorded")

    def _op_forget(self, step: Step) -> None:
        change = self.changes[step.address]

        if change.kind == "binding":
            self._forget_binding(step.address)
        else:
            self.journal.update(lambda doc: _without_voice(doc, change.name, step.voice_id))
        self._done(step.address, "removed from state (already gone from the account)")

    # -- phases 1, 2, 6: unbind and delete --------------------------------------------------------------
    def _op_unbind(self, step: Step) -> None:
        # Agent and node come from the records, never from splitting the address: both may contain '.'.
        target = self.journal.doc.bindings.get(step.address) or self.bindings[step.address]
        self.provider.binder.unbind(agent=target.agent, node=target.node, instances=target.instances)
        self._forget_binding(step.address)
        self._done(step.address, "unbound (node falls back to the workflow's console default)")

    def _op_delete(self, step: Step) -> None:
        change = self.changes[step.address]
        voice_id = step.voice_id or ""
        self.provider.voices.delete_voice(voice_id)
        self.journal.update(lambda doc: _without_voice(doc, change.name, voice_id))
        self._done(step.address, f"deleted {voice_id}")

    # -- phase 3: clone ---------------------------------------------------------------------------------
    def _clone_phase(self, steps: list[Step]) -> None:
        """Each voice's upload and then its create or update, in one worker.

        Creates are paced by the account's rate limit (10/s), so uploading every file before the first
        create only delayed the creates, and with them the end of every review; in one worker, the uploads of
        later voices run while earlier creates wait for their permits. A voice whose upload failed is
        reported and its create skipped, as before."""
        uploads = {s.address for s in steps if s.op in ("create", "update")}
        uploads = {a for a in uploads if a in self.specs and a not in self.failed}

        def clone(step: Step) -> None:
            if step.address in uploads and step.address not in self.urls:
                self._upload(self.specs[step.address])
            self._run_unless_blocked(step)

        self._each(clone, steps)

    def _upload(self, voice: VoiceSpec) -> None:
        try:
            self.urls[voice.address] = self._audio_url(voice)
        except VoicectlError as e:
            self._fail(voice.address, f"audio upload failed: {e}")

    def _audio_url(self, voice: VoiceSpec) -> str:
        ttl = self.desired.account.oss.url_ttl
        if voice.audio.url:
            return self.provider.audio.url_for(voice.audio.url, ttl)
        key = desired_audio_key(self.desired.account.oss.key_prefix, voice)
        ext = key.rsplit(".", 1)[-1]
        uploaded = self.provider.audio.ensure_uploaded(
            path=voice.audio.path or "",
            key=key,
            sha256=voice.audio.sha256 or "",
            content_type=CONTENT_TYPES.get(ext, "application/octet-stream"),
        )
        self.progress(voice.address, "audio uploaded" if uploaded else "audio already uploaded", "info")
        return self.provider.audio.signed_url(key, ttl)

    def _op_create(self, step: Step) -> None:
        change, voice = self.changes[step.address], self.specs[step.address]
        voice_id = self.provider.voices.create_voice(
            name=voice.name,
            model=voice.model,
            prefix=self.desired.account.prefix,
            audio_url=self.urls[step.address],
            audio_key=desired_audio_key(self.desired.account.oss.key_prefix, voice),
            language=voice.language,
        )
        status = _initial_status(voice)
        self.journal.update(lambda doc: self._record_voice(doc, voice, change, voice_id, status))
        self._done(step.address, f"created {voice_id}")

    def _op_update(self, step: Step) -> None:
        voice = self.specs[step.address]
        change = self.changes[step.address]
        voice_id = step.voice_id or ""
        self.provider.voices.update_voice(voice_id, audio_url=self.urls[step.address])
        self.journal.update(lambda doc: self._record_voice(doc, voice, change, voice_id, VoiceStatus.DEPLOYING.value))
        self._done(step.address, f"updated audio of {voice_id}")

    def _record_voice(self, doc: StateDoc, voice: VoiceSpec, change: Change, voice_id: str, status: str) -> StateDoc:
        voices, deposed = dict(doc.voices), dict(doc.deposed)
        old = voices.pop(change.moved_from, None) if change.moved_from else None
        old = voices.get(voice.name) or old
        if old is not None and old.voice_id != voice_id and change.action == "replace":
            # The old half of a replacement is kept as deposed until its delete succeeds.
            deposed[old.voice_id] = dataclasses.replace(old, name=voice.name)
        voices[voice.name] = VoiceRecord(
            voice_id=voice_id,
            model=voice.model,
            audio_identity=voice.audio.identity,
            audio_key=desired_audio_key(self.desired.account.oss.key_prefix, voice),
            status=status,
            language=voice.language,
            protect=voice.protect,
        )
        bindings = renamed_bindings(doc, change.moved_from, voice.name)
        return _with(doc, voices=voices, deposed=deposed, bindings=bindings)

    # -- phase 4: review --------------------------------------------------------------------------------
    def _wait_phase(self, steps: list[Step]) -> None:
        waiting: dict[str, str] = {}  # voice id -> address
        for step in steps:
            if step.address in self.failed:
                continue  # its create or update already reported why
            voice_id = self._voice_id(step.address.removeprefix("voice."))
            if voice_id:
                waiting[voice_id] = step.address
        if not waiting:
            return
        if not self.wait:
            for voice_id, address in waiting.items():
                self.report.pending_review.append(address)
                self.progress(address, f"{voice_id} left under review (--no-wait)", "info")
            return
        for address in waiting.values():
            self.progress(address, "waiting for review", "info")
        outcome = wait_for_review(self.provider.voices, set(waiting), timeout=self.timeout, sleep=self.sleep)
        self._record_review(outcome, waiting)

    def _record_review(self, outcome: ReviewOutcome, waiting: dict[str, str]) -> None:
        self.reviewed.update(outcome.statuses)

        def statuses(doc: StateDoc) -> StateDoc:
            voices = {
                name: dataclasses.replace(r, status=outcome.statuses.get(r.voice_id, r.status))
                for name, r in doc.voices.items()
            }
            return _with(doc, voices=voices)

        self.journal.update(statuses)
        for voice_id, address in sorted(waiting.items(), key=lambda kv: kv[1]):
            status = outcome.statuses.get(voice_id)
            if status == VoiceStatus.OK:
                self._done(address, f"{voice_id} passed review (OK)")
            elif status == VoiceStatus.UNDEPLOYED:
                self._fail(address, review_failed_message(voice_id))
            elif status is None:
                self._fail(address, f"{voice_id} disappeared from the account during review")
            else:
                self._fail(
                    address,
                    f"{voice_id} still under review after {self.timeout:g} s; it stays in state and the next apply "
                    "keeps waiting for it (raise --timeout to wait longer)",
                )

    # -- phase 5: bind ----------------------------------------------------------------------------------
    def _op_bind(self, step: Step) -> None:
        spec = self.bindings[step.address]
        voice_id = self._voice_id(spec.voice) or ""
        self.provider.binder.bind(agent=spec.agent, node=spec.node, voice_id=voice_id, instances=spec.instances)
        self._record_binding(spec, voice_id)
        self._done(step.address, f"bound to {spec.voice} ({voice_id})")

    # -- helpers ----------------------------------------------------------------------------------------
    def _record_binding(self, spec: BindingSpec, voice_id: str) -> None:
        self.journal.update(
            lambda doc: _with(doc, bindings={**doc.bindings, spec.address: binding_record(spec, voice_id)})
        )

    def _forget_binding(self, address: str) -> None:
        self.journal.update(lambda doc: _with(doc, bindings={k: v for k, v in doc.bindings.items() if k != address}))

    def _voice_id(self, name: str) -> str | None:
        record = self.journal.doc.voices.get(name)
        return record.voice_id if record else None

    def _planned_status(self, name: str, voice_id: str | None) -> str:
        """A voice this run does not touch: its status in the account at plan time. The state's copy is stale
        when the review ended between runs (--no-wait, a timed-out wait), and would block the bind forever."""
        # Looked up by voice id, not address: the old half of an interrupted replacement (deposed) is a delete
        # under the same address and would hide the no-op of the voice that replaced it.
        for change in self.plan.changes:
            before = change.before or {}
            same = change.kind == "voice" and change.action == "no-op" and before.get("voice_id") == voice_id
            if voice_id and same and before.get("status"):
                return str(before["status"])
        return self._state_status(name)

    def _state_status(self, name: str) -> str:
        record = self.journal.doc.voices.get(name)
        return record.status if record else "missing"

    def _bound_to(self, voice_id: str | None) -> list[str]:
        """Bindings that this plan moves away from `voice_id`."""
        return [
            c.address
            for c in self.plan.changes
            if c.kind == "binding" and c.action in ("bind", "rebind") and (c.before or {}).get("voice_id") == voice_id
        ]


def review_failed_message(voice_id: str) -> str:
    return (
        f"{voice_id} failed review (UNDEPLOYED). Check the source audio against the review checklist: "
        "content (one speaker, clear speech, no music), format (WAV 16-bit/MP3/M4A, >= 16 kHz), clarity "
        "(at least 5 s of continuous clear speech), noise (quiet room, no echo). Give the voice new audio; "
        "the same audio would fail again."
    )


def _initial_status(voice: VoiceSpec) -> str:
    """What a new voice's record says until the review wait reads the real status: Qwen has no review."""
    return VoiceStatus.DEPLOYING.value if MODELS[voice.model].has_review else VoiceStatus.OK.value


def _without_voice(doc: StateDoc, name: str, voice_id: str | None) -> StateDoc:
    voices = {k: v for k, v in doc.voices.items() if not (k == name and (voice_id is None or v.voice_id == voice_id))}
    deposed = {k: v for k, v in doc.deposed.items() if k != voice_id}
    return _with(doc, voices=voices, deposed=deposed)
