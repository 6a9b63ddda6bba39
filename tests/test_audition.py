"""`voicectl audition` (first slice): the local provider's labelled simulation, measured by the lint; the errors
for an unknown name, a voice not cloned or not OK; provider aliyun says plainly that it is not finished."""

# The `project` fixture is imported from the support module; test arguments named after it are not redefinitions.
# ruff: noqa: F811

from __future__ import annotations

import wave

from tests.lifecycle_support import COSY, QWEN, Project, aliyun, local, project  # noqa: F401


def test_audition_on_the_local_provider_writes_a_labelled_simulation(local: Project) -> None:
    p = local
    p.voice("support", COSY, language="en")
    p.apply()

    heard = p.run("audition", "support", "--out", str(p.dir / "support.wav"), expect=0)
    assert "Wrote " in heard.stdout and "Lint metrics: speech " in heard.stdout
    assert "simulated by the local provider" in heard.stdout and "no speech was synthesized" in heard.stdout
    with wave.open(str(p.dir / "support.wav")) as w:
        seconds = w.getnframes() / w.getframerate()
    assert 2.0 <= seconds <= 20.0 and w.getframerate() == 24_000

    short = p.run("audition", "support", "--text", "Hi.", "--format", "mp3", "--out", str(p.dir / "s.mp3"), expect=0)
    assert "2.0 s" in short.stdout and (p.dir / "s.mp3").stat().st_size > 0


def test_audition_errors(local: Project) -> None:
    p = local
    p.voice("support", COSY)
    unknown = p.run("audition", "nobody", expect=1)
    assert "'nobody' is not declared" in unknown.stderr
    not_yet = p.run("audition", "support", expect=1)
    assert "has not been cloned yet" in not_yet.stderr

    p.voice("quiet", COSY, silent=True, lint=False)
    p.apply(expect=1)  # its review fails
    failed = p.run("audition", "quiet", expect=1)
    assert "is UNDEPLOYED, not OK" in failed.stderr


def test_audition_on_the_emulator_synthesizes_cosyvoice_through_the_sdk(aliyun: Project) -> None:
    p = aliyun
    assert p.emu is not None
    p.voice("support", COSY)
    p.voice("narrator", QWEN)
    p.apply()

    heard = p.run("audition", "support", "--text", "Hello there, this is a test of the cloned voice.",
                  "--out", str(p.dir / "support.wav"), expect=0)  # fmt: skip
    assert "Lint metrics: speech " in heard.stdout and "simulated" not in heard.stdout
    with wave.open(str(p.dir / "support.wav")) as w:
        assert w.getframerate() == 24_000 and w.getnframes() / 24_000 >= 3.0  # length follows the text
    actions = [c.action for c in p.emu.calls if c.service == "speech"]
    assert actions == ["run-task", "continue-task", "finish-task"]

    # A dropped connection is retried once; two are reported.
    p.emu.drop_next_synthesis()
    assert p.run("audition", "support", "--out", str(p.dir / "again.wav")).code == 0
    p.emu.drop_next_synthesis(2)
    dropped = p.run("audition", "support", "--out", str(p.dir / "never.wav"), expect=1)
    assert "the connection dropped twice" in dropped.stderr and not (p.dir / "never.wav").exists()

    qwen = p.run("audition", "narrator", expect=1)
    assert "audition of qwen3-tts-vc-2026-01-22 voices is not finished" in qwen.stderr


def test_apply_audition_writes_a_sample_of_each_voice_it_cloned(project: Project) -> None:
    p = project
    p.voice("support", COSY)
    p.voice("narrator", QWEN)
    out = p.dir / "auditions"
    applied = p.apply("--audition", str(out))
    assert "Audition: voice.support: " in applied.stdout
    assert (out / "support.wav").exists()
    if p.provider == "local":
        assert (out / "narrator.wav").exists() and "(simulated)" in applied.stdout
    else:  # Qwen synthesis is not built yet: said, and the apply still succeeds
        assert "Audition: voice.narrator: none (audition of qwen3-tts-vc-2026-01-22 voices is not finished" in (
            applied.stdout
        )

    # Nothing cloned: nothing to hear.
    (out / "support.wav").unlink()
    again = p.apply("--audition", str(out))
    assert "Audition:" not in again.stdout and not (out / "support.wav").exists()
