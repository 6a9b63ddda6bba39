"""The edits apply and the state commands make to the state document, as pure functions `StateDoc -> StateDoc`.

The journal (`journal.py`) applies them in order and writes the result through the backend; keeping them
here, apart from the I/O, is what lets a step's record be tested without an account.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from reconciler.model import BindingRecord, StateDoc, VoiceRecord


def renamed_bindings(doc: StateDoc, old: str | None, new: str) -> dict[str, BindingRecord]:
    """The state's bindings with those of voice `old` pointing at its new name `new`."""
    if not old:
        return dict(doc.bindings)
    return {k: (dataclasses.replace(b, voice=new) if b.voice == old else b) for k, b in doc.bindings.items()}


def put_voice(doc: StateDoc, name: str, record: VoiceRecord, *, moved_from: str | None, replaces: bool) -> StateDoc:
    """`name` now has the voice `record`. With `replaces`, the voice it had before (under `name` or the former
    name) is kept as deposed until its delete succeeds, so an interrupted replacement is finished later."""
    voices, deposed = dict(doc.voices), dict(doc.deposed)
    moved = voices.pop(moved_from, None) if moved_from else None
    old = voices.get(name) or moved
    if replaces and old is not None and old.voice_id != record.voice_id:
        deposed[old.voice_id] = dataclasses.replace(old, name=name)
    voices[name] = record
    forgotten = {k: v for k, v in doc.forgotten.items() if k != record.voice_id}  # managed again (import)
    return dataclasses.replace(
        doc, voices=voices, deposed=deposed, forgotten=forgotten, bindings=renamed_bindings(doc, moved_from, name)
    )


def move_voice(doc: StateDoc, name: str, *, moved_from: str | None, protect: bool) -> StateDoc:
    """The voice recorded under `moved_from` (or `name`) is `name`'s, with `protect` as voices.yaml says."""
    voices = dict(doc.voices)
    record = voices.pop(moved_from, None) if moved_from else voices.get(name)
    if record is not None:
        voices[name] = dataclasses.replace(record, protect=protect)
    return dataclasses.replace(doc, voices=voices, bindings=renamed_bindings(doc, moved_from, name))


def rename_voice(doc: StateDoc, old: str, new: str) -> StateDoc:
    voices = {(new if k == old else k): v for k, v in doc.voices.items()}
    return dataclasses.replace(doc, voices=voices, bindings=renamed_bindings(doc, old, new))


def drop_voice(doc: StateDoc, name: str, voice_id: str | None) -> StateDoc:
    """Forget voice `voice_id` (under `name`, or deposed); with no id, whatever `name` has."""
    voices = {k: v for k, v in doc.voices.items() if not (k == name and (voice_id is None or v.voice_id == voice_id))}
    deposed = {k: v for k, v in doc.deposed.items() if k != voice_id}
    return dataclasses.replace(doc, voices=voices, deposed=deposed)


def forget_voice(doc: StateDoc, name: str) -> tuple[StateDoc, str]:
    """`state rm NAME`: stop managing the voice and leave it in the account. Its id is remembered as
    forgotten, so that the prefix rule neither deletes it (not in voices.yaml) nor adopts it (same audio key)
    from then on. Returns the new state and the voice id."""
    record = doc.voices[name]
    voices = {k: v for k, v in doc.voices.items() if k != name}
    forgotten = {**doc.forgotten, record.voice_id: name}
    return dataclasses.replace(doc, voices=voices, forgotten=forgotten), record.voice_id


def put_binding(doc: StateDoc, record: BindingRecord) -> StateDoc:
    return dataclasses.replace(doc, bindings={**doc.bindings, record.address: record})


def drop_binding(doc: StateDoc, address: str) -> StateDoc:
    return dataclasses.replace(doc, bindings={k: v for k, v in doc.bindings.items() if k != address})


def with_statuses(doc: StateDoc, statuses: Mapping[str, str]) -> StateDoc:
    """Each voice's status as last seen (`statuses`: voice id -> status); voices not in it keep theirs."""
    voices = {name: dataclasses.replace(r, status=statuses.get(r.voice_id, r.status)) for name, r in doc.voices.items()}
    return dataclasses.replace(doc, voices=voices)


def with_lint(doc: StateDoc, voice_id: str, metrics: tuple[tuple[str, float | None], ...]) -> StateDoc:
    """The audio lint's metrics recorded on the voice `voice_id` (measured after its review failed)."""
    voices = {
        name: dataclasses.replace(r, lint=metrics) if r.voice_id == voice_id else r for name, r in doc.voices.items()
    }
    return dataclasses.replace(doc, voices=voices)
