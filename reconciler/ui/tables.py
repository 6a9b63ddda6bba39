"""Tables for people: the live voices, like the console's list page."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from reconciler.model import StateDoc
from reconciler.naming import voice_address

VOICE_COLUMNS = ("NAME", "VOICE ID", "MODEL", "STATUS", "MANAGED", "CREATED")


def voices_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(box=None, pad_edge=False)
    for col in VOICE_COLUMNS:
        table.add_column(col)
    for r in rows:
        table.add_row(
            r["name"] or "-",
            r["voice_id"],
            r["model"],
            r["status"],
            "yes" if r["managed"] else "no",
            r["created"] or "-",
        )
    return table


def voices_lines(rows: list[dict[str, Any]]) -> list[str]:
    """The same columns tab-separated, for a pipe or a CI log: nothing is cut to a terminal's width."""
    lines = ["\t".join(VOICE_COLUMNS)]
    for r in rows:
        cells = (r["name"] or "-", r["voice_id"], r["model"], r["status"], "yes" if r["managed"] else "no")
        lines.append("\t".join((*cells, r["created"] or "-")))
    return lines


def state_lines(doc: StateDoc) -> list[str]:
    """`state list`: one tab-separated line per voice, binding, deposed and forgotten voice."""
    lines = [f"{voice_address(n)}\t{r.voice_id}\t{r.model}\t{r.status}" for n, r in sorted(doc.voices.items())]
    lines += [f"{a}\t{b.voice}\t{b.voice_id}" for a, b in sorted(doc.bindings.items())]
    lines += [
        f"{voice_address(r.name or vid)} (deposed)\t{vid}\t{r.model}\t{r.status}"
        for vid, r in sorted(doc.deposed.items())
    ]
    lines += [
        f"{voice_address(name)} (forgotten: unmanaged until imported)\t{vid}"
        for vid, name in sorted(doc.forgotten.items())
    ]
    return lines
