"""`voicectl stacks`: the repository's stacks as text, as JSON, or as what GitHub Actions' `strategy.matrix`
takes through `fromJSON` (one job per stack; `account` names a concurrency group per account)."""

from __future__ import annotations

import json
from typing import Any

from reconciler.model import Stack, Stacks

GITHUB_MATRIX_MAX = 256  # jobs one matrix may generate in a workflow run


def stack_json(stack: Stack) -> dict[str, Any]:
    a = stack.account
    return {
        "name": stack.name,
        "directory": stack.directory,
        "file": stack.file,
        "environment": stack.environment,
        "account": {
            "key": stack.account_key,
            "provider": a.provider,
            "region": a.region,
            "workspace": a.workspace,
            "prefix": a.prefix,
        },
        "secrets": dict(stack.secrets),
    }


def stacks_json(stacks: Stacks, listed: tuple[Stack, ...], changed_since: str | None) -> str:
    doc = {
        "format_version": 1,
        "source": stacks.source,
        "changed_since": changed_since,
        "stacks": [stack_json(s) for s in listed],
    }
    return json.dumps(doc, indent=2)


def github_matrix(listed: tuple[Stack, ...]) -> str:
    """One line of JSON: `{"include": [...]}`, one entry per stack, every value a string (an empty matrix is
    `{"include": []}`: guard the job with `if: fromJSON(...).include[0] != null`)."""
    if len(listed) > GITHUB_MATRIX_MAX:
        raise ValueError(
            f"{len(listed)} stacks: a GitHub matrix makes at most {GITHUB_MATRIX_MAX} jobs; split the workflow "
            "by a glob of stacks, or use --changed-since"
        )
    include = [
        {
            "stack": s.name,
            # Appended to a CI name that must differ per stack (comment marker, artifact): none for a single
            # stack at the root, so a one-stack repository keeps its names.
            "suffix": "" if s.directory == "." else f"-{s.name}",
            "directory": s.directory,
            "file": s.file,
            "environment": s.environment or "",
            "account": s.account_key,
            "api_key_secret": s.secrets["DASHSCOPE_API_KEY"],
            "access_key_id_secret": s.secrets["ALIBABA_CLOUD_ACCESS_KEY_ID"],
            "access_key_secret_secret": s.secrets["ALIBABA_CLOUD_ACCESS_KEY_SECRET"],
        }
        for s in listed
    ]
    return json.dumps({"include": include}, separators=(",", ":"))


def stacks_text(stacks: Stacks, listed: tuple[Stack, ...], changed_since: str | None) -> str:
    if not listed:
        return f"No stacks changed since {changed_since}." if changed_since else "No stacks."
    width = max(len(s.name) for s in listed)
    lines = [f"{s.name:<{width}}  {s.file}  ({s.account.provider} {s.account.region}, prefix {s.account.prefix})"
             for s in listed]  # fmt: skip
    what = f"changed since {changed_since}" if changed_since else f"from {stacks.source}"
    lines.append(f"{len(listed)} of {len(stacks.stacks)} stacks, {what}.")
    return "\n".join(lines)
