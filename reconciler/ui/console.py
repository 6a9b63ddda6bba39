"""The consoles views print through, and the one rule for colour.

Plain text (no colour, no bold, no cursor movement) when `--no-color` is given or NO_COLOR is set, whatever
FORCE_COLOR or TERM say: Rich's own `no_color` still emits bold and underline, so plain means no colour
system at all. Otherwise Rich decides (colour on a terminal, plain in a pipe or a CI log).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from rich.console import Console


def wants_plain(no_color: bool, env: Mapping[str, str] | None = None) -> bool:
    env = os.environ if env is None else env
    return no_color or bool(env.get("NO_COLOR"))  # no-color.org: set and not empty


def make_console(no_color: bool = False, *, stderr: bool = False) -> Console:
    if wants_plain(no_color):
        return Console(stderr=stderr, color_system=None, no_color=True, highlight=False, soft_wrap=True)
    return Console(stderr=stderr, highlight=False, soft_wrap=True)
