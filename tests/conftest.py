"""Suite-wide setup: the lint's metrics cache lives in a temporary directory of this run, never the
user's ~/.cache (child processes inherit it through the environment)."""

from __future__ import annotations

import os
import tempfile

if "VOICECTL_CACHE_DIR" not in os.environ or os.environ.get("CI"):
    os.environ["VOICECTL_CACHE_DIR"] = tempfile.mkdtemp(prefix="voicectl-test-cache-")


# -- no test writes into the repository ---------------------------------------------------------------

import pytest

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# What tools and runs of the suite may leave at the top of a checkout (all of it in .gitignore).
_TOOL_DIRS = {".pytest_cache", ".hypothesis", ".ruff_cache", ".mypy_cache", ".venv", "venv", ".voicectl", "build"}


@pytest.fixture(scope="session", autouse=True)
def _repository_root_stays_clean() -> object:
    """A stray file (a report.md, a plan, a state) written next to the README by a test is a failure: tests
    write under their tmp_path."""
    before = set(os.listdir(_REPO))
    yield
    new = sorted(n for n in set(os.listdir(_REPO)) - before - _TOOL_DIRS if not n.endswith(".egg-info"))
    assert not new, f"tests wrote into the repository root: {new}"
