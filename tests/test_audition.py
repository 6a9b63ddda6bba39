"""`voicectl audition` (first slice): the local provider's labelled simulation, measured by the lint; the errors
for an unknown name, a voice not cloned or not OK; provider aliyun says plainly that it is not finished."""

# The `project` fixture is imported from the support module; test arguments named after it are not redefinitions.
# ruff: noqa: F811

from __future__ import annotations

import json
import wave

import pytest

from reconciler.errors import AuthError
from tests.lifecycle_support import COSY, QWEN, QWEN_RT, Project, aliyun, local, project  # noqa: F401


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
    assert actions == ["run-task", "continue-task", "finish-task", "closed"]

    # A dropped connection is retried once; two are reported.
    p.emu.drop_next_synthesis()
    assert p.run("audition", "support", "--out", str(p.dir / "again.wav")).code == 0
    p.emu.drop_next_synthesis(2)
    dropped = p.run("audition", "support", "--out", str(p.dir / "never.wav"), expect=1)
    assert "the connection dropped twice" in dropped.stderr and not (p.dir / "never.wav").exists()

    # The non-realtime Qwen models speak over HTTP (multimodal-generation): the answer links the WAV.
    p.emu.clear_calls()
    qwen = p.run("audition", "narrator", "--out", str(p.dir / "narrator.wav"), expect=0)
    assert "Lint metrics: speech " in qwen.stdout and "simulated" not in qwen.stdout
    assert [c.action for c in p.emu.calls if c.service == "dashscope"][-2:] == ["generation", "download"]
    p.emu.fail_next_synthesis("InvalidParameter", "voice is not available")
    refused = p.run("audition", "narrator", "--out", str(p.dir / "never.wav"), expect=1)
    assert "InvalidParameter voice is not available" in refused.stderr


def test_audition_on_the_emulator_speaks_qwen_through_the_realtime_endpoint(aliyun: Project) -> None:
    p = aliyun
    assert p.emu is not None
    p.voice("host", QWEN_RT, language="en")
    p.apply()

    heard = p.run("audition", "host", "--out", str(p.dir / "host.wav"), expect=0)
    assert "Lint metrics: speech " in heard.stdout and "simulated" not in heard.stdout
    with wave.open(str(p.dir / "host.wav")) as w:
        assert w.getframerate() == 24_000 and w.getnframes() / 24_000 >= 3.0
    actions = [c.action for c in p.emu.calls if c.service == "speech"]
    assert actions == [
        "session.update", "input_text_buffer.append", "input_text_buffer.commit", "session.finish", "closed"
    ]  # fmt: skip

    # A refusal the service reports as an error event is said, and nothing is written.
    p.emu.fail_next_synthesis("InternalError", "synthesis backend unavailable")
    failed = p.run("audition", "host", "--out", str(p.dir / "never.wav"), expect=1)
    assert "InternalError synthesis backend unavailable" in failed.stderr and not (p.dir / "never.wav").exists()


def test_audition_splits_long_text_within_the_api_limit(aliyun: Project) -> None:
    p = aliyun
    assert p.emu is not None
    p.voice("host", QWEN_RT)
    p.apply()
    sentence = "This sentence is one of many that make the text too long for one request. "
    p.run("audition", "host", "--text", sentence * 20, "--out", str(p.dir / "long.wav"), expect=0)
    appended = [c.params["characters"] for c in p.emu.calls if c.action == "input_text_buffer.append"]
    assert len(appended) >= 3 and max(appended) <= 600 and sum(appended) == len(sentence * 20)
    with wave.open(str(p.dir / "long.wav")) as w:
        assert w.getnframes() / 24_000 >= 0.07 * len(sentence) * 20 * 0.9  # every piece's audio is there


def test_audition_retries_throttling_and_reports_a_task_failure(aliyun: Project) -> None:
    p = aliyun
    assert p.emu is not None
    p.voice("support", COSY)
    p.apply()
    # Throttling is retried after a pause (the emulator's synthesis rate gives the same refusal).
    p.emu.fail_next_synthesis("Throttling.RateQuota", "Requests rate limit exceeded, please try again later.")
    second = p.run("audition", "support", "-v", "--text", "Two.", "--out", str(p.dir / "b.wav"), expect=0)
    assert "throttled" in second.stderr and (p.dir / "b.wav").exists()
    throttled = [c for c in p.emu.calls if c.action == "task-failed" and c.params["code"].startswith("Throttling")]
    assert len(throttled) == 1

    p.emu.fail_next_synthesis("InvalidParameter", "voice is not available")
    failed = p.run("audition", "support", "--out", str(p.dir / "c.wav"), expect=1)
    assert "InvalidParameter voice is not available" in failed.stderr and not (p.dir / "c.wav").exists()


def test_synthesis_with_a_wrong_key_says_so_without_the_key(aliyun: Project) -> None:
    """The handshake of either endpoint refuses the key (the CLI's status read would refuse it first)."""
    from reconciler.providers.aliyun.speech import AliyunSpeech

    p = aliyun
    assert p.emu is not None
    p.voice("support", COSY)
    p.voice("host", QWEN_RT)
    p.apply()
    speech = AliyunSpeech({**p.env, "DASHSCOPE_API_KEY": "sk-wrong"}, region="cn-beijing", workspace=None)
    for name, model in (("support", COSY), ("host", QWEN_RT)):
        with pytest.raises(AuthError, match="refused DASHSCOPE_API_KEY") as refused:
            speech.synthesize(voice_id=p.voice_id(name), model=model, text="Hello.")
        assert "sk-wrong" not in str(refused.value)


def test_apply_audition_writes_a_sample_of_each_voice_it_cloned(project: Project) -> None:
    p = project
    p.voice("support", COSY)
    p.voice("narrator", QWEN)
    out = p.dir / "auditions"
    applied = p.apply("--audition", str(out))
    assert "Audition: voice.support: " in applied.stdout
    assert (out / "support.wav").exists()
    assert (out / "narrator.wav").exists()
    assert ("(simulated)" in applied.stdout) == (p.provider == "local")

    # Nothing cloned: nothing to hear.
    (out / "support.wav").unlink()
    again = p.apply("--audition", str(out))
    assert "Audition:" not in again.stdout and not (out / "support.wav").exists()


def test_a_voice_that_answers_with_noise_is_a_failed_clone(aliyun: Project) -> None:
    p = aliyun
    assert p.emu is not None
    p.voice("support", COSY)
    p.voice("host", QWEN_RT)
    p.apply()
    p.emu.mute_voice(p.voice_id("host"))

    muted = p.run("audition", "host", "--out", str(p.dir / "host.wav"), expect=1)
    assert "no voice in what voice.host said" in muted.stderr and "--replace host" in muted.stderr
    assert (p.dir / "host.wav").exists()  # written all the same: the user can listen to what came back

    # --all: every declared voice, one line each, an index for CI; exit 1 while one is not heard.
    batch = p.run("audition", "--all", str(p.dir / "all"), expect=1)
    assert "Audition: voice.support: " in batch.stdout and "NO VOICE HEARD" in batch.stdout
    index = json.loads((p.dir / "all" / "auditions.json").read_text())
    by_name = {s["name"]: s for s in index["samples"]}
    assert by_name["support"]["voice_heard"] and by_name["support"]["file"] == "support.wav"
    assert not by_name["host"]["voice_heard"] and by_name["host"]["metrics"]["speech_ratio"] < 0.2


def test_audition_all_and_the_text_it_says(local: Project) -> None:
    p = local
    p.voice("support", COSY, language="en", audition_text="Thanks for calling Acme support, how can I help?")
    p.voice("later", COSY)
    p.apply("--target", "voice.support")
    assert p.run("audition", expect=1).stderr.count("give a voice NAME, or --all DIR") == 1
    assert "--out and --format are for one NAME" in p.run("audition", "--all", "d", "--out", "x", expect=1).stderr

    batch = p.run("audition", "--all", str(p.dir / "all"), expect=1)  # 'later' is not cloned yet
    assert "Audition: voice.later: none (voice.later has not been cloned yet" in batch.stdout
    assert "Wrote 1 of 2 samples" in batch.stdout
    with wave.open(str(p.dir / "all" / "support.wav")) as w:  # audition_text is what it says: its length shows
        assert w.getnframes() / w.getframerate() == pytest.approx(48 * 0.07, abs=0.05)
    p.apply()
    assert p.run("audition", "--all", str(p.dir / "all"), expect=0).stdout.count("Audition: ") == 2


def test_synthesis_errors_of_the_adapter_on_both_endpoints(aliyun: Project) -> None:
    """A voice asked for under another model is refused clearly; a dropped realtime connection is retried
    once, then reported; nothing is written on the way."""
    from reconciler.errors import ProviderError
    from reconciler.providers.aliyun.speech import AliyunSpeech

    p = aliyun
    assert p.emu is not None
    p.voice("support", COSY)
    p.voice("host", QWEN_RT)
    p.apply()
    speech = AliyunSpeech(p.env, region="cn-beijing", workspace=None)
    with pytest.raises(ProviderError, match="belongs to cosyvoice-v2, not cosyvoice-v3-flash"):
        speech.synthesize(voice_id=p.voice_id("support"), model="cosyvoice-v3-flash", text="Hello.")
    with pytest.raises(ProviderError, match="is a cosyvoice voice"):
        speech.synthesize(voice_id=p.voice_id("support"), model=QWEN_RT, text="Hello.")

    p.emu.drop_next_synthesis()
    assert speech.synthesize(voice_id=p.voice_id("host"), model=QWEN_RT, text="Hello.").wav
    p.emu.drop_next_synthesis(2)
    with pytest.raises(ProviderError, match="the connection dropped twice"):
        speech.synthesize(voice_id=p.voice_id("host"), model=QWEN_RT, text="Hello.")
