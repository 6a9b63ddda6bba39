"""Policy as code: Rego rules on the plan, as Terraform users gate plans with OPA (conftest).

A policy is a `.rego` file in `package voicectl`. Its `deny` rules block the plan like a guard (exit 3; apply
refuses), its `warn` rules show in the plan. Both read `input`: the plan's JSON document (`voicectl plan
--format json`: `input.changes[_].after.model` is a voice's desired model), with `input.config` (voices.yaml as
written) and `input.context` (the time of the plan: `now` in RFC 3339, `now_ns`, and in UTC its `weekday`,
`hour` and `minute`; `VOICECTL_POLICY_NOW` fixes it, so a maintenance window can be tested). A rule's value is
a message, or an object with `msg` (and optional `address`).

Each file is evaluated on its own (its helper rules live in it), so every finding names its file. `*_test.rego`
files in a directory are left out (they are `opa test`'s). A file that does not parse, is not in `package
voicectl`, or fails to evaluate (a built-in raising an error: strict built-in errors are on) is a ConfigError
naming the file and line: a policy that cannot be checked never lets a plan pass.

The engine is regopy (Microsoft's rego-cpp, Rego v1): a wheel from PyPI that runs offline, with no OPA binary
to download. It runs in a child process (`policy_engine.py`). Its quirks, handled or reported there: it prints
parse errors to file descriptor 1 (captured, so the answer and `--format json` stay clean);
`time.parse_rfc3339_ns` answers undefined and `time.weekday` corrupts its heap (hence `context.weekday` and
`hour`; a policy calling `time.weekday` is refused); `sprintf("%s", [x])` of a string a built-in returned
(`concat`, `sort`...) comes back quoted and breaks its own JSON answer (a clear error; `concat` the message
instead).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

from reconciler.errors import ConfigError, Problem
from reconciler.model import Desired
from reconciler.plan.plan import Blocked, Guard, Plan

ENGINE_TIMEOUT = 60  # seconds for every policy of a plan


@dataclass(frozen=True)
class Finding:
    file: str  # as shown to the user (relative to the current directory)
    rule: str  # deny | warn
    message: str
    address: str | None = None


def check_plan(plan: Plan, desired: Desired) -> Plan:
    """The plan with the findings of its policies (account.policy, then --policy): `deny` as blockers (guard
    `policy`), `warn` as notes. A plan with no policy is returned as it is."""
    paths = tuple(dict.fromkeys((*desired.account.policy, *plan.options.policies)))
    if not paths:
        return plan
    base = _base(desired)
    findings = evaluate(policy_files(paths, base), policy_input(plan, desired), base)
    blocked = tuple(
        Blocked(Guard.POLICY, f"{f.file}: {f.message}", (f.address,) if f.address else ())
        for f in findings
        if f.rule == "deny"
    )
    notes = tuple(f"policy warning ({f.file}): {f.message}" for f in findings if f.rule == "warn")
    return dataclasses.replace(plan, blocked=plan.blocked + blocked, notes=plan.notes + notes)


def compile_problems(desired: Desired) -> list[Problem]:
    """What keeps account.policy from compiling (`voicectl validate`: offline, no plan to evaluate)."""
    base = _base(desired)
    try:
        _run_engine(policy_files(desired.account.policy, base), {}, base, compile_only=True)
    except ConfigError as e:
        return list(e.problems)
    return []


def policy_input(plan: Plan, desired: Desired) -> dict[str, Any]:
    """`input`: the plan's JSON document, voices.yaml as written (`config`) and the time (`context`)."""
    import yaml

    from reconciler.ui.json_view import plan_json

    with open(desired.path, encoding="utf-8") as f:
        config = yaml.safe_load(f)
    # Sent to the engine as JSON (dates YAML read are sent as their text).
    return {**plan_json(plan), "config": config if isinstance(config, dict) else {}, "context": context()}


def policy_files(paths: tuple[str, ...], base: str | None = None) -> list[str]:
    """The .rego files of `paths` (files, or directories searched recursively), sorted, without `*_test.rego`."""
    files: list[str] = []
    for path in paths:
        if os.path.isdir(path):
            for here, dirs, names in os.walk(path):
                dirs.sort()
                files += [
                    os.path.join(here, n) for n in sorted(names) if n.endswith(".rego") and not n.endswith("_test.rego")
                ]
        elif os.path.isfile(path):
            files.append(path)
        else:
            message = "policy path not found: give a .rego file or a directory of them"
            raise ConfigError([Problem(_shown(path, base), None, None, message)])
    if paths and not files:
        message = "no .rego policy here: a policy that is not there checks nothing"
        raise ConfigError([Problem(_shown(paths[0], base), None, None, message)])
    return files


def context() -> dict[str, Any]:
    """`input.context`: the plan's time, from VOICECTL_POLICY_NOW (RFC 3339) when set."""
    fixed = os.environ.get("VOICECTL_POLICY_NOW")
    try:
        now = dt.datetime.fromisoformat(fixed.replace("Z", "+00:00")) if fixed else dt.datetime.now(dt.UTC)
    except ValueError:
        message = f"{fixed!r} is not an RFC 3339 time, e.g. 2026-12-07T03:30:00Z"
        raise ConfigError([Problem("VOICECTL_POLICY_NOW", None, None, message)]) from None
    if now.tzinfo is None:
        now = now.replace(tzinfo=dt.UTC)
    now = now.astimezone(dt.UTC)
    ns = int(now.timestamp()) * 1_000_000_000 + now.microsecond * 1000
    return {
        "now": now.isoformat().replace("+00:00", "Z"),
        "now_ns": ns,
        "weekday": now.strftime("%A"),  # in UTC, as the hour: for maintenance windows without time built-ins
        "hour": now.hour,
        "minute": now.minute,
    }


def evaluate(files: list[str], document: dict[str, Any], base: str | None = None) -> list[Finding]:
    """Every `deny` and `warn` finding of every file on `document`; raises ConfigError for a policy that cannot be
    evaluated."""
    return _run_engine(files, document, base, compile_only=False)


def _run_engine(files: list[str], document: dict[str, Any], base: str | None, *, compile_only: bool) -> list[Finding]:
    """Run the engine on `files`; raises ConfigError for a policy that cannot be compiled (or evaluated).

    The engine runs in a child process (reconciler/policy_engine.py): a policy that crashes it (rego-cpp is
    native code) is then an error naming the file, not an aborted voicectl, and the child has none of the native
    libraries voicectl has loaded (numpy, FFmpeg) in its heap. It costs about 0.06 s."""
    shown = [_shown(path, base) for path in files]
    request = {
        "files": [list(pair) for pair in zip(files, shown, strict=True)],
        "document": document,
        "compile_only": compile_only,
    }
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    try:
        done = subprocess.run(
            [sys.executable, "-m", "reconciler.policy_engine"],
            input=json.dumps(request, default=str),
            capture_output=True,
            text=True,
            env=env,
            timeout=ENGINE_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ConfigError(
            [Problem(shown[0], None, None, f"the policies did not finish evaluating in {ENGINE_TIMEOUT} s")]
        ) from None
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    last = next((line["evaluating"] for line in reversed(lines) if "evaluating" in line), shown[0])
    result = next((line for line in lines if "findings" in line or "error" in line), None)
    if result is None or done.returncode not in (0, 1):
        how = f"signal {-done.returncode}" if done.returncode < 0 else f"exit {done.returncode}"
        detail = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise ConfigError(
            [
                Problem(
                    last,
                    None,
                    None,
                    f"the Rego engine crashed evaluating this policy ({how}: {detail}); the plan cannot pass until it is fixed",
                )
            ]
        )
    if "error" in result:
        e = result["error"]
        raise ConfigError([Problem(e["file"], e["line"], e["column"], e["message"])])
    return [Finding(f["file"], f["rule"], f["message"], f["address"]) for f in result["findings"]]


def _base(desired: Desired) -> str:
    """voices.yaml's directory: where account.policy is written relative to, and the paths shown are."""
    return os.path.dirname(os.path.abspath(desired.path))


def _shown(path: str, base: str | None = None) -> str:
    """`path` relative to voices.yaml's directory when it is inside it, else to the current directory when
    inside that, else absolute."""
    for start in (base, os.getcwd()):
        if start is not None:
            relative = os.path.relpath(path, start)
            if not relative.startswith(".."):
                return relative
    return os.path.abspath(path)
