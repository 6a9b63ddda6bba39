"""What a reviewer approves: the change set of a plan, its digest, the inputs it was computed from, and how an
approved plan and a fresh one differ.

The fingerprint (planner.fingerprint) pins every input, so a saved plan is stale as soon as anything moved.
The change digest pins only what the plan would *do*: address, action, the desired values shown, the ids of
the voices it updates, replaces or deletes, and binding targets. Apply-on-merge compares change digests, so
a second pull request merged after a first one applies when its own change set is still what was reviewed,
although the first one's apply moved the state serial and the account.

Pure: no I/O. The digest is over canonical JSON, so identical change sets give identical digests.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from reconciler.model import Desired, LiveSnapshot, StateDoc
from reconciler.plan.changes import Action, BindingState, Change, VoiceAfter

Entry = dict[str, Any]


# -- the change set ------------------------------------------------------------------------------------


def change_entry(change: Change) -> Entry:
    """One change as a reviewer sees it. Paths are left out (audio identity is the content), and so is
    everything that only describes the account around the change (statuses, quota)."""
    entry: Entry = {"address": change.address, "actions": change.actions}
    if change.state_only:
        entry["state_only"] = True
    if change.moved_from:
        entry["moved_from"] = change.moved_from
    after, before = change.after, change.before
    if isinstance(after, VoiceAfter):
        entry.update(model=after.model, audio=after.audio, language=after.language, protect=after.protect)
        entry.update(sorted(after.options.items()))
    if isinstance(after, BindingState):
        entry.update(voice=after.voice, model=after.model, instances=sorted(after.instances))
        if after.voice_id:
            entry["voice_id"] = after.voice_id
    if change.forced_by:
        entry["forced_by"] = list(change.forced_by)
    if change.adopt_voice_id:
        entry["adopts"] = change.adopt_voice_id
    # The voice an update, replacement or delete acts on: approving "delete voice.x" approves deleting that
    # voice, not whichever voice carries the name by the time the apply runs.
    acts_on = change.action in (Action.UPDATE, Action.REPLACE, Action.DELETE, Action.REBIND, Action.UNBIND)
    if acts_on and before is not None and before.voice_id:
        entry["acts_on"] = before.voice_id
    return entry


def change_set(changes: tuple[Change, ...]) -> list[Entry]:
    """The pending changes of a plan as entries, in address order."""
    entries = [change_entry(c) for c in changes if c.is_change]
    return sorted(entries, key=lambda e: (e["address"], e.get("acts_on", "")))


def changes_digest(entries: list[Entry]) -> str:
    canonical = json.dumps(entries, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


# -- the inputs ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanInputs:
    """What a plan was computed from, in enough detail to say which input moved (the fingerprint only says
    that one did). Account voices are summarised as model, status and a short hash of the rest."""

    voices_yaml: str = ""
    audio: dict[str, str] = field(default_factory=dict)  # voice name -> audio identity
    state: tuple[str, int] = ("", 0)  # lineage, serial
    account: dict[str, str] = field(default_factory=dict)  # voice id -> "model status #hash"

    def to_json(self) -> dict[str, Any]:
        return {
            "voices_yaml": self.voices_yaml,
            "audio": dict(sorted(self.audio.items())),
            "state": {"lineage": self.state[0], "serial": self.state[1]},
            "account": dict(sorted(self.account.items())),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> PlanInputs:
        data = data or {}
        state = data.get("state") or {}
        return cls(
            voices_yaml=str(data.get("voices_yaml") or ""),
            audio={str(k): str(v) for k, v in (data.get("audio") or {}).items()},
            state=(str(state.get("lineage") or ""), int(state.get("serial") or 0)),
            account={str(k): str(v) for k, v in (data.get("account") or {}).items()},
        )


def plan_inputs(desired: Desired, state: StateDoc, live: LiveSnapshot) -> PlanInputs:
    def summary(model: str, status: str, *rest: str | None) -> str:
        tail = hashlib.sha256("|".join(r or "" for r in rest).encode()).hexdigest()[:8]
        return f"{model} {status} #{tail}"

    return PlanInputs(
        voices_yaml=desired.file_sha256,
        audio={v.name: v.audio.identity for v in desired.voices},
        state=(state.lineage, state.serial),
        account={v.voice_id: summary(v.model, v.status, v.modified, v.resource_link) for v in live.voices},
    )


def moved_inputs(approved: PlanInputs, fresh: PlanInputs) -> list[str]:
    """Which inputs differ between two plans, one line each, most telling first."""
    moved: list[str] = []
    if approved.voices_yaml and approved.voices_yaml != fresh.voices_yaml:
        moved.append(
            f"voices.yaml changed ({short_identity(approved.voices_yaml)} -> {short_identity(fresh.voices_yaml)})"
        )
    for name, old, new in _keyed_diff(approved.audio, fresh.audio):
        if old is None:
            moved.append(f"voice {name} was added to voices.yaml")
        elif new is None:
            moved.append(f"voice {name} was removed from voices.yaml")
        else:
            moved.append(f"the audio of voice {name} changed ({short_identity(old)} -> {short_identity(new)})")
    if approved.state[0] and approved.state[0] != fresh.state[0]:
        moved.append("the state was replaced (another lineage)")
    elif approved.state != fresh.state:
        moved.append(f"the state moved from serial {approved.state[1]} to {fresh.state[1]} (another apply ran)")
    for voice_id, old, new in _keyed_diff(approved.account, fresh.account):
        what = (
            f"appeared ({new})" if old is None else f"is gone ({old})" if new is None else f"changed ({old} -> {new})"
        )
        moved.append(f"account: voice {voice_id} {what}")
    return moved


def _keyed_diff(old: dict[str, str], new: dict[str, str]) -> list[tuple[str, str | None, str | None]]:
    return [(k, old.get(k), new.get(k)) for k in sorted(old.keys() | new.keys()) if old.get(k) != new.get(k)]


def short_identity(identity: str) -> str:
    """sha256:0123456789ab for a long content hash, as people read it."""
    algo, _, digest = identity.partition(":")
    return f"{algo}:{digest[:12]}" if digest else identity[:12]


# -- comparing an approved change set with a fresh one -------------------------------------------------


@dataclass(frozen=True)
class ChangeSetDiff:
    """How a fresh change set differs from the approved one, by address."""

    only_approved: tuple[Entry, ...] = ()
    only_fresh: tuple[Entry, ...] = ()
    differ: tuple[tuple[Entry, Entry], ...] = ()  # (approved, fresh) of one address

    def __bool__(self) -> bool:
        return bool(self.only_approved or self.only_fresh or self.differ)


def compare(approved: list[Entry], fresh: list[Entry]) -> ChangeSetDiff:
    """Pair the entries of each address (an address has two when a deposed voice is deleted beside its
    replacement); what has no partner is only in one side."""
    old, new = _by_address(approved), _by_address(fresh)
    only_old: list[Entry] = []
    only_new: list[Entry] = []
    differ: list[tuple[Entry, Entry]] = []
    for address in sorted(old.keys() | new.keys()):
        a, b = old.get(address, []), new.get(address, [])
        pairs = list(zip(a, b, strict=False))
        differ += [(x, y) for x, y in pairs if x != y]
        only_old += a[len(pairs) :]
        only_new += b[len(pairs) :]
    return ChangeSetDiff(tuple(only_old), tuple(only_new), tuple(differ))


def _by_address(entries: list[Entry]) -> dict[str, list[Entry]]:
    grouped: dict[str, list[Entry]] = {}
    for entry in entries:
        grouped.setdefault(entry["address"], []).append(entry)
    return grouped
