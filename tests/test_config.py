"""voices.yaml loading: every broken input gets its own message at the right line and column."""

from __future__ import annotations

import json
import os
import shutil
import textwrap
from pathlib import Path

import pytest

from reconciler.config.loader import load_desired, validate_file
from reconciler.config.schema import SCHEMA, schema_json
from reconciler.errors import ConfigError
from reconciler.ui.json_view import validation_json

REPO = Path(__file__).resolve().parent.parent
EXAMPLE_AUDIO = REPO / "examples" / "audio" / "support-en.mp3"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "audio").mkdir()
    shutil.copy(EXAMPLE_AUDIO, tmp_path / "audio" / "a.mp3")
    return tmp_path


def write(project: Path, body: str) -> str:
    path = project / "voices.yaml"
    path.write_text(textwrap.dedent(body).lstrip("\n"))
    return str(path)


GOOD = """
version: 1
account:
  prefix: acme
voices:
  - name: support-en
    audio: audio/a.mp3
    model: cosyvoice-v2
bindings:
  - agent: agent1
    voice: support-en
    model: cosyvoice-v2
"""


def test_good_file_loads_with_defaults(project: Path) -> None:
    desired, warnings = load_desired(write(project, GOOD))
    assert warnings == []
    assert desired.account.provider == "local"
    assert desired.account.quota == 30
    assert desired.account.prefix == "acme"
    assert desired.account.guards.max_deletes == 3
    (voice,) = desired.voices
    assert voice.audio.ext == "mp3"
    assert voice.audio.identity.startswith("sha256:")
    assert desired.bindings[0].node == "tts"


def test_audio_identity_is_content_not_path(project: Path) -> None:
    a, _ = load_desired(write(project, GOOD))
    shutil.move(project / "audio" / "a.mp3", project / "audio" / "renamed.mp3")
    b, _ = load_desired(write(project, GOOD.replace("audio/a.mp3", "audio/renamed.mp3")))
    assert a.voices[0].audio.identity == b.voices[0].audio.identity


# (yaml body, expected line, expected column or None, expected substring)
BROKEN: list[tuple[str, str, int, int | None, str]] = [
    ("syntax", "version: 1\nvoices: [\n", 3, None, "YAML syntax error"),
    ("tab indent", "version: 1\nvoices:\n\t- name: x\n", 3, None, "YAML syntax error"),
    ("duplicate top key", "version: 1\nversion: 1\nvoices: []\n", 2, 1, "duplicate key 'version' (first at line 1)"),
    (
        "duplicate voice key",
        "version: 1\nvoices:\n  - name: a\n    name: b\n    audio: audio/a.mp3\n    model: cosyvoice-v2\n",
        4,
        5,
        "duplicate key 'name'",
    ),
    ("unknown top key", "version: 1\nvoices: []\nvoise: []\n", 3, 1, "unknown key 'voise'"),
    (
        "unknown voice key with suggestion",
        "version: 1\nvoices:\n  - name: a\n    audio: audio/a.mp3\n    modle: cosyvoice-v2\n",
        5,
        5,
        "did you mean 'model'",
    ),
    ("version 2", "version: 2\nvoices: []\n", 1, 10, "unsupported version 2"),
    ("version missing", "voices: []\n", 1, 1, "missing 'version'"),
    ("voices missing", "version: 1\n", 1, 1, "missing 'voices'"),
    ("not a mapping", "- 1\n- 2\n", 1, 1, "must be a mapping"),
    (
        "bad name",
        "version: 1\nvoices:\n  - name: Support_EN\n    audio: audio/a.mp3\n    model: cosyvoice-v2\n",
        3,
        11,
        "bad name 'Support_EN'",
    ),
    (
        "bad prefix",
        "version: 1\naccount:\n  prefix: ACME!\nvoices: []\n",
        3,
        11,
        "bad prefix 'ACME!' in account.prefix: use 1 to 9 lower-case letters or digits",
    ),
    ("prefix too long", "version: 1\naccount:\n  prefix: abcdefghij\nvoices: []\n", 3, 11, "bad prefix"),
    (
        "unknown model",
        "version: 1\nvoices:\n  - name: a\n    audio: audio/a.mp3\n    model: cosyvoice-v4\n",
        5,
        12,
        "unknown model 'cosyvoice-v4'",
    ),
    (
        "duplicate voice names",
        "version: 1\nvoices:\n  - name: a\n    audio: audio/a.mp3\n    model: cosyvoice-v2\n"
        "  - name: a\n    audio: audio/a.mp3\n    model: cosyvoice-v2\n",
        6,
        11,
        "duplicate voice name 'a' (first at line 3)",
    ),
    (
        "binding to unknown voice",
        "version: 1\nvoices:\n  - name: support\n    audio: audio/a.mp3\n    model: cosyvoice-v2\n"
        "bindings:\n  - agent: ag\n    voice: suport\n    model: cosyvoice-v2\n",
        8,
        12,
        "binding to unknown voice 'suport': did you mean 'support'",
    ),
    (
        "binding model mismatch",
        "version: 1\nvoices:\n  - name: a\n    audio: audio/a.mp3\n    model: cosyvoice-v2\n"
        "bindings:\n  - agent: ag\n    voice: a\n    model: cosyvoice-v3-plus\n",
        9,
        12,
        "set model: cosyvoice-v2",
    ),
    (
        "same node bound twice",
        "version: 1\nvoices:\n  - name: a\n    audio: audio/a.mp3\n    model: cosyvoice-v2\n"
        "bindings:\n  - agent: ag\n    voice: a\n    model: cosyvoice-v2\n"
        "  - agent: ag\n    voice: a\n    model: cosyvoice-v2\n",
        10,
        12,
        "already bound at line 7",
    ),
    (
        "renamed_from clashes with a current name",
        "version: 1\nvoices:\n  - name: a\n    audio: audio/a.mp3\n    model: cosyvoice-v2\n"
        "  - name: b\n    audio: audio/a.mp3\n    model: cosyvoice-v2\n    renamed_from: [a]\n",
        9,
        20,
        "renamed_from 'a' clashes with the voice named 'a' at line 3",
    ),
    (
        "renamed_from claimed twice",
        "version: 1\nvoices:\n  - name: a\n    audio: audio/a.mp3\n    model: cosyvoice-v2\n    renamed_from: [old]\n"
        "  - name: b\n    audio: audio/a.mp3\n    model: cosyvoice-v2\n    renamed_from: [old]\n",
        10,
        20,
        "also claimed by the voice at line 3",
    ),
    (
        "renamed_from own name",
        "version: 1\nvoices:\n  - name: a\n    audio: audio/a.mp3\n    model: cosyvoice-v2\n    renamed_from: [a]\n",
        6,
        20,
        "the voice's own name",
    ),
    (
        "audio missing",
        "version: 1\nvoices:\n  - name: a\n    audio: audio/nope.wav\n    model: cosyvoice-v2\n",
        4,
        12,
        "audio file 'audio/nope.wav' not found",
    ),
    (
        "audio outside via ..",
        "version: 1\nvoices:\n  - name: a\n    audio: ../outside.mp3\n    model: cosyvoice-v2\n",
        4,
        12,
        "resolves outside the directory of voices.yaml (through '..')",
    ),
    (
        "absolute audio path",
        "version: 1\nvoices:\n  - name: a\n    audio: /etc/passwd\n    model: cosyvoice-v2\n",
        4,
        12,
        "is absolute: write it relative to voices.yaml",
    ),
    (
        "http scheme",
        "version: 1\naccount:\n  provider: aliyun\n  oss: {bucket: voices}\nvoices:\n  - name: a\n"
        "    audio: http://example.com/a.wav\n    model: cosyvoice-v2\n",
        7,
        12,
        "scheme 'http' is not supported",
    ),
    (
        "ftp scheme",
        "version: 1\nvoices:\n  - name: a\n    audio: ftp://h/a.wav\n    model: cosyvoice-v2\n",
        4,
        12,
        "scheme 'ftp' is not supported",
    ),
    (
        "remote audio on local provider",
        "version: 1\nvoices:\n  - name: a\n    audio: https://example.com/a.wav\n    model: cosyvoice-v2\n",
        4,
        12,
        "the local provider cannot fetch remote audio",
    ),
    ("alias", "version: 1\nx: &a [1]\nvoices: *a\n", 2, 4, "anchors (&a) are not supported"),
    ("custom tag", "version: 1\nvoices: !!python/object:os.system []\n", 2, 9, "unsupported YAML tag"),
    ("quota type", "version: 1\naccount:\n  quota: lots\nvoices: []\n", 3, 10, "must be an integer"),
    ("quota too big", "version: 1\naccount:\n  quota: 5000\nvoices: []\n", 3, 10, "5000 is greater than the maximum"),
    (
        "oss backend on local provider",
        "version: 1\naccount:\n  state:\n    backend: oss\nvoices: []\n",
        4,
        14,
        "state backend 'oss' needs `provider: aliyun`",
    ),
    (
        "aliyun without bucket",
        "version: 1\naccount:\n  provider: aliyun\nvoices:\n  - name: a\n    audio: audio/a.mp3\n"
        "    model: cosyvoice-v2\n",
        3,
        3,
        "provider aliyun needs account.oss.bucket",
    ),
    ("url_ttl over 7 days", "version: 1\naccount:\n  oss:\n    url_ttl: 999999\nvoices: []\n", 4, 14, "maximum"),
    ("non-utf8", b"version: 1\nvoices: []\n# caf\xe9\n", 3, 6, "not valid UTF-8"),
    (
        "missing model",
        "version: 1\nvoices:\n  - name: a\n    audio: audio/a.mp3\n",
        3,
        5,
        "voices[0] is missing 'model'",
    ),
]


@pytest.mark.parametrize(("label", "body", "line", "column", "expected"), BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_input_is_reported_precisely(
    project: Path, label: str, body: str | bytes, line: int, column: int | None, expected: str
) -> None:
    path = project / "voices.yaml"
    path.write_bytes(body if isinstance(body, bytes) else body.encode())
    result = validate_file(str(path))
    assert not result.valid
    matching = [e for e in result.errors if expected in e.message]
    assert matching, f"no error contains {expected!r}: {[str(e) for e in result.errors]}"
    error = matching[0]
    assert error.file == str(path)
    assert error.line == line, str(error)
    if column is not None:
        assert error.column == column, str(error)


def test_symlink_out_of_project_is_refused(project: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    outside = tmp_path_factory.mktemp("outside") / "x.mp3"
    shutil.copy(EXAMPLE_AUDIO, outside)
    os.symlink(outside, project / "audio" / "link.mp3")
    result = validate_file(write(project, GOOD.replace("audio/a.mp3", "audio/link.mp3")))
    assert [e.message for e in result.errors if "through a symlink" in e.message]


def test_every_problem_is_reported_in_one_run(project: Path) -> None:
    body = """
    version: 1
    account:
      prefix: BAD
    voices:
      - name: a
        audio: audio/missing.wav
        model: cosyvoice-v9
    bindings:
      - agent: ag
        voice: nobody
        model: cosyvoice-v2
    """
    result = validate_file(write(project, body))
    messages = " | ".join(e.message for e in result.errors)
    assert "bad prefix" in messages
    assert "unknown model" in messages
    assert "not found" in messages
    assert "unknown voice 'nobody'" in messages
    assert len(result.errors) >= 4


def test_load_desired_raises_with_all_problems(project: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_desired(write(project, "version: 3\nvoices: []\nextra: 1\n"))
    assert len(info.value.problems) == 2


def test_validate_json_shape(project: Path) -> None:
    result = validate_file(write(project, "version: 1\nvoices: []\nextra: 1\n"))
    doc = validation_json(result.errors, result.warnings)
    assert doc["valid"] is False
    assert set(doc["errors"][0]) == {"file", "line", "column", "message"}
    assert doc["warnings"] == []


def test_alias_bomb_is_refused_quickly(project: Path) -> None:
    lines = ["version: 1", 'a0: &a0 ["x","x","x","x","x","x","x","x","x"]']
    lines += [f"a{i}: &a{i} [*a{i - 1},*a{i - 1},*a{i - 1},*a{i - 1},*a{i - 1},*a{i - 1}]" for i in range(1, 10)]
    lines.append("voices: *a9")
    result = validate_file(write(project, "\n".join(lines) + "\n"))
    assert "anchors (&a0) are not supported" in result.errors[0].message


def test_deep_nesting_is_refused(project: Path) -> None:
    body = "version: 1\nvoices: []\nx: " + "[" * 200 + "]" * 200 + "\n"
    result = validate_file(write(project, body))
    assert "nesting deeper than" in result.errors[0].message


def test_too_many_voices(project: Path) -> None:
    voices = "".join(f"  - {{name: v{i}, audio: audio/a.mp3, model: cosyvoice-v2}}\n" for i in range(1001))
    result = validate_file(write(project, "version: 1\nvoices:\n" + voices))
    assert any("at most 1000" in e.message for e in result.errors)


def test_missing_file_names_init(tmp_path: Path) -> None:
    result = validate_file(str(tmp_path / "voices.yaml"))
    assert "voicectl init" in result.errors[0].message


def test_schema_file_matches_code() -> None:
    on_disk = (REPO / "schemas" / "voices.schema.json").read_text()
    assert on_disk == schema_json(), "regenerate: python -m reconciler.config.schema > schemas/voices.schema.json"
    assert json.loads(on_disk) == SCHEMA


def test_example_starts_with_schema_modeline() -> None:
    first = (REPO / "voices.yaml").read_text().splitlines()[0]
    assert first == "# yaml-language-server: $schema=./schemas/voices.schema.json"


def test_example_validates() -> None:
    result = validate_file(str(REPO / "voices.yaml"))
    assert result.valid, [str(e) for e in result.errors]
    assert len(result.desired.voices) == 3 and len(result.desired.bindings) == 1
