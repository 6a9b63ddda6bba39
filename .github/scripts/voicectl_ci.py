#!/usr/bin/env python3
"""Glue between `voicectl` and a GitHub Actions runner; action.yml calls `finish` after voicectl ran.

`finish` turns one command's results into what the runner wants: step outputs, annotations, the step summary,
and a markdown file even when voicectl failed before it could write one, so a PR comment never keeps showing
an older plan. Standard library only (plus `reconciler.logs.scrub` when voicectl is importable), so it also
runs next to a voicectl installed some other way.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import uuid
from pathlib import Path
from typing import Any

PLAN_MARKER = "<!-- voicectl-plan -->"
APPLY_MARKER = "<!-- voicectl-apply -->"
# What voicectl says when `apply --expect-changes` refused: the merge changed the approved change set.
NOT_APPROVED = "the planned changes differ from the approved ones"
STDERR_TAIL = 40  # lines of voicectl's stderr quoted when it failed
_SECRET_VARS = ("DASHSCOPE_API_KEY", "ALIBABA_CLOUD_ACCESS_KEY_SECRET", "ALIBABA_CLOUD_SECURITY_TOKEN")


# -- runner files -------------------------------------------------------------------------------------


def set_output(name: str, value: str) -> None:
    """Append to $GITHUB_OUTPUT with a random heredoc delimiter, so no value can forge another output."""
    path = os.environ.get("GITHUB_OUTPUT")
    if not path:
        print(f"{name}={value}")
        return
    delimiter = f"ghadelimiter_{uuid.uuid4().hex}"
    with open(path, "a", encoding="utf-8") as f:
        f.write(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")


def add_summary(markdown: str) -> None:
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(markdown.rstrip("\n") + "\n\n")


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotate(level: str, message: str, *, title: str, file: str | None = None, line: int = 0, col: int = 0) -> None:
    """A workflow command (`::error file=…::message`) that GitHub shows on the diff line and the run page."""
    props = [f"title={_escape_property(title)}"]
    if file:
        props = [f"file={_escape_property(file)}", f"line={line or 1}", f"col={col or 1}", *props]
    print(f"::{level} {','.join(props)}::{_escape_data(message)}", flush=True)


# -- text helpers -------------------------------------------------------------------------------------


def scrub(text: str) -> str:
    """voicectl scrubs its own messages; this is the second belt for tracebacks that escaped it."""
    try:
        from reconciler.logs import scrub as voicectl_scrub

        text = voicectl_scrub(text)
    except ImportError:  # voicectl installed elsewhere (pipx): fall back to the known secret values
        pass
    for var in _SECRET_VARS:
        value = os.environ.get(var)
        if value and len(value) >= 4:
            text = text.replace(value, "***")
    return text


def stderr_tail(out: Path) -> str:
    try:
        lines = (out / "stderr.txt").read_text(encoding="utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        return ""
    lines = [line[:500] for line in lines if line.strip()][-STDERR_TAIL:]
    return scrub("\n".join(lines))


def fenced(text: str) -> str:
    """A code block whose fence is longer than any backtick run inside it."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"


def run_link() -> str:
    server, repo, run = (os.environ.get(k) for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID"))
    return f"[the run's log]({server}/{repo}/actions/runs/{run})" if server and repo and run else "the run's log"


def failure_markdown(command: str, exitcode: int, out: Path) -> str:
    marker = PLAN_MARKER if command == "plan" else APPLY_MARKER
    what = {
        "plan": "the plan could not be computed",
        "apply": "the apply stopped before it changed anything, or could not write its report",
    }[command]
    tail = stderr_tail(out)
    lines = [marker, f"### voicectl {command}", "", f"**❌ voicectl {command} failed (exit {exitcode}): {what}.**", ""]
    if tail:
        lines += [fenced(tail), ""]
    lines.append(f"See {run_link()} for everything it printed.")
    return "\n".join(lines) + "\n"


def first_bold_line(markdown: str) -> str:
    match = re.search(r"^\*\*(.+)\*\*\s*$", markdown, re.MULTILINE)
    return match.group(1) if match else ""


def workspace_relative(path: str) -> str:
    workspace = os.environ.get("GITHUB_WORKSPACE") or os.getcwd()
    return os.path.relpath(os.path.abspath(path), os.path.abspath(workspace))


# -- per command ---------------------------------------------------------------------------------------


def finish_validate(exitcode: int, out: Path) -> int:
    """Annotations on the offending lines, and a table of the problems in the step summary."""
    try:
        result: dict[str, Any] = json.loads((out / "validate.json").read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        result = {"valid": False, "errors": [], "warnings": []}
    problems = [("error", p) for p in result.get("errors", [])] + [("warning", p) for p in result.get("warnings", [])]
    rows = []
    for level, p in problems:
        where = workspace_relative(p.get("file") or "voices.yaml")
        line, col = int(p.get("line") or 1), int(p.get("column") or 1)
        print(f"{where}:{line}:{col}: {level}: {p.get('message', '')}")
        annotate(level, str(p.get("message", "")), title="voicectl validate", file=where, line=line, col=col)
        message = str(p.get("message", "")).replace("|", "\\|").replace("\n", " ")
        rows.append(f"| {level} | `{where}:{line}:{col}` | {message} |")
    valid = bool(result.get("valid")) and exitcode == 0
    errors = len(result.get("errors", []))
    headline = "✅ valid" if valid else f"❌ {errors or 'unknown'} error{'s' if errors != 1 else ''}"
    md = ["### voicectl validate", "", f"**{headline}**", ""]
    if rows:
        md += ["| level | where | message |", "|---|---|---|", *rows, ""]
    if not valid and not problems:
        tail = stderr_tail(out)
        md += [fenced(tail), ""] if tail else []
        annotate("error", tail.splitlines()[-1] if tail else f"exit {exitcode}", title="voicectl validate")
    markdown = "\n".join(md)
    (out / "validate.md").write_text(markdown, encoding="utf-8")
    set_output("markdown", str(out / "validate.md"))
    set_output("result", "valid" if valid else "invalid")
    set_output("summary", headline.split(" ", 1)[1])
    add_summary(markdown)
    print(f"voicectl validate: {headline}")
    return 0 if valid else 1


def finish_plan(exitcode: int, out: Path) -> int:
    """The plan comment (or, when voicectl failed, one saying so), the plan file and its fingerprint. Exit 2
    counts as "changes" only with a plan to show: a usage error (click exits 2 too) is an error."""
    md_path, plan_path = out / "plan.md", out / "voicectl.plan"
    markdown = md_path.read_text(encoding="utf-8") if md_path.exists() else ""
    if exitcode not in (0, 2, 3) or PLAN_MARKER not in markdown or not plan_path.exists():
        exitcode = exitcode if exitcode not in (0, 2) else 1
        markdown = failure_markdown("plan", exitcode, out)
        md_path.write_text(markdown, encoding="utf-8")
    result = {0: "no-changes", 2: "changes", 3: "blocked"}.get(exitcode, "error")
    summary = first_bold_line(markdown).lstrip("✅❌ ")
    if exitcode in (0, 2, 3) and plan_path.exists():
        doc = json.loads(plan_path.read_text(encoding="utf-8"))["plan"]
        summary = doc.get("summary") or summary
        set_output("plan", str(plan_path))
        set_output("fingerprint", str(doc.get("fingerprint", "")))
        set_output("changes-digest", str(doc.get("changes_digest", "")))
        # Declared voices that cannot be used (failed review, vanished): the drift issue stays open for them.
        set_output("attention", str(sum(1 for d in doc.get("drift") or [] if d.get("fix"))))
    set_output("markdown", str(md_path))
    set_output("result", result)
    set_output("summary", summary)
    add_summary(markdown)
    if result == "blocked":
        annotate("error", f"the plan is blocked by a guard, so apply would refuse it. {summary}", title="voicectl plan")
    elif result == "error":
        annotate("error", summary, title="voicectl plan")
    else:
        annotate("notice", summary, title="voicectl plan")
    return exitcode


def finish_apply(exitcode: int, out: Path) -> int:
    """The apply report for the step summary; voicectl writes none when it had nothing to do or stopped early."""
    md_path = out / "apply.md"
    exitcode = exitcode if exitcode in (0, 3) else 1  # the contract's codes: a usage error or a signal is 1
    if md_path.exists():
        markdown = md_path.read_text(encoding="utf-8")
    elif exitcode == 0:  # voicectl writes no report when there was nothing to do
        markdown = f"{APPLY_MARKER}\n### voicectl apply\n\n**✅ No changes: the account already matches.**\n"
        md_path.write_text(markdown, encoding="utf-8")
    else:
        markdown = failure_markdown("apply", exitcode, out)
        md_path.write_text(markdown, encoding="utf-8")
    result = "applied" if exitcode == 0 else "blocked" if exitcode == 3 else "error"
    stderr = out / "stderr.txt"
    if exitcode == 1 and stderr.exists() and NOT_APPROVED in stderr.read_text(encoding="utf-8", errors="replace"):
        result = "not-approved"  # apply.yml then plans the merged commit and asks for approval on the PR
    summary = first_bold_line(markdown).lstrip("✅❌ ")
    set_output("markdown", str(md_path))
    set_output("result", result)
    set_output("summary", summary)
    add_summary(markdown)
    if exitcode != 0:
        annotate("error", summary, title="voicectl apply")
    return exitcode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="action", required=True)
    finish = sub.add_parser("finish", help="outputs, annotations and step summary of one voicectl run")
    finish.add_argument("--command", required=True, choices=("validate", "plan", "apply"))
    finish.add_argument("--exitcode", required=True, type=int)
    finish.add_argument("--out", required=True, type=Path, help="the directory voicectl's files were written to")
    args = parser.parse_args(argv)
    handler = {"validate": finish_validate, "plan": finish_plan, "apply": finish_apply}[args.command]
    # The exit code as the workflow should read it (see finish_plan), in the outputs and for action.yml.
    exitcode = handler(args.exitcode, args.out)
    set_output("exitcode", str(exitcode))
    (args.out / "exitcode").write_text(f"{exitcode}\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
