"""Tables for people: the live voices, like the console's list page."""

from __future__ import annotations

from typing import Any

from rich.table import Table

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
