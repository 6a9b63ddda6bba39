"""The Rego engine's side of `reconciler/policy.py`, run as a child process (`python -m reconciler.policy_engine`).

It reads {"files": [[path, shown], ...], "document": {...}} on stdin and writes JSON lines on stdout:
{"evaluating": shown} before each file, then {"findings": [...]} or {"error": {file, line, column, message}}.
It imports only the standard library and regopy, so no other native library shares its heap (regopy 1.5.2
corrupts it in places), and regopy's own prints to file descriptor 1 stay off the answer: they are read back
for error messages.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterator
from typing import Any

PACKAGE = "voicectl"
RULES = ("deny", "warn")
_PACKAGE_LINE = re.compile(r"^\s*package\s+(\S+)", re.MULTILINE)
_ERROR = re.compile(r"\(error \d+:(?P<file>[^|]*)\|(?P<offset>\d+)\|\d+\s*\(errormsg \d+:(?P<message>[^)]*)\)")
# Built-ins that corrupt regopy 1.5.2's heap (the process aborts, depending on what else it loaded): refused.
_AVOIDED = {"time.weekday(": "input.context.weekday (the plan's weekday in UTC)"}


class PolicyProblem(Exception):
    """A policy that cannot be evaluated, at its file and line."""

    def __init__(self, file: str, line: int | None, column: int | None, message: str):
        super().__init__(message)
        self.problem = {"file": file, "line": line, "column": column, "message": message}


def evaluate_file(
    path: str, shown: str, document: dict[str, Any], *, compile_only: bool = False
) -> list[dict[str, Any]]:
    """The `deny` and `warn` findings of one policy file on `document` (none with `compile_only`: the module is
    only parsed and checked); raises PolicyProblem."""
    from regopy import Interpreter, RegoError

    with open(path, encoding="utf-8") as f:
        source = f.read()
    for builtin, instead in _AVOIDED.items():
        if builtin in source:
            message = f"{builtin} crashes the embedded Rego engine (regopy 1.5.2): use {instead}"
            raise PolicyProblem(shown, _line(source, source.index(builtin)), None, message)
    package = _PACKAGE_LINE.search(source)
    if package is not None and package.group(1) != PACKAGE:
        message = f"package {package.group(1)}: voicectl reads `package {PACKAGE}`: rename it"
        raise PolicyProblem(shown, _line(source, package.start(1)), None, message)
    rego = Interpreter()
    rego.strict_built_in_errors = True  # a built-in that errs is an error, not a silently undefined rule
    findings: list[dict[str, Any]] = []
    with _native_stdout() as printed:
        try:
            rego.add_module(shown, source)
            rego.set_input(document)
            for rule in () if compile_only else RULES:
                output = rego.query(f"data.{PACKAGE}.{rule}")
                if not output.ok():
                    message = (
                        f"rule {rule} failed to evaluate: a built-in function raised an error (an argument of the "
                        "wrong type?); the plan cannot pass until the policy is fixed"
                    )
                    raise PolicyProblem(shown, _rule_line(source, rule), None, message)
                findings += [_finding(shown, rule, value) for value in _values(str(output))]
        except RegoError as e:
            raise _compile_problem(shown, source, str(e), printed()) from None
        except ValueError as e:  # regopy could not read its own answer back (see reconciler/policy.py)
            message = (
                f"the policy's answer could not be read ({e}): build messages with concat rather than sprintf on "
                "a built-in's result"
            )
            raise PolicyProblem(shown, None, None, message) from None
    return findings


def _values(output: str) -> list[Any]:
    if output.strip() == "undefined":
        return []  # no such rule in this file
    value = json.loads(output)["expressions"][0]
    return sorted(value, key=json.dumps) if isinstance(value, list) else [value]


def _finding(shown: str, rule: str, value: Any) -> dict[str, Any]:
    address = None
    if isinstance(value, dict) and "msg" in value:
        message = str(value["msg"])
        address = None if value.get("address") is None else str(value["address"])
    else:
        message = value if isinstance(value, str) else json.dumps(value)
    return {"file": shown, "rule": rule, "message": message, "address": address}


def _compile_problem(shown: str, source: str, error: str, printed: str) -> PolicyProblem:
    """The first error of a module that does not parse or compile, at its line and column."""
    match = _ERROR.search(error)
    if match is None:
        detail = (printed.strip().splitlines() or [error.strip()])[0]
        return PolicyProblem(shown, None, None, f"the policy does not compile: {detail}")
    offset = int(match.group("offset"))
    column = offset - (source.rfind("\n", 0, offset) + 1) + 1
    return PolicyProblem(shown, _line(source, offset), column, f"the policy does not compile: {match.group('message')}")


def _line(source: str, offset: int) -> int:
    return source[:offset].count("\n") + 1


def _rule_line(source: str, rule: str) -> int | None:
    match = re.search(rf"^[ \t]*{rule}\b", source, re.MULTILINE)
    return _line(source, match.start()) if match else None


@contextlib.contextmanager
def _native_stdout() -> Iterator[Callable[[], str]]:
    """rego-cpp prints parse errors to file descriptor 1: keep them off the answer, for the message."""
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


def main() -> int:
    request = json.load(sys.stdin)
    document = request["document"]
    findings: list[dict[str, Any]] = []

    def say(line: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(line) + "\n")
        sys.stdout.flush()  # before native code runs: a crash must leave the file being evaluated behind

    for path, shown in request["files"]:
        say({"evaluating": shown})
        try:
            findings += evaluate_file(path, shown, document, compile_only=bool(request.get("compile_only")))
        except PolicyProblem as e:
            say({"error": e.problem})
            return 1
    say({"findings": findings})
    return 0


if __name__ == "__main__":
    sys.exit(main())
