"""Policy as code: Rego rules on the plan, as Terraform users gate plans with OPA (conftest).

A policy is a `.rego` file in `package voicectl`. Its `deny` rules block the plan like a guard (exit 3; apply
refuses), its `warn` rules show in the plan. Both read `input`: the plan's JSON document (`voicectl plan --format
json`: `input.changes[_].after.model` is a voice's desired model), with `input.config` (voices.yaml as written)
and `input.context` (the time of the plan: `now` in RFC 3339, `now_ns`, and in UTC its `weekday`, `hour` and
`minute`; `VOICECTL_POLICY_NOW` fixes it, so a maintenance window can be tested). A rule's value is a message, or an object with `msg` (and optional
`address`).

Each file is evaluated on its own (its helper rules live in it), so every finding names its file. `*_test.rego`
files in a directory are left out (they are `opa test`'s). A file that does not parse, is not in `package
voicectl`, or fails to evaluate (a built-in raising an error: strict built-in errors are on) is a ConfigError
naming the file and line: a policy that cannot be checked never lets a plan pass.

The engine is regopy (Microsoft's rego-cpp, Rego v1): a wheel from PyPI that runs in-process and offline, with
no OPA binary to download. Its quirks, handled or reported here: it prints parse errors to the process's stdout
(captured around each call, so `--format json` stays clean); `time.parse_rfc3339_ns` answers undefined and `time.weekday`
corrupts the heap (hence `context.weekday` and `hour`; a policy calling `time.weekday` is refused); `sprintf("%s", [x])` of a string a built-in returned
(`concat`, `sort`...) comes back quoted and breaks its own JSON answer (a clear error here; `concat` the message
instead).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from reconciler.errors import ConfigError, Problem
from reconciler.model import Desired
from reconciler.plan.plan import Blocked, Guard, Plan

PACKAGE = "voicectl"
RULES = ("deny", "warn")
_PACKAGE_LINE = re.compile(r"^\s*package\s+(\S+)", re.MULTILINE)
# Built-ins that crash regopy 1.5.2 (heap corruption, the whole process aborts): refused before evaluation.
_AVOIDED = {"time.weekday(": "input.context.weekday (the plan's weekday in UTC)"}
_ERROR = re.compile(r"\(error \d+:(?P<file>[^|]*)\|(?P<offset>\d+)\|\d+\s*\(errormsg \d+:(?P<message>[^)]*)\)")


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
    base = os.path.dirname(os.path.abspath(desired.path))
    findings = evaluate(policy_files(paths, base), policy_input(plan, desired), base)
    blocked = tuple(
        Blocked(Guard.POLICY, f"{f.file}: {f.message}", (f.address,) if f.address else ())
        for f in findings
        if f.rule == "deny"
    )
    notes = tuple(f"policy warning ({f.file}): {f.message}" for f in findings if f.rule == "warn")
    return dataclasses.replace(plan, blocked=plan.blocked + blocked, notes=plan.notes + notes)


def policy_input(plan: Plan, desired: Desired) -> dict[str, Any]:
    """`input`: the plan's JSON document, voices.yaml as written (`config`) and the time (`context`)."""
    import yaml

    from reconciler.ui.json_view import plan_json

    document: dict[str, Any] = json.loads(json.dumps(plan_json(plan)))  # plain JSON types only
    with open(desired.path, encoding="utf-8") as f:
        config = yaml.safe_load(f)
    document["config"] = json.loads(json.dumps(config, default=str)) if isinstance(config, dict) else {}
    document["context"] = context()
    return document


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
            raise ConfigError(
                [Problem(_shown(path), None, None, "policy path not found: give a .rego file or a directory of them")]
            )
    if paths and not files:
        raise ConfigError(
            [Problem(_shown(paths[0]), None, None, "no .rego policy here: a policy that is not there checks nothing")]
        )
    return files


def context(now: dt.datetime | None = None) -> dict[str, Any]:
    """`input.context`: the plan's time, from VOICECTL_POLICY_NOW (RFC 3339) when set."""
    if now is None:
        fixed = os.environ.get("VOICECTL_POLICY_NOW")
        try:
            now = dt.datetime.fromisoformat(fixed.replace("Z", "+00:00")) if fixed else dt.datetime.now(dt.UTC)
        except ValueError:
            raise ConfigError(
                [
                    Problem(
                        "VOICECTL_POLICY_NOW",
                        None,
                        None,
                        f"{fixed!r} is not an RFC 3339 time, e.g. 2026-12-07T03:30:00Z",
                    )
                ]
            ) from None
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
    findings: list[Finding] = []
    for path in files:
        findings += _evaluate_file(path, document, _shown(path, base))
    return findings


def _evaluate_file(path: str, document: dict[str, Any], shown: str) -> list[Finding]:
    from regopy import Interpreter, RegoError

    with open(path, encoding="utf-8") as f:
        source = f.read()
    for builtin, instead in _AVOIDED.items():
        at = source.find(builtin)
        if at >= 0:
            line = source[:at].count("\n") + 1
            raise ConfigError([Problem(shown, line, None, f"{builtin} crashes the embedded Rego engine (regopy 1.5.2): "
                               f"use {instead}")])  # fmt: skip
    package = _PACKAGE_LINE.search(source)
    if package is not None and package.group(1) != PACKAGE:
        line = source[: package.start(1)].count("\n") + 1
        raise ConfigError(
            [Problem(shown, line, None, f"package {package.group(1)}: voicectl reads `package {PACKAGE}`: rename it")]
        )
    rego = Interpreter()
    rego.strict_built_in_errors = True  # a built-in that errs is an error, not a silently undefined rule
    findings: list[Finding] = []
    with _native_stdout() as printed:
        try:
            rego.add_module(shown, source)
            rego.set_input(document)
            for rule in RULES:
                output = rego.query(f"data.{PACKAGE}.{rule}")
                if not output.ok():
                    raise ConfigError([Problem(shown, _rule_line(source, rule), None, f"rule {rule} failed to evaluate: "
                                       "a built-in function raised an error (an argument of the wrong type?); the "
                                       "plan cannot pass until the policy is fixed")])  # fmt: skip
                findings += [Finding(shown, rule, *_message(v)) for v in _values(str(output))]
        except RegoError as e:
            raise ConfigError([_parse_problem(shown, source, str(e), printed())]) from None
        except ValueError as e:  # regopy could not read its own answer back (see the module's docstring)
            raise ConfigError([Problem(shown, None, None, f"the policy's answer could not be read ({e}): build "
                               "messages with concat rather than sprintf on a built-in's result")]) from None  # fmt: skip
    return findings


def _values(output: str) -> list[Any]:
    if output.strip() == "undefined":
        return []  # no such rule in this file
    value = json.loads(output)["expressions"][0]
    return sorted(value, key=json.dumps) if isinstance(value, list) else [value]


def _message(value: Any) -> tuple[str, str | None]:
    if isinstance(value, dict) and "msg" in value:
        address = value.get("address")
        return str(value["msg"]), str(address) if address is not None else None
    return (value if isinstance(value, str) else json.dumps(value)), None


def _parse_problem(shown: str, source: str, error: str, printed: str) -> Problem:
    """The first error of a module that does not parse or compile, at its line and column."""
    match = _ERROR.search(error)
    if match is None:
        detail = (printed.strip().splitlines() or [error.strip()])[0]
        return Problem(shown, None, None, f"the policy does not compile: {detail}")
    offset = int(match.group("offset"))
    line = source[:offset].count("\n") + 1
    column = offset - (source.rfind("\n", 0, offset) + 1) + 1
    return Problem(shown, line, column, f"the policy does not compile: {match.group('message')}")


def _rule_line(source: str, rule: str) -> int | None:
    match = re.search(rf"^[ \t]*{rule}\b", source, re.MULTILINE)
    return source[: match.start()].count("\n") + 1 if match else None


def _shown(path: str, base: str | None = None) -> str:
    """`path` relative to voices.yaml's directory when it is inside it, else to the current directory when
    inside that, else absolute."""
    for start in (base, os.getcwd()):
        if start is not None:
            relative = os.path.relpath(path, start)
            if not relative.startswith(".."):
                return relative
    return os.path.abspath(path)


@contextlib.contextmanager
def _native_stdout() -> Iterator[Any]:
    """rego-cpp prints parse errors to file descriptor 1: keep them off voicectl's output, for the message."""
    sys.stdout.flush()
    saved = os.dup(1)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 1)

        def printed() -> str:
            sink.flush()
            sink.seek(0)
            return sink.read().decode("utf-8", "replace")

        try:
            yield printed
        finally:
            os.dup2(saved, 1)
            os.close(saved)
