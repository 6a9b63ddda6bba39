"""Where voices.yaml's problems go: each with the file, the line and column of the value at fault."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from reconciler.config.yamlpos import LoadedYaml, Path
from reconciler.errors import Problem

if TYPE_CHECKING:
    from reconciler.config.loader import ValidationResult


class Reporter:
    def __init__(self, file: str, loaded: LoadedYaml, result: ValidationResult):
        self.file, self.loaded, self.result = file, loaded, result

    def pos(self, path: Path) -> tuple[int, int]:
        return self.loaded.pos(path)

    def error(self, path: Path, message: str, *, at_key: bool = False) -> Problem:
        line, col = self.loaded.key(path) if at_key else self.loaded.pos(path)
        problem = Problem(self.file, line, col, _clip(message))
        self.result.errors.append(problem)
        return problem

    def warn(self, path: Path, message: str) -> None:
        line, col = self.loaded.pos(path)
        self.result.warnings.append(Problem(self.file, line, col, _clip(message)))


def _clip(message: str) -> str:
    """Keep messages readable when they quote an enormous value from the file: the head and the tail
    (where the fix is) survive."""
    if len(message) <= 600:
        return message
    return f"{message[:300]} … [{len(message) - 500} characters cut] … {message[-200:]}"


def as_list(value: Any) -> list[Any]:
    """A list from the document, or an empty one where the schema check already reported something else."""
    return value if isinstance(value, list) else []


def as_mapping(value: Any) -> dict[str, Any]:
    """A mapping from the document, or an empty one where the schema check already reported something else."""
    return value if isinstance(value, dict) else {}
