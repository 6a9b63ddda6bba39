"""Views of `voicectl lint`: per voice, the measured metrics and the findings (errors, then warnings)."""

from __future__ import annotations

from typing import Any

from rich.text import Text

from reconciler.naming import voice_address

FORMAT_VERSION = "1"


def metrics_line(m: dict[str, Any]) -> str:
    snr = "cannot judge" if m["snr_db"] is None else f"{m['snr_db']} dB"
    return (
        f"speech {m['speech_ratio']:.0%}, longest continuous speech {m['longest_speech_s']} s, "
        f"longest pause {m['longest_pause_s']} s, SNR {snr}, clipping {m['clipping']:.2%}, {m['lufs']} LUFS"
    )


def lint_text(rows: list[dict[str, Any]]) -> Text:
    out = Text()
    for row in rows:
        out.append(voice_address(row["name"]), style="bold")
        out.append(f"  {row['audio']}  {row['model']}\n")
        if row["metrics"] is not None:
            out.append(f"  {metrics_line(row['metrics'])}\n")
        if row["note"]:
            out.append(f"  note: {row['note']}\n", style="cyan")
        for message in row["errors"]:
            out.append("  error:", style="red")
            out.append(f" {message}\n")
        for message in row["warnings"]:
            out.append("  warning:", style="yellow")
            out.append(f" {message}\n")
        if row["metrics"] is not None and not row["errors"] and not row["warnings"]:
            out.append("  ok\n", style="green")
    failing = sum(1 for r in rows if r["errors"])
    warned = sum(1 for r in rows if r["warnings"] and not r["errors"])
    n = len(rows)
    out.append(
        f"Lint: {n} voice{'s' if n != 1 else ''}, {failing} with errors (a review would fail), "
        f"{warned} with warnings only.\n",
        style="bold red" if failing else "green",
    )
    return out


def lint_json(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """`lint --format json`: `{"format_version", "voices": [{name, audio, model, metrics, errors, warnings,
    note}], "errors", "warnings"}` (the last two: counts of findings)."""
    return {
        "format_version": FORMAT_VERSION,
        "voices": rows,
        "errors": sum(len(r["errors"]) for r in rows),
        "warnings": sum(len(r["warnings"]) for r in rows),
    }
