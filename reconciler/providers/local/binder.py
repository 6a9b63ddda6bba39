"""Simulated IMS agents: each agent's TTS nodes and its running instances, and which voice each speaks with.

Agents exist as soon as a binding names them (the console, where they are really created, is out of scope).
Instances must exist: they are seeded with `LocalAccount.add_instance`, like instances started by an app.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from reconciler.errors import ProviderError
from reconciler.model import BindingSpec, LiveBinding, StateDoc, VoiceStatus
from reconciler.providers.local.db import AccountDb
from reconciler.providers.local.voices import status_at


class LocalBinder:
    """The `Binder` port on the local account."""

    def __init__(self, db: AccountDb):
        self._db = db

    def read_bindings(self, targets: Iterable[BindingSpec], state: StateDoc) -> list[LiveBinding]:
        with self._db.call():
            # Instances listed by the config and by the state are both checked: the state's list is what
            # was pointed last time, the config's is what should be pointed now.
            listed: dict[tuple[str, str], set[str]] = {}
            for t in targets:
                listed.setdefault((t.agent, t.node), set()).update(t.instances)
            for r in state.bindings.values():
                listed.setdefault((r.agent, r.node), set()).update(r.instances)
            nodes = {(a, n): v for a, n, v in self._db.query("SELECT agent, node, voice_id FROM nodes")}
            instances = dict(self._db.query("SELECT instance_id, voice_id FROM instances"))
            out = []
            for (agent, node), wanted in sorted(listed.items()):
                voice_id = nodes.get((agent, node))
                # An instance that does not exist counts as drifted: re-pointing it then fails with
                # "not found", which tells the user to drop it from the config instead of hiding it.
                drifted = tuple(sorted(i for i in wanted if i not in instances or instances[i] != voice_id))
                out.append(LiveBinding(agent=agent, node=node, voice_id=voice_id, drifted_instances=drifted))
            return out

    def bind(self, *, agent: str, node: str, voice_id: str, instances: tuple[str, ...]) -> None:
        with self._db.call(), self._db.transaction() as tx:
            row = tx.one("SELECT ready_at, final_status FROM voices WHERE voice_id = ?", (voice_id,))
            if row is None:
                raise ProviderError(f"cannot bind {agent}/{node}: voice {voice_id} does not exist", code="NotFound")
            status = status_at(row[0], row[1], time.time())
            if status != VoiceStatus.OK.value:
                raise ProviderError(
                    f"cannot bind {agent}/{node}: voice {voice_id} is {status}; only OK voices can be bound",
                    code="Forbidden.VoiceNotReady",
                )
            # All instances are checked before anything changes, so a refused bind leaves nothing half-done.
            for instance_id in instances:
                if tx.one("SELECT 1 FROM instances WHERE instance_id = ?", (instance_id,)) is None:
                    raise ProviderError(
                        f"instance {instance_id} not found (agent {agent}): it may have ended; "
                        "remove it from the binding's instances",
                        code="InstanceNotFound",
                    )
            tx.execute(
                "INSERT INTO nodes (agent, node, voice_id) VALUES (?, ?, ?)"
                " ON CONFLICT (agent, node) DO UPDATE SET voice_id = excluded.voice_id",
                (agent, node, voice_id),
            )
            for instance_id in instances:
                tx.execute("UPDATE instances SET voice_id = ? WHERE instance_id = ?", (voice_id, instance_id))

    def unbind(self, *, agent: str, node: str, instances: tuple[str, ...]) -> None:
        # The node falls back to the workflow's console default; running instances keep their voice until
        # they end, as UpdateAIAgentInstance has no "default" to return to.
        with self._db.call(), self._db.transaction() as tx:
            tx.execute("DELETE FROM nodes WHERE agent = ? AND node = ?", (agent, node))

    def close(self) -> None:
        self._db.close()
