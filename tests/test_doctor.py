"""`voicectl doctor` checks each credential and permission, read-only, against the emulator, and names what is
missing: the variable to set, or the RAM action to grant."""

# The `aliyun` fixture is imported from the support module; test arguments named after it are not redefinitions.
# ruff: noqa: F811

from __future__ import annotations

from tests.lifecycle_support import COSY, Project, aliyun  # noqa: F401


def test_doctor_passes_on_a_healthy_account_and_changes_nothing(aliyun: Project) -> None:
    p = aliyun
    assert p.emu is not None
    p.voice("support", COSY)
    p.state_backend = "oss"
    result = p.run("doctor", expect=0)
    assert "Every check passed." in result.stdout
    assert "ok    DashScope voice enrollment" in result.stdout and "ok    state lock prerequisites" in result.stdout
    writes = [c for c in p.emu.calls if c.action in ("PutObject", "DeleteObject", "create_voice", "create")]
    assert writes == []  # read-only


def test_doctor_names_a_missing_permission(aliyun: Project) -> None:
    p = aliyun
    assert p.emu is not None
    p.voice("support", COSY)
    p.emu.deny_oss_action("GetBucketVersioning")
    p.emu.deny_oss_action("HeadObject")
    result = p.run("doctor", expect=1)
    lines = result.stdout.splitlines()
    [versioning] = [line for line in lines if "state lock prerequisites" in line]
    assert versioning.startswith("FAIL") and "oss:GetBucketVersioning" in versioning
    [audio] = [line for line in lines if "audio bucket read" in line]
    assert audio.startswith("FAIL") and "oss:GetObject" in audio
    assert "2 checks failed." in result.stdout


def test_doctor_names_a_missing_variable(aliyun: Project) -> None:
    p = aliyun
    p.voice("support", COSY)
    p.env = {**p.env, "DASHSCOPE_API_KEY": ""}
    result = p.run("doctor", expect=1)
    assert "FAIL  env DASHSCOPE_API_KEY: not set: export DASHSCOPE_API_KEY" in result.stdout
