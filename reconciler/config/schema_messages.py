"""Schema violations in words: what is wrong where, and how to fix it (a suggestion for a misspelt key or
value, the pattern's meaning instead of the regex)."""

from __future__ import annotations

import difflib
from typing import Any

from jsonschema.exceptions import ValidationError

from reconciler.config.reporter import Reporter
from reconciler.config.yamlpos import Path


def report_schema_error(report: Reporter, err: ValidationError) -> None:
    # jsonschema types these as "maybe unset"; for an error from iter_errors they are always set.
    instance: Any = err.instance
    expected: Any = err.validator_value
    schema: Any = err.schema
    path = tuple(err.absolute_path)
    field_name = next((p for p in reversed(path) if isinstance(p, str)), "")
    where = _where(path)
    if err.validator == "additionalProperties" and isinstance(instance, dict):
        allowed = list(schema.get("properties", {}))
        for key in instance:
            if key not in allowed:
                report.error(
                    (*path, key),
                    f"unknown key {key!r} in {where}{suggest(key, allowed) or ': allowed are ' + ', '.join(allowed)}",
                    at_key=True,
                )
    elif err.validator == "required":
        report.error(path, f"{where} is missing {err.message.split(' is a required')[0]}")
    elif err.validator == "const" and path == ("version",):
        report.error(path, f"unsupported version {instance!r}: this voicectl reads `version: 1`")
    elif err.validator == "enum":
        options = ", ".join(map(str, expected))
        hint = suggest(str(instance), [str(o) for o in expected])
        label = "model" if field_name == "model" else field_name
        report.error(path, f"unknown {label} {instance!r} in {where}{hint or ''}; use one of: {options}")
    elif err.validator == "pattern":
        hint_key = field_name if not isinstance(path[-1], int) else str(path[-2])
        hint = _PATTERN_HINTS.get(hint_key, f"must match {expected}")
        report.error(path, f"bad {field_name or 'value'} {instance!r} in {where}: {hint}")
    elif err.validator == "type":
        got = type(instance).__name__ if instance is not None else "nothing"
        report.error(path, f"{where} must be {_a(expected)}, not {got}")
    elif err.validator == "maxItems" and path == ("voices",):
        report.error(path, f"{len(instance)} voices: an account holds at most {expected}")
    else:
        report.error(path, f"{where}: {err.message}{_bound_hint(err.validator, expected)}")


def _where(path: Path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "the document"


def suggest(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f": did you mean {close[0]!r}?" if close else ""


_PATTERN_HINTS = {
    "name": "use lower-case letters, digits and '-', starting with a letter, at most 63 characters (e.g. support-en)",
    "voice": "use the name of a voice declared under voices:",
    "renamed_from": "use former voice names: lower-case letters, digits and '-', starting with a letter",
    "prefix": "use 1 to 9 lower-case letters or digits (e.g. acme)",
    "language": "use a language code such as en, zh or pt-BR",
    "bucket": "use an OSS bucket name: 3-63 lower-case letters, digits and '-'",
    "endpoint": "use a URL such as https://oss-cn-beijing.aliyuncs.com",
    "key_prefix": "use a key prefix ending with '/', e.g. voicectl/audio/",
    "region": "use a region id such as cn-beijing",
    "agent": "use the IMS AIAgentId (letters, digits, '-', '_', '.')",
    "node": "use the TTS node's id (letters, digits, '-', '_', '.')",
    "instances": "use AI agent instance ids (letters, digits, '-', '_', '.')",
    "key": "use a key prefix such as voicectl/state (no leading or trailing '/')",
}


def _bound_hint(validator: object, bound: Any) -> str:
    if validator not in ("minimum", "maximum") or not isinstance(bound, int | float):
        return ""
    return f"; use a value of {'at most' if validator == 'maximum' else 'at least'} {bound:g}"


def _a(kind: object) -> str:
    names = {"string": "a string", "integer": "an integer", "number": "a number", "boolean": "true or false"}
    names |= {"array": "a list", "object": "a mapping"}
    if isinstance(kind, list):
        return " or ".join(names.get(str(k), str(k)) for k in kind)
    return names.get(str(kind), str(kind))
