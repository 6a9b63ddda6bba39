"""`voicectl lint`: the audio lint of each declared voice, as plain data for the views.

It lints every selected voice whatever its `lint:` key says (asking for the lint is the point), and says
when plan and validate skip one. Remote audio (oss://, https://) cannot be read offline and is listed so.
"""

from __future__ import annotations

from typing import Any

from reconciler.audio.lint import lint_file, metrics_summary
from reconciler.catalog import MODELS
from reconciler.errors import VoicectlError
from reconciler.model import Desired, VoiceSpec
from reconciler.naming import parse_address


def lint_voices(desired: Desired, names: list[str] | None = None) -> list[dict[str, Any]]:
    """One row per voice: name, audio, model, metrics (None when not measured), errors, warnings, note."""
    selected = _select(desired, names)
    return [_row(v) for v in selected]


def _select(desired: Desired, names: list[str] | None) -> list[VoiceSpec]:
    if not names:
        return list(desired.voices)
    wanted = [parse_address(n).name for n in names]
    unknown = [n for n in wanted if desired.voice(n) is None]
    if unknown:
        declared = ", ".join(v.name for v in desired.voices) or "none"
        raise VoicectlError(f"lint: no voice named {', '.join(unknown)} in voices.yaml (declared: {declared})")
    return [v for v in desired.voices if v.name in wanted]


def _row(voice: VoiceSpec) -> dict[str, Any]:
    row: dict[str, Any] = {
        "name": voice.name,
        "audio": voice.audio.ref,
        "model": voice.model,
        "metrics": None,
        "errors": [],
        "warnings": [],
        "note": None if voice.lint else "lint: false in voices.yaml: validate and plan skip this lint",
    }
    if voice.audio.path is None:
        row["note"] = "remote audio: it cannot be read offline, so it is not linted"
        return row
    report = lint_file(voice.audio.path, model=MODELS[voice.model], recorded=voice.recorded, sha256=voice.audio.sha256)
    row["metrics"] = metrics_summary(report.metrics)
    row["errors"], row["warnings"] = report.errors, report.warnings
    return row
