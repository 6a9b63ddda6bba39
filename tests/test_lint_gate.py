"""The audio lint judges only what will be sent: its errors block a plan that would send that audio (a create,
an update, a replacement), never one that leaves a voice the account already accepted as it is."""

# The `aliyun` fixture is imported from the support module; test arguments named after it are not redefinitions.
# ruff: noqa: F811

from __future__ import annotations

import pytest

from reconciler.audio.sample import write_silence_wav
from tests.emulator import _audio
from tests.lifecycle_support import COSY, Project, aliyun  # noqa: F401


def test_a_lint_error_blocks_only_audio_that_is_sent(aliyun: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    p = aliyun
    # A file the lint refuses that the service accepted anyway (the lint's false alarm, or audio cloned before
    # a stricter lint): the emulator's review passes everything while it is cloned, with the lint off.
    with monkeypatch.context() as m:
        m.setattr(_audio, "review", lambda data, ext, model: _audio.Verdict(None, []))
        p.voice("support", COSY)
        p.voice("quiet", COSY, silent=True, lint=False)
        p.apply()
    assert {v["status"] for v in p.live()} == {"OK"}

    # The lint is back on (a new voicectl, a stricter threshold): the audio is unchanged and accepted.
    del p.voices["quiet"]["lint"]
    assert p.run("validate").code == 1  # validate judges the file itself
    plan = p.run("plan", "--format", "json", "--detailed-exitcode", expect=0).json
    [note] = [n for n in plan["notes"] if n.startswith("voice.quiet: audio lint error, not blocking")]
    assert "does not send that audio" in note and "digital silence" in note

    # New audio that the lint refuses would be sent by an update: now it blocks, and nothing changes.
    write_silence_wav(str(p.dir / "audio" / "quiet-longer.wav"), 13.0)  # other content: an update
    p.voices["quiet"]["audio"] = "audio/quiet-longer.wav"
    before = p.live()
    blocked = p.run("plan", expect=1)
    assert "digital silence" in blocked.stderr and "nothing was changed" in blocked.stderr
    assert p.run("apply", "--auto-approve", expect=1).code == 1
    assert p.live() == before
