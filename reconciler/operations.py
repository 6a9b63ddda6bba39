"""What each command does, as plain functions the CLI calls: read inputs, plan, apply, edit state.

The CLI parses options and renders; these functions own the order of operations (lock before read, plan
inside the lock for apply, release in every case) and raise `VoicectlError`s with the user's message.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from reconciler.apply.executor import Executor, Progress, RunSettings
from reconciler.apply.report import ApplyReport
from reconciler.errors import ChangesNotApproved, ConfigError, PlanStale, VoicectlError
from reconciler.model import Desired, LockInfo, Stack, Stacks, StateDoc, VoiceRecord, VoiceSpec
from reconciler.naming import VOICE, desired_audio_key, parse_address, voice_address
from reconciler.plan import approval
from reconciler.plan.plan import Plan, PlanOptions
from reconciler.plan.planner import plan_changes
from reconciler.policy import check_plan
from reconciler.providers import open_provider
from reconciler.providers.base import Provider
from reconciler.providers.snapshot import read_live
from reconciler.state import edits
from reconciler.state.journal import StateJournal
from reconciler.state.lease import LeaseKeeper
from reconciler.ui.approval import render_changes_refusal, render_stale_refusal

PLANFILE_KIND = "voicectl-plan"


def compute_plan(provider: Provider, desired: Desired, options: PlanOptions) -> Plan:
    """Read the state and the account, and plan against them. The plan carries the state it was computed
    from (statuses refreshed), which is what apply starts from and writes."""
    unknown = [name for name in options.replace if desired.voice(name) is None]
    if unknown:
        raise VoicectlError(
            f"--replace {', '.join(unknown)}: not declared in {os.path.relpath(desired.path)} "
            f"(declared: {', '.join(v.name for v in desired.voices) or 'none'})"
        )
    state = provider.state.read()
    live = read_live(provider, desired, state)
    plan = gate_lint(desired, plan_changes(desired, state, live, options, notes=provider.notes))
    return check_plan(plan, desired)  # Rego policies: denies block like guards, so apply refuses them too


def gate_lint(desired: Desired, plan: Plan) -> Plan:
    """The audio lint's errors block only audio this plan sends (a create that clones, an update, a
    replacement): a voice whose audio the account accepted already, and that the plan leaves as it is, gets
    its finding as a note instead, since its review passed. Raises ConfigError (exit 1, nothing changed)."""
    if not desired.lint_errors:
        return plan
    sending = {c.name for c in plan.pending if c.sends_audio}
    blocking = [problem for name, problem in desired.lint_errors if name in sending]
    if blocking:
        raise ConfigError(blocking)
    notes = tuple(
        f"{voice_address(name)}: audio lint error, not blocking: this plan does not send that audio, which the "
        f"account has already ({problem.message})"
        for name, problem in desired.lint_errors
    )
    return dataclasses.replace(plan, notes=plan.notes + notes)


def plan(desired: Desired, options: PlanOptions) -> Plan:
    """`voicectl plan`: reads state and the account without taking the lock, writes nothing."""
    with open_provider(desired) as provider:
        return compute_plan(provider, desired, options)


@contextmanager
def _locked_provider(desired: Desired, operation: str, lock_timeout: float) -> Iterator[tuple[Provider, LeaseKeeper]]:
    """The opened account with the state lock held and its lease renewed; both are given back however the
    body ends. The keeper's `lock` is the current lock (renewals extend it)."""
    with open_provider(desired) as provider:
        lock = provider.state.acquire_lock(operation, lock_timeout)
        keeper = LeaseKeeper(provider.state, lock).start()
        try:
            yield provider, keeper
        finally:
            keeper.stop()
            provider.state.release_lock(keeper.lock)


# -- plan files ---------------------------------------------------------------------------------------


def write_planfile(path: str, plan: Plan, desired: Desired) -> None:
    doc = {"kind": PLANFILE_KIND, "config": os.path.relpath(desired.path), "plan": plan.to_json()}
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


def read_planfile(path: str) -> Plan:
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        if doc.get("kind") != PLANFILE_KIND:
            raise ValueError("not a voicectl plan file")
        return Plan.from_json(doc["plan"])
    except FileNotFoundError:
        raise VoicectlError(f"plan file {path} not found") from None
    except (ValueError, KeyError, TypeError) as e:
        raise VoicectlError(
            f"{path} is not a readable voicectl plan file ({e}): run `voicectl plan --out` again"
        ) from None


def read_approved_plan(path: str) -> Plan:
    """The plan a reviewer approved, for `apply --approved-plan`: a plan file (`plan --out`) or the JSON
    document of `plan --format json`. Its change set must still hash to the digest it carries, so that
    a hand-edited or foreign file cannot pass for the approval."""
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        data = doc["plan"] if doc.get("kind") == PLANFILE_KIND else doc
        plan = Plan.from_json(data)
    except FileNotFoundError:
        raise VoicectlError(f"approved plan {path} not found") from None
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise VoicectlError(
            f"{path} is neither a plan file nor the JSON of `voicectl plan --format json` ({e})"
        ) from None
    recorded = data.get("changes_digest")
    if recorded != plan.changes_digest:
        raise VoicectlError(
            f"{path}: its changes do not hash to the changes_digest it records ({recorded}): the file was edited "
            "or written by another voicectl version. Use the plan JSON or plan file of the reviewed run."
        )
    return plan


# -- apply -------------------------------------------------------------------------------------------


@dataclass
class ApplyOutcome:
    plan: Plan
    report: ApplyReport | None  # None when nothing was applied (no changes, or cancelled)
    cancelled: bool = False


@dataclass(frozen=True)
class ApplyRequest:
    """What `voicectl apply` was asked: the plan's options, what the plan computed now must match, how long
    to wait for the lock, and how to run.

    - `expect_fingerprint` (a saved plan, `--expect-fingerprint`): every input as it was; the strict rule.
    - `expect_changes` (`--expect-changes`, apply-on-merge): the change set a reviewer approved, whatever
      else moved in between (another pull request's apply, a voice made by hand that no change touches).
    - `approved`: the plan those came from, when known: it names the inputs that moved and, for a change
      digest, the difference by address."""

    options: PlanOptions
    expect_fingerprint: str | None = None
    lock_timeout: float = 0.0
    run: RunSettings = field(default_factory=RunSettings)
    expect_changes: str | None = None
    approved: Plan | None = None


def apply(
    desired: Desired,
    request: ApplyRequest,
    *,
    confirm: Callable[[Plan], bool] | None = None,
    progress: Progress | None = None,
    on_plan: Callable[[Plan], None] | None = None,
) -> ApplyOutcome:
    """Lock, re-plan from fresh inputs, refuse if stale, not as approved or blocked, confirm, execute,
    unlock: nothing is done unless the plan computed now is the one that was approved."""
    with _locked_provider(desired, "apply", request.lock_timeout) as (provider, keeper):
        lock = keeper.lock
        plan = compute_plan(provider, desired, request.options)
        _check_approval(plan, request, on_plan)
        if on_plan and not request.expect_changes:  # shown already by _check_approval
            on_plan(plan)
        plan.raise_if_blocked()
        prior = plan.prior_state
        assert prior is not None  # a computed plan always carries it
        if not plan.has_changes:
            if plan.state_refreshed:
                provider.state.write(prior, lock)  # e.g. a review that ended between runs
            return ApplyOutcome(plan, None)
        if confirm is not None and not confirm(plan):
            return ApplyOutcome(plan, None, cancelled=True)
        journal = StateJournal(provider.state, prior, lock, lease=keeper)
        executor = Executor(provider, desired, plan, journal, request.run, progress)
        return ApplyOutcome(plan, executor.run())


def _check_approval(plan: Plan, request: ApplyRequest, on_plan: Callable[[Plan], None] | None) -> None:
    approved = request.approved
    if request.expect_fingerprint and plan.fingerprint != request.expect_fingerprint:
        moved = approval.moved_inputs(approved.inputs, plan.inputs) if approved is not None else None
        raise PlanStale(render_stale_refusal(request.expect_fingerprint, plan.fingerprint, moved))
    if request.expect_changes:
        if on_plan:
            on_plan(plan)  # the fresh plan, approved or not: a refusal is read beside it
        # A plan with nothing to do is never refused: it changes nothing (a rerun after the approved apply).
        if plan.has_changes and plan.changes_digest != request.expect_changes:
            diff = approval.compare(approved.change_set, plan.change_set) if approved is not None else None
            moved = approval.moved_inputs(approved.inputs, plan.inputs) if approved is not None else []
            raise ChangesNotApproved(render_changes_refusal(request.expect_changes, plan.changes_digest, diff, moved))


# -- audition ----------------------------------------------------------------------------------------

# What a voice says when neither --text nor its audition_text is given, by its declared language (every
# language either family takes a hint for); English when it declares none.
AUDITION_TEXTS = {
    "zh": "你好，这是我克隆出来的声音。请听一听，它听起来自然吗？",
    "en": "Hello, this is my cloned voice. Have a listen: does it sound natural to you?",
    "fr": "Bonjour, voici ma voix clonée. Écoutez bien : vous semble-t-elle naturelle ?",
    "de": "Hallo, das ist meine geklonte Stimme. Hören Sie genau hin: Klingt sie natürlich?",
    "es": "Hola, esta es mi voz clonada. Escúchala con atención: ¿te parece natural?",
    "it": "Ciao, questa è la mia voce clonata. Ascoltala bene: ti sembra naturale?",
    "pt": "Olá, esta é a minha voz clonada. Ouça com atenção: ela parece natural?",
    "ru": "Здравствуйте, это мой клонированный голос. Послушайте: он звучит естественно?",
    "ja": "こんにちは、これは私のクローン音声です。自然に聞こえるか、聞いてみてください。",
    "ko": "안녕하세요, 이것은 제 복제된 목소리입니다. 자연스럽게 들리는지 들어 보세요.",
}


def audition_text(spec: VoiceSpec, text: str | None = None) -> str:
    """What the voice says: --text, else its audition_text, else the default of its language."""
    return text or spec.audition_text or AUDITION_TEXTS.get((spec.language or "en").split("-")[0], AUDITION_TEXTS["en"])


AUDITION_MIN_SPEECH = 0.2  # below this share of speech, what came back is silence or noise, not the voice
AUDITION_INDEX = "auditions.json"  # written beside the samples of a batch, for CI to link and describe


@dataclass(frozen=True)
class Audition:
    path: str
    seconds: float
    metrics: dict[str, Any] | None  # the lint's metrics summary of what came back
    simulated: str | None  # the label of a simulation (local provider), None for real synthesis

    @property
    def voice_heard(self) -> bool:
        """Whether the lint hears speech in it: a clone that answers with silence or noise has failed, whatever
        its review said."""
        return self.metrics is not None and self.metrics["speech_ratio"] >= AUDITION_MIN_SPEECH


@dataclass(frozen=True)
class Heard:
    """One voice of a batch audition (`apply --audition`, `audition --all`): its sample, or why there is none."""

    name: str
    audition: Audition | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.audition is not None and self.audition.voice_heard

    def line(self) -> str:
        a = self.audition
        if a is None:
            return f"Audition: {voice_address(self.name)}: none ({self.problem})"
        summary = "" if a.metrics is None else f", speech {a.metrics['speech_ratio']:.0%}"
        label = " (simulated)" if a.simulated else ""
        verdict = "" if a.voice_heard else ": NO VOICE HEARD, silence or noise came back (a failed clone)"
        return f"Audition: {voice_address(self.name)}: {a.path}, {a.seconds:.1f} s{summary}{label}{verdict}"

    def to_json(self, directory: str) -> dict[str, Any]:
        a = self.audition
        return {
            "name": self.name,
            "address": voice_address(self.name),
            "file": None if a is None else os.path.relpath(a.path, directory),
            "seconds": None if a is None else round(a.seconds, 2),
            "metrics": None if a is None else a.metrics,
            "simulated": bool(a and a.simulated),
            "voice_heard": self.ok,
            "problem": self.problem,
        }


def audition(desired: Desired, name: str, *, text: str | None, out: str | None, fmt: str = "wav") -> Audition:
    """`voicectl audition NAME`: speech with the cloned voice, written to a file and measured by the lint (a
    voice that answers with silence or noise is a failed clone even if its review passed)."""
    with open_provider(desired) as provider:
        spec = _declared(desired, name)
        return _audition(provider, provider.state.read(), spec, text=text, out=out or f"{name}.{fmt}", fmt=fmt)


def audition_applied(desired: Desired, plan: Plan, directory: str) -> list[Heard]:
    """`apply --audition DIR`: a sample of every voice the plan cloned anew or updated (see `audition_batch`). A
    voice that cannot speak does not fail the apply: its line says why."""
    names = [c.name for c in plan.pending if c.sends_audio]
    return audition_batch(desired, names, directory) if names else []


def audition_all(desired: Desired, directory: str, *, text: str | None = None) -> list[Heard]:
    """`voicectl audition --all DIR`: a sample of every voice voices.yaml declares (a listening test after a
    model upgrade)."""
    return audition_batch(desired, [v.name for v in desired.voices], directory, text=text)


def audition_batch(desired: Desired, names: list[str], directory: str, *, text: str | None = None) -> list[Heard]:
    """DIR/NAME.wav for each voice that is cloned and OK, and DIR/auditions.json describing each sample (its
    duration and metrics) or why there is none, for CI to link."""
    os.makedirs(directory, exist_ok=True)
    heard: list[Heard] = []
    with open_provider(desired) as provider:
        state = provider.state.read()
        for name in names:
            out = os.path.join(directory, f"{name}.wav")
            try:
                sample = _audition(provider, state, _declared(desired, name), text=text, out=out, fmt="wav")
            except VoicectlError as e:
                heard.append(Heard(name, problem=str(e).removeprefix("audition: ")))
                continue
            heard.append(Heard(name, sample))
    index = {"format_version": 1, "samples": [h.to_json(directory) for h in heard]}
    with open(os.path.join(directory, AUDITION_INDEX), "w", encoding="utf-8") as f:
        json.dump(index, f, indent=2, ensure_ascii=False)
    return heard


def _declared(desired: Desired, name: str) -> VoiceSpec:
    spec = desired.voice(name)
    if spec is None:
        declared = ", ".join(v.name for v in desired.voices) or "none"
        raise VoicectlError(f"audition: {name!r} is not declared in {os.path.relpath(desired.path)} ({declared})")
    return spec


def _audition(
    provider: Provider, state: StateDoc, spec: VoiceSpec, *, text: str | None, out: str, fmt: str
) -> Audition:
    from reconciler.audio.analysis import measure_audio
    from reconciler.audio.lint import metrics_summary

    name = spec.name
    record = state.voices.get(name)
    if record is None:
        raise VoicectlError(f"audition: voice.{name} has not been cloned yet: run `voicectl apply` first")
    live = provider.voices.query_voice(record.voice_id)
    if live.status != "OK":
        raise VoicectlError(
            f"audition: voice.{name} ({record.voice_id}) is {live.status}, not OK: only a voice that passed its "
            "review can speak (wait for the review, or give it new audio)"
        )
    if provider.speech is None:
        raise VoicectlError(f"audition: provider {provider.name} cannot synthesize speech")
    result = provider.speech.synthesize(voice_id=record.voice_id, model=record.model, text=audition_text(spec, text))
    _write_audio(out, result.wav, fmt)
    metrics = measure_audio(out)
    return Audition(out, metrics.analysed, metrics_summary(metrics), result.simulated)


def _write_audio(path: str, wav: bytes, fmt: str) -> None:
    if fmt == "wav":
        with open(path, "wb") as f:
            f.write(wav)
        return
    import io

    import av

    with av.open(io.BytesIO(wav), "r") as source, av.open(path, "w", format="mp3") as target:
        stream = target.add_stream("libmp3lame", rate=source.streams.audio[0].rate)
        for frame in source.decode(audio=0):
            frame.pts = None
            for packet in stream.encode(frame):
                target.mux(packet)
        for packet in stream.encode(None):
            target.mux(packet)


# -- doctor ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """One line of `voicectl doctor`: ok True (works), False (fails: detail says what to grant or set), or None
    (not checked, and why)."""

    name: str
    ok: bool | None
    detail: str


_CREDENTIALS = ("DASHSCOPE_API_KEY", "ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET")


def doctor(desired: Desired) -> list[Check]:
    """Check each credential and each permission plan and apply need, read-only: nothing is created, written
    or deleted. A failure names the variable to set or the RAM action to grant (docs/ram-policy.json)."""
    if desired.account.provider == "local":
        return [Check("provider local", True, "a simulated account in .voicectl/local: no credentials needed")]
    checks = [
        Check(f"env {name}", bool(os.environ.get(name)), "set" if os.environ.get(name) else f"not set: export {name}")
        for name in _CREDENTIALS
    ]
    try:
        provider = open_provider(desired)
    except VoicectlError as e:
        return [*checks, Check("open the account", False, str(e))]
    bucket = desired.account.oss.bucket or "BUCKET"
    try:

        def run(name: str, needs: str, probe: Callable[[], str]) -> None:
            try:
                checks.append(Check(name, True, probe()))
            except VoicectlError as e:
                checks.append(Check(name, False, f"{e} [needs {needs}]"))

        run("DashScope voice enrollment", "a valid DASHSCOPE_API_KEY for this region and workspace",
            lambda: f"{len(provider.voices.list_voices())} voices listed")  # fmt: skip
        run("state read", f"oss:ListObjects and oss:GetObject on acs:oss:*:*:{bucket}",
            lambda: f"serial {provider.state.read().serial} at {provider.state.location}")  # fmt: skip
        preflight = getattr(provider.state, "preflight", None)
        if callable(preflight):
            run("state lock prerequisites", f"oss:GetBucketVersioning on acs:oss:*:*:{bucket}", preflight)
        probe = getattr(provider.audio, "probe_read", None)
        if callable(probe):
            prefix = desired.account.oss.key_prefix
            run("audio bucket read", f"oss:GetObject on acs:oss:*:*:{bucket}/{prefix}*", lambda: probe(prefix))
        with_instances = [b for b in desired.bindings if b.instances]
        if with_instances:
            run("IMS agent instances", "ice:DescribeAIAgentInstance",
                lambda: f"{len(provider.binder.read_bindings(with_instances, StateDoc()))} bindings read")  # fmt: skip
        else:
            checks.append(Check("IMS agent instances", None, "no binding lists instances: nothing calls IMS yet"))
        checks.append(
            Check(
                "writes",
                None,
                "not exercised (doctor changes nothing): oss:PutObject and oss:DeleteObject, voice create/update/"
                "delete, ice:UpdateAIAgentInstance; docs/ram-policy.json grants them",
            )
        )
    finally:
        provider.close()
    return checks


# -- state commands ----------------------------------------------------------------------------------


def _locked(
    desired: Desired, operation: str, lock_timeout: float, change: Callable[[Provider, StateDoc], StateDoc]
) -> StateDoc:
    with _locked_provider(desired, operation, lock_timeout) as (provider, keeper):
        return provider.state.write(change(provider, provider.state.read()), keeper.lock)


def import_voice(desired: Desired, name: str, voice_id: str, *, lock_timeout: float = 0.0) -> VoiceRecord:
    spec = desired.voice(name)
    if spec is None:
        raise VoicectlError(
            f"import: {name!r} is not declared in {os.path.relpath(desired.path)}: add it under voices: first"
        )
    imported: list[VoiceRecord] = []

    def adopt(provider: Provider, state: StateDoc) -> StateDoc:
        if name in state.voices:
            raise VoicectlError(
                f"import: {name} is already managed as {state.voices[name].voice_id}; `voicectl state rm {name}` first"
            )
        known = state.voice_ids()
        if voice_id in known:
            raise VoicectlError(f"import: {voice_id} is already managed as {known[voice_id]}")
        live = provider.voices.query_voice(voice_id)
        if live.model != spec.model:
            raise VoicectlError(
                f"import: {voice_id} is a {live.model} voice but voices.yaml declares {name} with model {spec.model}: "
                "set the model to match (a voice speaks only through its own model)"
            )
        record = VoiceRecord(
            voice_id=voice_id,
            model=live.model,
            audio_identity=spec.audio.identity,
            audio_key=desired_audio_key(desired.account.oss.key_prefix, spec),
            status=live.status,
            language=spec.language,
            protect=spec.protect,
            # Unknown: the service does not report the options a voice was cloned with. The plan then compares
            # none of them (no replacement for that alone) and says so.
            options=None,
        )
        imported.append(record)
        forgotten = {k: v for k, v in state.forgotten.items() if k != voice_id}  # managed again
        return dataclasses.replace(state, voices={**state.voices, name: record}, forgotten=forgotten)

    _locked(desired, "import", lock_timeout, adopt)
    return imported[0]


@dataclass(frozen=True)
class Forgotten:
    """What `state rm` forgot: an address, and for a voice the id left in the account, unmanaged."""

    address: str
    voice_id: str | None = None


def state_rm(desired: Desired, names: list[str], *, lock_timeout: float = 0.0) -> list[Forgotten]:
    """Forget voices and bindings, Terraform's `state rm`: the account keeps them. A forgotten voice is
    unmanaged from then on (counted in the quota, listed, never touched) until `import` brings it back."""
    removed: list[Forgotten] = []

    def rm(_: Provider, state: StateDoc) -> StateDoc:
        for name in names:
            address = parse_address(name)
            known = state.voices if address.kind == VOICE else state.bindings
            key = address.name if address.kind == VOICE else str(address)
            if key not in known:
                raise VoicectlError(f"state rm: {address} is not in the state (see `voicectl state list`)")
            if address.kind == VOICE:
                state, voice_id = edits.forget_voice(state, key)
                removed.append(Forgotten(str(address), voice_id))
            else:
                state = edits.drop_binding(state, key)
                removed.append(Forgotten(str(address)))
        return state

    _locked(desired, "state rm", lock_timeout, rm)
    return removed


def state_mv(desired: Desired, old: str, new: str, *, lock_timeout: float = 0.0) -> tuple[str, str]:
    """Rename voice `old` to `new` in the state; returns both addresses."""
    old_name, new_name = parse_address(old).name, parse_address(new).name

    def mv(_: Provider, state: StateDoc) -> StateDoc:
        if old_name not in state.voices:
            raise VoicectlError(f"state mv: voice.{old_name} is not in the state")
        if new_name in state.voices:
            raise VoicectlError(f"state mv: voice.{new_name} already exists in the state")
        return edits.rename_voice(state, old_name, new_name)

    _locked(desired, "state mv", lock_timeout, mv)
    return voice_address(old_name), voice_address(new_name)


def read_state(desired: Desired) -> StateDoc:
    with open_provider(desired) as provider:
        return provider.state.read()


def force_unlock(desired: Desired, lock_id: str) -> LockInfo:
    with open_provider(desired) as provider:
        return provider.state.force_unlock(lock_id)


def current_lock(desired: Desired) -> LockInfo | None:
    with open_provider(desired) as provider:
        return provider.state.current_lock()


def agent_config(state: StateDoc, agent_id: str) -> dict[str, Any]:
    """The AgentConfig for StartAIAgentInstance / GenerateAIAgentCall: the voice the agent's TTS node speaks
    with, as the last apply published it."""
    records = sorted((r for r in state.bindings.values() if r.agent == agent_id), key=lambda r: r.node != "tts")
    if not records:
        raise VoicectlError(
            f"agent {agent_id} has no binding in the state: add one under bindings: in voices.yaml and apply"
        )
    return {"TtsConfig": {"VoiceId": records[0].voice_id}}


def list_voices(desired: Desired, *, search: str | None, include_all: bool) -> list[dict[str, Any]]:
    with open_provider(desired) as provider:
        state = provider.state.read()
        names = state.voice_ids()
        rows = []
        for v in provider.voices.list_voices():
            managed = v.voice_id in names or (v.prefix == desired.account.prefix and v.voice_id not in state.forgotten)
            if not include_all and not managed:
                continue
            name = names.get(v.voice_id) or None
            if search and search.lower() not in f"{name or ''} {v.voice_id}".lower():
                continue
            rows.append(
                {
                    "name": name,
                    "voice_id": v.voice_id,
                    "model": v.model,
                    "status": v.status,
                    "managed": managed,
                    "created": v.created,
                }
            )
        return sorted(rows, key=lambda r: (not r["managed"], r["name"] or "~", r["voice_id"]))


# -- stacks ------------------------------------------------------------------------------------------


def list_stacks(
    root: str | None, changed_since: str | None, *, only: tuple[str, ...] = ()
) -> tuple[Stacks, tuple[Stack, ...]]:
    """The repository's stacks (from `root`, else the nearest directory with voicectl-stacks.yaml, else the
    current one), and those to act on: all, or with `changed_since` those whose voices.yaml or audio differs
    from the merge base of that git ref and HEAD (uncommitted and untracked files included); `only` narrows
    them to the stacks named."""
    from reconciler.config.stacks import discover, find_stacks_root

    stacks = discover(root or find_stacks_root(os.getcwd()) or os.getcwd())
    names = {s.name for s in stacks.stacks}
    unknown = [n for n in only if n not in names]
    if unknown:
        raise VoicectlError(f"--stack {unknown[0]}: no such stack (there are: {', '.join(sorted(names))})")
    listed = stacks.stacks if changed_since is None else stacks.changed(_changed_paths(stacks.root, changed_since))
    return stacks, tuple(s for s in listed if not only or s.name in only)


def _changed_paths(root: str, ref: str) -> list[str]:
    import subprocess

    def git(*args: str) -> str:
        try:
            done = subprocess.run(["git", "-C", root, *args], capture_output=True, text=True, check=False)
        except FileNotFoundError:
            raise VoicectlError("--changed-since needs git on PATH") from None
        if done.returncode != 0:
            raise VoicectlError(
                f"--changed-since {ref}: git {args[0]} failed: {done.stderr.strip() or done.returncode} (fetch the "
                "ref first, e.g. actions/checkout with fetch-depth: 0)"
            )
        return done.stdout

    base = git("merge-base", ref, "HEAD").strip()
    changed = git("diff", "--name-only", "--relative", "-z", base, "--").split("\0")
    untracked = git("ls-files", "--others", "--exclude-standard", "-z").split("\0")
    return [p for p in changed + untracked if p]
