"""Reliability: the scenario runner in quick mode (what CI runs), the committed full-run figures, and
regression tests for what the scenarios found.

`bench/reliability.py --quick` drives `voicectl` as a real process through throttling and 5xx on every kind
of call, lost create responses, SIGKILL at seeded random points, two applies at once and a broken lock, a
failed review, a secret scan and corrupt state, against the local provider and the loopback emulator, and
audits that no voice was lost, duplicated or orphaned, the quota held and no lock was left.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.reliability_support import (
    COSY3,
    REPO,
    Binding,
    Project,
    Voice,
    audit_local,
    finish_local_reviews,
)


def table_rows(text: str) -> dict[str, list[str]]:
    """The figures table of a RELIABILITY.md: scenario name -> its cells."""
    rows = {}
    for line in text.splitlines():
        match = re.match(r"^\| (`[a-z0-9-]+`|\*\*total\*\*) \|", line)
        if match:
            rows[match.group(1).strip("`*")] = [c.strip() for c in line.strip().strip("|").split("|")]
    return rows


def test_reliability_quick(tmp_path: Path) -> None:
    """`bench/reliability.py --quick`, as a developer runs it: every scenario passes with zero figures."""
    report = tmp_path / "RELIABILITY.md"
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / "reliability.py"), "--quick", "--out", str(report)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-8000:] + proc.stderr[-3000:]
    rows = table_rows(report.read_text())
    assert len(rows) >= 14, rows
    for name, cells in rows.items():
        # lost, duplicated, orphaned, quota exceeded, locks left, manual unlocks
        assert cells[6:12] == ["0"] * 6, (name, cells)
    assert int(rows["sigkill-local"][4]) + int(rows["sigkill-emulator"][4]) >= 1, "no apply was killed"


def test_committed_report_is_a_clean_full_run() -> None:
    text = (REPO / "RELIABILITY.md").read_text()
    assert "python bench/reliability.py --full" in text and "all scenarios passed" in text
    rows = table_rows(text)
    assert rows["total"][6:12] == ["0"] * 6, rows["total"]  # no manual unlocks either
    assert int(rows["sigkill-local"][2]) == 50 and int(rows["sigkill-emulator"][2]) == 50  # seeds
    assert rows["lease-local"][-1] == rows["lease-oss"][-1] == "pass"
    assert int(rows["total"][4]) > 100  # faults that fired: the figures come from a run that did something


def test_rerun_after_a_kill_during_a_replacements_review_binds_and_retires(tmp_path: Path) -> None:
    """Found by the SIGKILL matrix: killed while the new half of a replacement was under review, every rerun
    exited 1 ("voice v2 is DEPLOYING ... rerun apply later") and kept both voices, because the old half's
    delete shares the voice's address and hid the account's status at plan time."""
    project = Project(tmp_path / "p", env={"VOICECTL_LOCAL_REVIEW_DELAY": "0.05"})
    project.write([Voice("v2", 2)], [Binding("agent-1", "v2")])
    assert project.cli("apply", "--auto-approve").rc == 0

    project.write([Voice("v2", 2, model=COSY3)], [Binding("agent-1", "v2", model=COSY3)])
    killed = project.spawn("apply", "--auto-approve", env={"VOICECTL_LOCAL_REVIEW_DELAY": "600"})
    assert killed.wait_for(r"waiting for review")
    killed.kill()
    assert finish_local_reviews(project) == 1  # the review ends while nobody is running

    # The killed run's lock is a lease whose holder is gone: the rerun takes it over, no force-unlock.
    rerun = project.cli("apply", "--auto-approve")
    assert rerun.rc == 0, rerun.describe()
    assert "took over the state lock of a run that is gone" in rerun.err and "has exited" in rerun.err
    assert project.cli("plan", "--detailed-exitcode").rc == 0
    audit = audit_local(project, ["v2"])
    assert audit.clean and audit.live == 1, audit.describe()
