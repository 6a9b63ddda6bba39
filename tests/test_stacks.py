"""Stacks (issue 30): finding a repository's voices.yaml files, the accounts they must not share, the GitHub
matrix they fan out into, `--changed-since`, and audio shared from a common folder of the repository."""

from __future__ import annotations

import json
import subprocess
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from reconciler.audio.sample import write_sample_wav
from reconciler.cli import app

runner = CliRunner()


def voices_yaml(directory: Path, *, provider: str = "local", prefix: str = "vc", audio: str = "audio/a.wav",
                region: str = "cn-beijing") -> None:  # fmt: skip
    directory.mkdir(parents=True, exist_ok=True)
    account: dict[str, Any] = {"provider": provider, "prefix": prefix}
    if provider == "aliyun":
        account |= {"region": region, "oss": {"bucket": "voices"}}
    doc = {"version": 1, "account": account, "voices": [{"name": "a", "audio": audio, "model": "cosyvoice-v2"}]}
    (directory / "voices.yaml").write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")


def stacks(root: Path, *args: str, expect: int = 0) -> Any:
    result = runner.invoke(app, ["stacks", "--root", str(root), *args])
    assert result.exit_code == expect, result.output
    return result


def matrix(root: Path, *args: str) -> dict[str, Any]:
    return json.loads(stacks(root, "--format", "github-matrix", *args).stdout)


def validate_against_github_schema(value: dict[str, Any]) -> None:
    """The matrix inside a workflow, checked with check-jsonschema's vendored GitHub workflow schema."""
    vendor = resources.files("check_jsonschema.builtin_schemas.vendor")
    schema = json.loads((vendor / "github-workflows.json").read_text(encoding="utf-8"))
    workflow = {
        "on": "push",
        "jobs": {"apply": {"runs-on": "ubuntu-latest", "strategy": {"matrix": value}, "steps": [{"run": "true"}]}},
    }
    jsonschema.validators.validator_for(schema)(schema).validate(workflow)


def test_a_single_voices_yaml_is_one_stack(tmp_path: Path) -> None:
    voices_yaml(tmp_path)
    assert "default  voices.yaml  (local cn-beijing, prefix vc)" in stacks(tmp_path).stdout
    [entry] = matrix(tmp_path)["include"]
    assert entry["stack"] == "default" and entry["directory"] == "." and entry["account"] == "local-default"


@pytest.mark.parametrize("n", [1, 3, 200])
def test_github_matrix_of_n_stacks_fits_githubs_schema(tmp_path: Path, n: int) -> None:
    for i in range(n):
        voices_yaml(tmp_path / "stacks" / f"s{i:03d}", provider="aliyun", prefix=f"p{i:03d}")
    value = matrix(tmp_path)
    validate_against_github_schema(value)
    assert [e["stack"] for e in value["include"]] == [f"s{i:03d}" for i in range(n)]
    assert all(isinstance(v, str) for e in value["include"] for v in e.values())
    # One account (one region and key): one concurrency group for all of them.
    assert len({e["account"] for e in value["include"]}) == 1
    assert value["include"][0]["file"] == "stacks/s000/voices.yaml"


def test_more_stacks_than_a_matrix_takes_is_refused(tmp_path: Path) -> None:
    for i in range(257):
        voices_yaml(tmp_path / "stacks" / f"s{i:03d}")
    refused = stacks(tmp_path, "--format", "github-matrix", expect=1)
    assert "a GitHub matrix makes at most 256 jobs" in refused.stderr
    assert len(json.loads(stacks(tmp_path, "--format", "json").stdout)["stacks"]) == 257


def test_stacks_file_names_environments_and_secrets(tmp_path: Path) -> None:
    voices_yaml(tmp_path / "cn" / "prod", provider="aliyun", prefix="prod")
    voices_yaml(tmp_path / "intl", provider="aliyun", prefix="prod", region="ap-southeast-1")
    voices_yaml(tmp_path / "teams" / "a", prefix="a")
    voices_yaml(tmp_path / "teams" / "b", prefix="b")
    (tmp_path / "voicectl-stacks.yaml").write_text(
        "version: 1\n"
        "stacks:\n"
        "  - path: cn/prod\n"
        "    name: prod-cn\n"
        "    environment: production\n"
        "    secrets: {DASHSCOPE_API_KEY: DASHSCOPE_API_KEY_CN}\n"
        "  - path: intl\n"
        "    secrets: {DASHSCOPE_API_KEY: DASHSCOPE_API_KEY_INTL}\n"
        "  - teams/*\n",
        encoding="utf-8",
    )
    value = matrix(tmp_path)
    assert [e["stack"] for e in value["include"]] == ["prod-cn", "intl", "a", "b"]
    prod = value["include"][0]
    assert prod["environment"] == "production" and prod["api_key_secret"] == "DASHSCOPE_API_KEY_CN"
    assert prod["access_key_id_secret"] == "ALIBABA_CLOUD_ACCESS_KEY_ID"  # not remapped: its own name
    assert len({e["account"] for e in value["include"]}) == 4  # two regions, two local accounts
    validate_against_github_schema(value)


def test_stacks_file_errors_name_the_line_and_the_fix(tmp_path: Path) -> None:
    voices_yaml(tmp_path / "a")
    (tmp_path / "voicectl-stacks.yaml").write_text(
        "version: 1\nstacks:\n  - path: a\n    colour: red\n  - path: missing\n  - path: ../outside\n"
        "  - path: a\n    secrets: {OTHER: X}\n",
        encoding="utf-8",
    )
    refused = stacks(tmp_path, expect=1)
    assert "voicectl-stacks.yaml:4:" in refused.stderr and "unknown key 'colour'" in refused.stderr
    assert "voicectl-stacks.yaml:5:" in refused.stderr and "'missing' holds no voices.yaml" in refused.stderr
    assert "'../outside' must stay inside the repository" in refused.stderr
    assert "secrets: OTHER is not a variable voicectl reads" in refused.stderr


def test_two_stacks_on_one_account_with_overlapping_prefixes_are_an_error(tmp_path: Path) -> None:
    voices_yaml(tmp_path / "stacks" / "one", provider="aliyun", prefix="acme")
    voices_yaml(tmp_path / "stacks" / "two", provider="aliyun", prefix="acmeprod")
    refused = stacks(tmp_path, expect=1)
    assert "stacks 'one' and 'two' manage the same voices" in refused.stderr
    assert "prefixes 'acme' and 'acmeprod'" in refused.stderr and "prefix of its own" in refused.stderr

    voices_yaml(tmp_path / "stacks" / "two", provider="aliyun", prefix="beta")  # its own prefix: fine
    assert "2 of 2 stacks" in stacks(tmp_path).stdout
    voices_yaml(tmp_path / "stacks" / "two", provider="aliyun", prefix="acme", region="ap-southeast-1")
    assert "2 of 2 stacks" in stacks(tmp_path).stdout  # another region is another account


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)


def test_changed_since_lists_only_stacks_whose_file_or_audio_changed(tmp_path: Path) -> None:
    (tmp_path / "shared").mkdir()
    write_sample_wav(str(tmp_path / "shared" / "hello.wav"))
    voices_yaml(tmp_path / "stacks" / "a", audio="../../shared/hello.wav", prefix="a")
    voices_yaml(tmp_path / "stacks" / "b", audio="../../shared/hello.wav", prefix="b")
    voices_yaml(tmp_path / "stacks" / "c", audio="audio/c.wav", prefix="c")
    (tmp_path / "voicectl-stacks.yaml").write_text("version: 1\nstacks: [stacks/*]\n", encoding="utf-8")
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "add", ".")
    git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "base")

    assert "No stacks changed since HEAD." in stacks(tmp_path, "--changed-since", "HEAD").stdout
    assert matrix(tmp_path, "--changed-since", "HEAD") == {"include": []}

    text = (tmp_path / "stacks" / "c" / "voices.yaml").read_text() + "bindings: []\n"
    (tmp_path / "stacks" / "c" / "voices.yaml").write_text(text)
    assert [e["stack"] for e in matrix(tmp_path, "--changed-since", "HEAD")["include"]] == ["c"]

    git(tmp_path, "checkout", "-q", "--", ".")
    write_sample_wav(str(tmp_path / "shared" / "hello.wav"), seed=3)  # the shared audio: both of its stacks
    assert [e["stack"] for e in matrix(tmp_path, "--changed-since", "HEAD")["include"]] == ["a", "b"]

    git(tmp_path, "checkout", "-q", "--", ".")
    (tmp_path / "voicectl-stacks.yaml").write_text("version: 1\nstacks: ['stacks/*']\n", encoding="utf-8")
    assert len(matrix(tmp_path, "--changed-since", "HEAD")["include"]) == 3  # the stacks file: every stack

    unknown = stacks(tmp_path, "--changed-since", "no-such-ref", expect=1)
    assert "--changed-since no-such-ref: git merge-base failed" in unknown.stderr and "fetch-depth: 0" in unknown.stderr


def test_audio_may_be_shared_inside_the_root_a_stacks_file_marks(tmp_path: Path) -> None:
    (tmp_path / "shared").mkdir()
    write_sample_wav(str(tmp_path / "shared" / "hello.wav"))
    voices_yaml(tmp_path / "stacks" / "a", audio="../../shared/hello.wav")
    config = str(tmp_path / "stacks" / "a" / "voices.yaml")
    outside = runner.invoke(app, ["validate", "-f", config])
    assert outside.exit_code == 1 and "resolves outside the directory of voices.yaml" in outside.output

    (tmp_path / "voicectl-stacks.yaml").write_text("version: 1\nstacks: [stacks/a]\n", encoding="utf-8")
    assert runner.invoke(app, ["validate", "-f", config]).exit_code == 0
    (tmp_path / "stacks" / "a" / "voices.yaml").write_text(
        (tmp_path / "stacks" / "a" / "voices.yaml").read_text().replace("../../shared", "../../../elsewhere")
    )
    beyond = runner.invoke(app, ["validate", "-f", config])
    assert beyond.exit_code == 1 and "outside the repository that voicectl-stacks.yaml marks" in beyond.output


def test_stack_option_narrows_the_list_and_names_an_unknown_one(tmp_path: Path) -> None:
    for name in ("a", "b", "c"):
        voices_yaml(tmp_path / "stacks" / name, prefix=name)
    assert [e["stack"] for e in matrix(tmp_path, "--stack", "b", "--stack", "c")["include"]] == ["b", "c"]
    unknown = stacks(tmp_path, "--stack", "zz", expect=1)
    assert "--stack zz: no such stack (there are: a, b, c)" in unknown.stderr
