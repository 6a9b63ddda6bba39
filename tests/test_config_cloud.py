"""voices.yaml against what the cloud offers (issue 10, stage 2): regions, languages, per-model options, inline
audio delivery, the OSS upload endpoint; and those settings carried through apply to the emulated account."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.config.loader import validate_file
from tests.audio_fixtures import write_wav
from tests.emulator import Emulator

QWEN = "qwen3-tts-vc-2026-01-22"
API_KEY = "sk-SECRET-config-cloud-0003"


def write(tmp_path: Path, account: dict[str, Any], voices: list[dict[str, Any]]) -> Path:
    doc = {"version": 1, "account": account, "voices": voices}
    path = tmp_path / "voices.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def problems(path: Path) -> list[tuple[int | None, str]]:
    result = validate_file(str(path), check_audio=False)
    return [(p.line, p.message) for p in result.errors]


def remote(name: str, model: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "audio": f"https://example.com/{name}.wav", "model": model, **extra}


ALIYUN = {"provider": "aliyun", "region": "cn-beijing"}


def test_model_not_offered_in_the_region_is_refused_with_the_fix(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        {**ALIYUN, "region": "ap-southeast-1"},
        [remote("a", "cosyvoice-v3.5-plus"), remote("b", "cosyvoice-v3-plus"), remote("c", QWEN)],
    )
    [(line, message)] = problems(path)
    assert line == 8  # the model line of voice a
    assert "cosyvoice-v3.5-plus is not offered in ap-southeast-1" in message
    assert "cosyvoice-v3-flash" in message and "account.region: cn-beijing" in message

    path = write(tmp_path, {**ALIYUN, "region": "cn-shanghai"}, [remote("a", "cosyvoice-v2")])
    [(_, message)] = problems(path)
    assert "cn-beijing and ap-southeast-1" in message


def test_language_must_be_one_the_model_takes(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        ALIYUN,
        [
            remote("a", "cosyvoice-v2", language="ja"),  # v2: zh, en
            remote("b", "cosyvoice-v3-flash", language="ja"),
            remote("c", QWEN, language="it"),
            remote("d", "cosyvoice-v3-plus", language="it"),  # CosyVoice takes no Italian
        ],
    )
    found = problems(path)
    assert len(found) == 2
    assert "language 'ja' is not one cosyvoice-v2 takes: use one of zh, en" in found[0][1]
    assert "language 'it' is not one cosyvoice-v3-plus takes" in found[1][1]


def test_options_only_on_the_models_that_take_them(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        ALIYUN,
        [
            remote("a", "cosyvoice-v3.5-flash", max_prompt_audio_length=12, enable_preprocess=True),
            remote("b", "cosyvoice-v3-plus", max_prompt_audio_length=12),
            remote("c", "cosyvoice-v2", enable_preprocess=False),
            remote("d", "cosyvoice-v3-flash", text="hello"),
            remote("e", QWEN, text="Hello, this is the transcript."),
            remote("f", "cosyvoice-v3-flash", max_prompt_audio_length=31),
        ],
    )
    messages = [m for _, m in problems(path)]
    assert len(messages) == 4, messages
    assert "max_prompt_audio_length: 31 is greater than the maximum" in messages[0]
    assert "use a value of at most 30" in messages[0]
    assert "max_prompt_audio_length is not taken by cosyvoice-v3-plus" in messages[1]
    assert "cosyvoice-v3-flash, cosyvoice-v3.5-flash, cosyvoice-v3.5-plus" in messages[1]
    assert "enable_preprocess is not taken by cosyvoice-v2" in messages[2]
    assert "text is not taken by cosyvoice-v3-flash" in messages[3]


def test_inline_delivery_needs_no_bucket_but_only_where_the_service_takes_it(tmp_path: Path) -> None:
    write_wav(tmp_path / "q.wav", seconds=11.0, sample_rate=24000)
    write_wav(tmp_path / "c.wav", seconds=11.0)
    inline = {**ALIYUN, "audio_delivery": "inline"}
    qwen = {"name": "q", "audio": "q.wav", "model": QWEN}
    assert problems(write(tmp_path, inline, [qwen])) == []  # no bucket, no AccessKey needed

    cosy = {"name": "c", "audio": "c.wav", "model": "cosyvoice-v2"}
    [(_, message)] = problems(write(tmp_path, inline, [qwen, cosy]))
    assert "takes its audio only as a URL" in message and "audio_delivery: oss" in message
    [(_, message)] = problems(write(tmp_path, inline, [{**qwen, "audio": "oss://b/k.wav"}]))
    assert "no AccessKeys to sign oss:// audio" in message
    # The state must then live somewhere that needs no bucket either.
    [(_, message)] = problems(write(tmp_path, {**inline, "state": {"backend": "oss"}}, [qwen]))
    assert "state backend oss keeps the state in account.oss.bucket" in message and "state.backend: local" in message
    # Without inline, local audio still needs the bucket, and the message names the alternative.
    [(_, message)] = problems(write(tmp_path, ALIYUN, [qwen]))
    assert "needs account.oss.bucket" in message and "audio_delivery: inline" in message


def test_inline_audio_must_stay_under_10_mb_encoded(tmp_path: Path) -> None:
    big = tmp_path / "big.wav"
    write_wav(big, seconds=170.0, sample_rate=24000)  # ~8.2 MB: under the 10 MB file limit, over it in base64
    [(_, message)] = problems(
        write(tmp_path, {**ALIYUN, "audio_delivery": "inline"}, [{"name": "q", "audio": "big.wav", "model": QWEN}])
    )
    assert "under 10 MB encoded" in message


def test_upload_endpoint_and_internal_endpoint(tmp_path: Path) -> None:
    oss = {"bucket": "voices", "endpoint": "https://oss-cn-beijing.aliyuncs.com"}
    account = {**ALIYUN, "oss": {**oss, "upload_endpoint": "https://oss-cn-hangzhou-internal.aliyuncs.com"}}
    [(_, message)] = problems(write(tmp_path, account, [remote("a", "cosyvoice-v2")]))
    assert "upload_endpoint is in cn-hangzhou but endpoint is in cn-beijing" in message
    account = {**ALIYUN, "oss": {**oss, "endpoint": "https://oss-cn-beijing-internal.aliyuncs.com"}}
    result = validate_file(str(write(tmp_path, account, [remote("a", "cosyvoice-v2")])), check_audio=False)
    assert result.valid and "Put the internal one under upload_endpoint" in result.warnings[0].message
    good = {
        **ALIYUN,
        "workspace": "ws-1",
        "oss": {**oss, "upload_endpoint": "https://oss-cn-beijing-internal.aliyuncs.com"},
    }
    desired = validate_file(str(write(tmp_path, good, [remote("a", "cosyvoice-v2")])), check_audio=False).desired
    assert desired is not None
    assert desired.account.workspace == "ws-1"
    assert desired.account.oss.upload_endpoint == "https://oss-cn-beijing-internal.aliyuncs.com"


# ------------------------------------------------------------------------------------------------ apply


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(api_key=API_KEY, buckets=("voices",), review_delay=0.05, workspaces={"ws-1": API_KEY}) as emulator:
        yield emulator


def cli(tmp_path: Path, env: dict[str, str], *args: str) -> Any:
    return CliRunner().invoke(app, [*args, "-f", str(tmp_path / "voices.yaml")], env=env, catch_exceptions=False)


def test_inline_apply_clones_without_oss_and_records_the_fallback_warning(tmp_path: Path, emu: Emulator) -> None:
    write_wav(tmp_path / "q.wav", seconds=12.0, sample_rate=24000)
    voice = {"name": "narrator", "audio": "q.wav", "model": QWEN, "language": "en", "text": "Hello there."}
    account = {**ALIYUN, "prefix": "acme", "workspace": "ws-1", "audio_delivery": "inline"}
    write(tmp_path, account, [voice])
    # No AccessKey, no OSS endpoint: only the DashScope key and (for the emulator) its address.
    env = {"DASHSCOPE_API_KEY": API_KEY, "DASHSCOPE_HTTP_BASE_URL": emu.dashscope_base_url}
    emu.degrade_next_qwen_create("no_valid_asr_segments")

    result = cli(tmp_path, env, "apply", "--auto-approve", "--no-color")

    assert result.exit_code == 0, result.output
    assert "Warning: voice.narrator:" in result.output and "fallback mode (no_valid_asr_segments)" in result.output
    assert emu.count("oss") == 0
    [sent] = [c.params for c in emu.calls if c.action == "create"]
    assert sent["audio"]["data"].startswith("data:audio/wav;base64,")
    assert (sent["text"], sent["language"]) == ("Hello there.", "en")
    state = json.loads((tmp_path / ".voicectl" / "state.json").read_text())
    assert "fallback mode" in state["voices"]["narrator"]["warning"]
    assert API_KEY not in result.output and API_KEY not in json.dumps(state)
    again = cli(tmp_path, env, "plan", "--detailed-exitcode", "--no-color")
    assert again.exit_code == 0, again.output


def test_cosyvoice_options_reach_the_create_call(tmp_path: Path, emu: Emulator) -> None:
    write_wav(tmp_path / "c.wav", seconds=12.0)
    voice = {
        "name": "support",
        "audio": "c.wav",
        "model": "cosyvoice-v3.5-flash",
        "language": "en",
        "max_prompt_audio_length": 15,
        "enable_preprocess": True,
    }
    account = {
        **ALIYUN,
        "prefix": "acme",
        "oss": {"bucket": "voices", "endpoint": "https://oss-cn-beijing.aliyuncs.com"},
    }
    write(tmp_path, account, [voice])

    result = cli(tmp_path, emu.env(), "apply", "--auto-approve", "--no-color")

    assert result.exit_code == 0, result.output
    [sent] = [c.params for c in emu.calls if c.action == "create_voice"]
    assert (sent["max_prompt_audio_length"], sent["enable_preprocess"], sent["language_hints"]) == (15, True, ["en"])
    assert sent["url"].startswith(emu.oss_endpoint)
