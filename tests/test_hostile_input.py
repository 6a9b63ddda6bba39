"""Hostile and broken input, end to end: every case goes through `voicectl apply` and `voicectl plan` (the
Typer app in-process, under an alarm so that a hang fails instead of stalling CI), and the cases that could
block or exhaust a process (FIFOs, devices, huge or deep files) also through a real `voicectl apply` process
with a timeout. The project's account lives in the loopback emulator and its state was written by an
earlier apply.

Each must end in a clear error (exit 1, the file and, where there is one, the line, and how to fix it), with
no traceback, no request to the account at all, and not a byte of the state directory changed (no lock left).
tests/test_config.py and tests/test_audio.py cover single cases at the loader level; this is the same kind of
input seen from the outside.
"""

from __future__ import annotations

import re
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from reconciler.cli import app
from tests.reliability_support import HOSTILE_CASES, HostileCase, Project, emulator, hostile_project, snapshot

# A refusal prints a few lines; anything near this size echoes the input back.
MAX_ERROR_OUTPUT = 5000


@pytest.fixture(scope="module")
def applied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Project]]:
    with emulator(review_delay=0.05) as emu:
        base = hostile_project(tmp_path_factory.mktemp("hostile") / "base", emu)
        run = base.cli("apply", "--auto-approve")
        assert run.rc == 0, run.describe()
        assert base.state_path.exists()
        yield emu, base


def check_refusal(case: HostileCase, where: str, rc: int, text: str) -> None:
    assert rc == 1, f"{where}: exit {rc}\n{text[-3000:]}"
    assert "Traceback" not in text, f"{where}: crashed\n{text[-3000:]}"
    assert len(text) < MAX_ERROR_OUTPUT, f"{where}: {len(text)} characters of output\n{text[:1500]}"
    assert re.search(case.expect, text, re.IGNORECASE | re.DOTALL), f"{where}: no /{case.expect}/ in\n{text}"
    assert "nothing was changed" in text, f"{where}: the refusal does not say nothing changed\n{text}"
    if case.line is not None:
        assert re.search(rf"\.yaml:{case.line}:\d+: (\S+ )?error: ", text), (
            f"{where}: line {case.line} not named\n{text}"
        )
    else:
        assert re.search(r"\.yaml(:\d+:\d+)?: (\S+ )?error: ", text), f"{where}: the file is not named\n{text}"


def invoke(args: list[str], env: dict[str, str], timeout: int = 30) -> tuple[int, str]:
    """The CLI in-process; SIGALRM interrupts even a blocking open() (PEP 475: the handler's exception wins)."""

    def expire(signum: int, frame: object) -> None:
        raise TimeoutError(f"voicectl {' '.join(args)} still running after {timeout} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(timeout)
    try:
        result = CliRunner().invoke(app, args, env=env, catch_exceptions=True)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    crash = result.exception
    assert crash is None or isinstance(crash, SystemExit), f"voicectl {args[0]} raised {crash!r}"
    return result.exit_code, result.output


@pytest.mark.parametrize("case", HOSTILE_CASES, ids=[c.id for c in HOSTILE_CASES])
def test_hostile_input_is_refused_without_touching_anything(
    case: HostileCase, applied: tuple[Any, Project], tmp_path: Path
) -> None:
    emu, base = applied
    project = base.copy_to(tmp_path / "project")
    state_before = snapshot(project.dir)
    voices_before = sorted(v["voice_id"] for v in emu.voices())
    config = case.setup(project)
    args = ["-f", config] if config else []
    emu.clear_calls()

    target = ["-f", str(project.dir / (config or "voices.yaml"))]
    for command in (["apply", "--auto-approve"], ["plan"]):
        rc, output = invoke([*command, *target], project.env)
        check_refusal(case, command[0], rc, output)
    if case.process:
        run = project.cli("apply", "--auto-approve", *args, timeout=60)
        check_refusal(case, "apply (process)", run.rc, run.text)

    assert emu.calls == [], f"the account was called: {[(c.service, c.action) for c in emu.calls]}"
    assert sorted(v["voice_id"] for v in emu.voices()) == voices_before
    assert snapshot(project.dir) == state_before, "the state directory changed (state written or lock left)"
    assert not (project.dir / "pwned").exists()


def test_the_matrix_is_wide() -> None:
    assert len(HOSTILE_CASES) >= 40
    assert len({c.id for c in HOSTILE_CASES}) == len(HOSTILE_CASES)
