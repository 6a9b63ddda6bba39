"""The least-privilege RAM policy shipped in docs/ram-policy.json grants exactly the actions the provider code
calls: derived here from the code itself (every oss2.Bucket method called anywhere in reconciler/, every IMS
action passed to the ICE client), so a new call without its permission, or a permission nothing uses, fails."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import oss2

REPO = Path(__file__).resolve().parents[1]
POLICY = REPO / "docs" / "ram-policy.json"

# The RAM action each oss2.Bucket method needs (OSS's API-to-action table). A method missing here fails the
# test: look up its action and add both here and to the policy.
OSS_ACTIONS = {
    "put_object": "oss:PutObject",
    "get_object": "oss:GetObject",
    "head_object": "oss:GetObject",  # HeadObject is authorised as GetObject
    "sign_url": "oss:GetObject",  # a signed GET: DashScope fetches the audio with our authority
    "delete_object": "oss:DeleteObject",
    "list_objects_v2": "oss:ListObjects",
    "get_bucket_versioning": "oss:GetBucketVersioning",
}


def _calls() -> tuple[set[str], set[str]]:
    """(oss2.Bucket methods called, IMS actions named) across the package."""
    bucket_methods = {n for n in dir(oss2.Bucket) if not n.startswith("_")}
    oss, ice = set(), set()
    for path in (REPO / "reconciler").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                continue
            if node.func.attr in bucket_methods:
                oss.add(node.func.attr)
            # The binder's one entry point to ICE: self._call("ActionName", {...}, subject=...)
            if node.func.attr == "_call" and "binder" in path.name and node.args:
                first = node.args[0]
                assert isinstance(first, ast.Constant) and isinstance(first.value, str), f"{path}: dynamic action"
                ice.add(first.value)
    return oss, ice


def _granted() -> set[str]:
    policy = json.loads(POLICY.read_text(encoding="utf-8"))
    assert policy["Version"] == "1"
    actions: set[str] = set()
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow" and "*" not in "".join(statement["Action"])  # no wildcard actions
        actions.update(statement["Action"])
    return actions


def test_the_policy_grants_exactly_what_the_code_calls() -> None:
    oss_methods, ice_actions = _calls()
    unmapped = oss_methods - OSS_ACTIONS.keys()
    assert not unmapped, f"oss2 calls without a known RAM action: {unmapped}: add them to OSS_ACTIONS and the policy"
    needed = {OSS_ACTIONS[m] for m in oss_methods} | {f"ice:{a}" for a in ice_actions}
    granted = _granted()
    assert not needed - granted, f"docs/ram-policy.json lacks {sorted(needed - granted)}"
    assert not granted - needed, f"docs/ram-policy.json grants {sorted(granted - needed)}, which no code uses"
    assert {"oss:PutObject", "ice:UpdateAIAgentInstance"} <= needed  # the derivation found the calls at all


def test_object_actions_are_limited_to_the_bucket_and_prefix() -> None:
    policy = json.loads(POLICY.read_text(encoding="utf-8"))
    for statement in policy["Statement"]:
        for resource in statement["Resource"]:
            if resource.startswith("acs:oss:"):
                assert resource in ("acs:oss:*:*:BUCKET", "acs:oss:*:*:BUCKET/voicectl/*"), resource
        if "oss:ListObjects" in statement["Action"]:
            assert statement["Condition"]["StringLike"]["oss:Prefix"] == ["voicectl/*"]
