"""`LocalAccount`: the test and development handle on a local account.

It does what the cloud (or a person in the console) does behind voicectl's back: seed foreign voices, delete
an unused voice, fail a review, move a running instance to another voice. Tests use it to create drift;
`voicectl voices` may use `voices()` to list the account. It pays no simulated latency.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Mapping
from types import TracebackType

from reconciler.errors import VoicectlError
from reconciler.model import DEFAULT_NODE, LiveVoice, VoiceStatus
from reconciler.providers.local.db import AccountDb
from reconciler.providers.local.voices import VOICE_COLUMNS, not_found, row_to_live

_STATUSES = tuple(s.value for s in VoiceStatus)


class LocalAccount:
    def __init__(self, base_dir: str, env: Mapping[str, str] | None = None):
        self._db = AccountDb(base_dir, env or {})
        self.dir = self._db.dir

    # ---------------------------------------------------------------------------------------- voices

    def voices(self) -> list[LiveVoice]:
        """Every voice, with its resource_link (unlike the service's list)."""
        rows = self._db.query(f"SELECT {VOICE_COLUMNS} FROM voices ORDER BY created, voice_id")
        now = time.time()
        return [row_to_live(r, now, with_link=True) for r in rows]

    def add_voice(
        self,
        voice_id: str,
        model: str,
        status: str = "OK",
        resource_link: str | None = None,
        display_name: str | None = None,
    ) -> None:
        """Seed a voice (unmanaged, foreign, or of this prefix), ignoring the quota as existing voices do."""
        _check_status(status)
        now = time.time()
        try:
            with self._db.transaction() as tx:
                tx.execute(
                    "INSERT INTO voices (voice_id, model, display_name, resource_link, created, modified,"
                    " ready_at, final_status) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (voice_id, model, display_name, resource_link, now, now, now, status),
                )
        except sqlite3.IntegrityError:
            raise VoicectlError(f"voice {voice_id} already exists in the local account") from None

    def remove_voice(self, voice_id: str) -> bool:
        """Delete a voice as the service does with voices unused for a year. True when it existed."""
        with self._db.transaction() as tx:
            return tx.execute("DELETE FROM voices WHERE voice_id = ?", (voice_id,)).rowcount > 0

    def set_status(self, voice_id: str, status: str) -> None:
        """Force a voice's status from now on (DEPLOYING stays until set again)."""
        _check_status(status)
        with self._db.transaction() as tx:
            cur = tx.execute(
                "UPDATE voices SET ready_at = ?, final_status = ? WHERE voice_id = ?",
                # final_status DEPLOYING never ends by itself: it holds until set again.
                (time.time(), status, voice_id),
            )
            if cur.rowcount == 0:
                raise not_found(voice_id)

    def fail_next_review(self, error: str = "Audio.AudioSilentError: no speech detected", count: int = 1) -> None:
        """Make the next `count` CosyVoice reviews (create or update) end UNDEPLOYED, whatever the audio.

        Kept in the database, so it also applies to a voicectl run in another process."""
        with self._db.transaction() as tx:
            for _ in range(count):
                tx.execute("INSERT INTO review_failures (error) VALUES (?)", (error,))

    def review_error(self, voice_id: str) -> str | None:
        """Why a voice's review failed ("Code: message; ..."), or None."""
        rows = self._db.query("SELECT review_error FROM voices WHERE voice_id = ?", (voice_id,))
        if not rows:
            raise not_found(voice_id)
        value: str | None = rows[0][0]
        return value

    # ------------------------------------------------------------------------------- agents, instances

    def add_instance(self, instance_id: str, agent_id: str, voice_id: str | None = None) -> None:
        with self._db.transaction() as tx:
            tx.execute(
                "INSERT INTO instances (instance_id, agent_id, voice_id) VALUES (?, ?, ?)"
                " ON CONFLICT (instance_id) DO UPDATE"
                " SET agent_id = excluded.agent_id, voice_id = excluded.voice_id",
                (instance_id, agent_id, voice_id),
            )

    def set_instance_voice(self, instance_id: str, voice_id: str | None) -> None:
        """Re-point a running instance behind voicectl's back (drift)."""
        with self._db.transaction() as tx:
            cur = tx.execute("UPDATE instances SET voice_id = ? WHERE instance_id = ?", (voice_id, instance_id))
            if cur.rowcount == 0:
                raise VoicectlError(f"instance {instance_id} not found in the local account")

    def set_node_voice(self, agent: str, node: str, voice_id: str | None) -> None:
        """Change an agent's TTS node as someone in the console would (None: back to the default)."""
        with self._db.transaction() as tx:
            if voice_id is None:
                tx.execute("DELETE FROM nodes WHERE agent = ? AND node = ?", (agent, node))
            else:
                tx.execute(
                    "INSERT INTO nodes (agent, node, voice_id) VALUES (?, ?, ?)"
                    " ON CONFLICT (agent, node) DO UPDATE SET voice_id = excluded.voice_id",
                    (agent, node, voice_id),
                )

    def node_voice(self, agent: str, node: str = DEFAULT_NODE) -> str | None:
        rows = self._db.query("SELECT voice_id FROM nodes WHERE agent = ? AND node = ?", (agent, node))
        return rows[0][0] if rows else None

    def instance_voice(self, instance_id: str) -> str | None:
        rows = self._db.query("SELECT voice_id FROM instances WHERE instance_id = ?", (instance_id,))
        if not rows:
            raise VoicectlError(f"instance {instance_id} not found in the local account")
        value: str | None = rows[0][0]
        return value

    # ------------------------------------------------------------------------------------- lifecycle

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> LocalAccount:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _check_status(status: str) -> None:
    if status not in _STATUSES:
        raise VoicectlError(f"status {status!r} is not one of {', '.join(_STATUSES)}")
