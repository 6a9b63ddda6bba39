"""`state rm` forgets (the voice stays in the account, unmanaged, until `import`), and every declared option is
desired state (a create-time option change is a replacement marked with what forces it). Both providers."""

# The `project` fixture is imported from the support module; test arguments named after it are not redefinitions.
# ruff: noqa: F811

from __future__ import annotations

import json

from tests.lifecycle_support import COSY, COSY3, QWEN, Project, actions, local, project  # noqa: F401


def test_state_rm_then_removing_the_voice_deletes_nothing(project: Project) -> None:
    p = project
    p.voice("support", COSY)
    p.voice("sales", COSY)
    p.apply()
    sales_id = p.voice_id("sales")

    forgot = p.run("state", "rm", "sales", expect=0)
    assert "stays in the account, unmanaged" in forgot.stdout and f"voicectl import sales {sales_id}" in forgot.stdout
    del p.voices["sales"]
    plan = p.plan(expect=0)  # nothing to do: the forgotten voice is not ours to delete
    assert not any(
        (c["before"] or {}).get("voice_id") == sales_id for c in plan["changes"] if c["actions"] != ["no-op"]
    )
    assert plan["quota"]["before"] == 2  # still counted

    p.apply()
    assert sales_id in {v["voice_id"] for v in p.live()}
    listed = p.run("voices", "--all", "--format", "json", expect=0).json
    assert {"voice_id": sales_id, "managed": False}.items() <= next(
        r for r in listed if r["voice_id"] == sales_id
    ).items()
    assert f"voice.sales (forgotten: unmanaged until imported)\t{sales_id}" in p.run("state", "list").stdout


def test_state_rm_then_import_manages_the_voice_again(project: Project) -> None:
    p = project
    p.voice("support", COSY)
    p.apply()
    voice_id = p.voice_id("support")
    p.run("state", "rm", "support", expect=0)
    # Still declared and forgotten: the plan clones it anew rather than adopt the forgotten one.
    assert actions(p.plan())["voice.support"] == ["create"]

    p.run("import", "support", voice_id, expect=0)
    assert p.state().forgotten == {}
    p.converged()
    assert p.voice_id("support") == voice_id


def test_a_create_time_option_change_is_a_marked_replacement(project: Project) -> None:
    p = project
    p.guards = {"max_delete_fraction": 1.0}
    p.voice("support", COSY3, language="en")
    p.apply()
    assert p.state().voices["support"].options == ()  # recorded: none set

    p.voices["support"]["enable_preprocess"] = True
    plan = p.plan()
    change = next(c for c in plan["changes"] if c["address"] == "voice.support")
    assert change["actions"][0] in ("create", "delete") and change["reason"] == "option_changed"
    assert change["replace_paths"] == [["enable_preprocess"]]
    text = p.run("plan", "--no-color").stdout
    assert "enable_preprocess: None -> True  # forces replacement" in text

    p.voices["support"]["language"] = "zh"
    change = next(c for c in p.plan()["changes"] if c["address"] == "voice.support")
    assert change["replace_paths"] == [["language"], ["enable_preprocess"]]

    p.apply()
    record = p.state().voices["support"]
    assert record.language == "zh" and dict(record.options or ()) == {"enable_preprocess": True}
    p.converged()


def test_a_qwen_transcript_change_replaces_and_protect_still_guards(project: Project) -> None:
    p = project
    p.voice("narrator", QWEN, text="Hello there.", protect=True)
    p.apply()
    p.voices["narrator"]["text"] = "Hello there, friend."
    blocked = p.plan(expect=3)  # a replacement deletes the old voice: protect blocks it
    assert any(b["guard"] == "protect" for b in blocked["blocked"])
    allowed = p.plan("--allow-delete", "narrator")
    assert next(c for c in allowed["changes"] if c["address"] == "voice.narrator")["replace_paths"] == [["text"]]


def test_imported_voices_with_unknown_options_are_not_replaced_for_them(project: Project) -> None:
    p = project
    p.voice("support", COSY3)
    p.apply()
    voice_id = p.voice_id("support")
    p.run("state", "rm", "support", expect=0)
    p.run("import", "support", voice_id, expect=0)
    assert p.state().voices["support"].options is None  # the service does not report them

    p.voices["support"]["max_prompt_audio_length"] = 12
    plan = p.plan(expect=0)
    assert "voice.support" not in actions(plan)  # a no-op
    assert any("create-time options of support are not known" in n for n in plan["notes"])


def test_a_state_from_before_options_were_recorded_replaces_nothing(local: Project) -> None:
    p = local  # the same document on OSS; the local file is the one a test can rewrite in place
    p.voice("support", COSY3, enable_preprocess=True)
    p.voice("sales", COSY, language="en")
    p.apply()
    path = p.dir / ".voicectl" / "state.json"
    doc = json.loads(path.read_text())
    for record in doc["voices"].values():
        record.pop("options", None)
    doc.pop("forgotten", None)
    path.write_text(json.dumps(doc))

    plan = p.plan(expect=0)
    assert actions(plan) == {}
    p.apply()  # and it keeps working on that state
    p.converged()
