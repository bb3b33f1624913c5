"""Export and import: JSON round-trips text, branches, attachments and history; Markdown; the CLI."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from history_samples import fake_reply

from app.cli import main
from app.store import ImportFormatError, Store
from app.store.dates import format_moment
from engine.events import Done

ROOT = Path(__file__).resolve().parents[3]


def build(store, tmp_path):
    """A conversation with an edit, a regeneration, a thought, an attachment and an incomplete reply."""
    image = tmp_path / "chart.png"
    image.write_bytes(bytes(range(256)) * 4)
    cid = store.create_conversation(system="You are terse.")
    user = store.send_user_message(cid, "Explain the chart\nsecond line", [image])
    with store.begin_reply(user.id) as writer:
        for event in fake_reply(1, words="It rises"):
            if isinstance(event, Done):
                event = Done((), (), event.text, "Looking at the axes", event.answer, event.stats)
            writer.on_event(event)
    regen = store.regenerate(writer.message_id)
    for event in fake_reply(2, canvases=1)[:4]:
        regen.on_event(event)
    regen.stop()
    store.edit_user_message(user.id, "Explain the chart, briefly")
    store.select_message(regen.message_id)
    return cid


def snapshot(store, cid):
    """Everything that must survive a round trip, in tree order, without the ids."""
    active = {m.id for m in store.active_path(cid)}
    rows = []

    def visit(mid, depth):
        m = store.message(mid)
        attachments = [(a.sha256, a.kind, a.name, a.size, a.path.read_bytes()) for a in m.attachments]
        rows.append(
            (depth, m.role, m.text, m.thought, m.status, m.stop_reason, m.stats, attachments, m.created_at)
        )
        rows.append((m.updated_at, m.sibling_index, m.sibling_count, mid in active))
        for child in children.get(mid, []):
            visit(child, depth + 1)

    children: dict = {}
    query = "SELECT id, parent_id FROM messages WHERE conversation_id = ? ORDER BY id"
    for mid, parent in store._db.conn.execute(query, (cid,)):
        children.setdefault(parent, []).append(mid)
    for root in children.get(None, []):
        visit(root, 0)
    info = store.conversation(cid)
    return (info.title, info.system, info.created_at, info.updated_at), rows


def test_json_round_trip_is_lossless(store, tmp_path, data_dir, clock):
    cid = build(store, tmp_path)
    document = store.export_json([cid], include_history=True)
    text = json.dumps(document)
    assert document["attachments"] == "embedded" and len(document["blobs"]) == 1

    other = Store.open(tmp_path / "elsewhere" / "conversations.db", clock=clock)
    try:
        [new] = other.import_json(json.loads(text))
        assert snapshot(other, new) == snapshot(store, cid)
        old_reply = store.active_path(cid)[1].id
        new_reply = other.active_path(new)[1].id
        assert other.replay(new_reply) == store.replay(old_reply)
        assert other.canvases(new_reply) == store.canvases(old_reply)
        assert other.search("terse") == [] and other.search("rises")[0].conversation_id == new
        assert other.conversation(new).title == "Explain the chart"
    finally:
        other.close()


def test_pins_survive_export_and_import_and_older_exports_import_unpinned(store, tmp_path, clock):
    pinned = build(store, tmp_path)
    plain = store.create_conversation("Plain")
    store.set_pinned(pinned, True)
    document = json.loads(json.dumps(store.export_json()))
    assert document["version"] == 1  # an optional key: older apps still read the file
    assert [(c["title"], c["pinned"]) for c in document["conversations"]] == [
        ("Explain the chart", True),
        ("Plain", False),
    ]

    with Store.open(tmp_path / "elsewhere" / "conversations.db", clock=clock) as other:
        clock.advance(60)
        first, second = other.import_json(document)
        assert other.conversation(first).pinned_at == clock.now  # pinned as of the import
        assert other.conversation(second).pinned_at is None
        assert [(g.label, [c.id for c in g.conversations]) for g in other.grouped_conversations()] == [
            ("Pinned", [first]),
            ("Today", [second]),
        ]

        for conversation in document["conversations"]:  # as exported before pins existed
            del conversation["pinned"]
        older = other.import_json(document)
        assert [other.conversation(cid).pinned_at for cid in older] == [None, None]
        assert snapshot(other, older[0]) == snapshot(store, pinned)
    assert store.conversation(plain).pinned_at is None


def test_referenced_attachments_import_only_where_the_blobs_exist(store, tmp_path, clock):
    cid = build(store, tmp_path)
    document = store.export_json([cid], embed_attachments=False)
    assert document["attachments"] == "referenced" and "blobs" not in document
    [copy] = store.import_json(document)  # same machine: the blob is here
    assert store.active_path(copy)[0].attachments[0].path.exists()
    with Store.open(tmp_path / "empty" / "conversations.db", clock=clock) as other:
        with pytest.raises(ImportFormatError, match="not in the export"):
            other.import_json(document)
        assert other.list_conversations() == []  # all or nothing


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(format="something else"), "not a DiffusionGemma Chat export"),
        (lambda d: d.update(version=99), "format version 99"),
        (lambda d: d.update(conversations="nope"), "no conversation list"),
        (lambda d: d["blobs"].update({next(iter(d["blobs"])): "AAAA"}), "does not match its checksum"),
        (lambda d: d["conversations"][0]["messages"][1].update(parent_id=12345), "parent is missing"),
        (lambda d: d["conversations"][0]["messages"][0].update(role="system"), "malformed"),
        (lambda d: d["conversations"][0].pop("created_at"), "malformed"),
    ],
)
def test_bad_imports_are_refused_whole(store, tmp_path, mutate, message):
    cid = build(store, tmp_path)
    document = store.export_json([cid])
    mutate(document)
    before = store.list_conversations()
    with pytest.raises(ImportFormatError, match=message):
        store.import_json(document)
    assert store.list_conversations() == before


def test_markdown_shows_the_active_branch(store, tmp_path):
    cid = build(store, tmp_path)
    text = store.export_markdown([cid])
    assert text.startswith("# Explain the chart\n")
    assert "**System:**\n\nYou are terse." in text
    assert "## You (version 1 of 2)" in text
    assert "## DiffusionGemma (version 2 of 2)" in text
    assert "`chart.png` (image, 1,024 bytes" in text
    assert "*(reply incomplete: cancelled)*" in text
    assert "It rises" not in text  # the other version of the reply is not on the active branch
    store.select_message(store.siblings(store.active_path(cid)[1].id).ids[0])
    assert "<details><summary>Thought</summary>\n\nLooking at the axes" in store.export_markdown([cid])


def test_cli_export_to_stdout_and_file_and_import(store, tmp_path, data_dir, capsys):
    cid = build(store, tmp_path)
    second = store.create_conversation("Second")
    store.send_user_message(second, "hello there")

    assert main(["export", "--format", "md", "--conversation", str(cid)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# Explain the chart") and "hello there" not in out

    target = tmp_path / "all.json"
    assert main(["export", "--format", "json", "--out", str(target)]) == 0
    document = json.loads(target.read_text(encoding="utf-8"))
    assert [c["title"] for c in document["conversations"]] == ["Explain the chart", "Second"]

    assert main(["import", str(target)]) == 0
    assert capsys.readouterr().out.startswith("imported 2 conversation(s):")
    assert sorted(c.title for c in store.list_conversations()) == [
        "Explain the chart",
        "Explain the chart",
        "Second",
        "Second",
    ]

    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    assert main(["import", str(bad)]) == 2
    assert "error: The file is not valid JSON" in capsys.readouterr().err
    assert main(["export", "--conversation", "999"]) == 2
    assert "Conversation 999 does not exist" in capsys.readouterr().err


KILLED_MID_EXPORT = """
import os, sys, time
def stuck(fd):  # the export's text is in its temporary file, not yet renamed over the target
    print("writing", flush=True)
    time.sleep(60)
os.fsync = stuck
from app.cli import main
main(["export", "--out", sys.argv[1]])
"""


def test_an_export_killed_mid_write_leaves_no_hidden_file_after_the_next_one(store, tmp_path, data_dir):
    store.create_conversation("Kept")
    target = tmp_path / "all.json"
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_MID_EXPORT, str(target)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert child.stdout.readline() == "writing\n"
    finally:
        child.kill()  # kill -9, mid-write
        child.wait()
        child.stdout.close()
    (left,) = [p.name for p in tmp_path.iterdir() if p.name.startswith(".all.json.")]
    assert not target.exists()
    alive = tmp_path / f".all.json.dgchat-{os.getpid()}-x"  # this process's own, maybe being written
    alive.write_text("", encoding="utf-8")

    assert main(["export", "--out", str(target)]) == 0
    assert [c["title"] for c in json.loads(target.read_text(encoding="utf-8"))["conversations"]] == ["Kept"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".all.json.")) == [alive.name]
    assert left != alive.name


def first_message(document):
    return document["conversations"][0]["messages"][0]


def first_attachment(document):
    return first_message(document)["attachments"][0]


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d["conversations"][0].update(created_at=1e300), "conversations[0].created_at"),
        (lambda d: d["conversations"][0].update(updated_at=float("inf")), "conversations[0].updated_at"),
        (lambda d: d["conversations"][0].update(created_at=-1e15), "conversations[0].created_at"),
        (lambda d: first_message(d).update(created_at=float("nan")), "messages[0].created_at"),
        (lambda d: first_message(d).update(updated_at="yesterday"), "messages[0].updated_at"),
        (lambda d: first_message(d).update(stats="fast"), "messages[0].stats"),
        (lambda d: d["conversations"][0]["messages"][1].update(stats={"seconds": "long"}), "stats.seconds"),
        (lambda d: first_message(d).update(selected_seq=2**63), "messages[0].selected_seq"),
        (lambda d: first_message(d).update(id=2**64), "messages[0].id"),
        (lambda d: first_message(d).update(text={"nested": ["x"]}), "messages[0].text"),
        (lambda d: first_attachment(d).update(size=2**63), "attachments[0].size"),
        (lambda d: first_attachment(d).update(size=5), "attachments[0].size"),
        (lambda d: first_attachment(d).update(kind="program"), "attachments[0].kind"),
        (lambda d: d["conversations"][0].update(title=["a"]), "conversations[0].title"),
    ],
)
def test_imported_fields_out_of_range_are_refused_naming_the_field(store, tmp_path, mutate, field):
    cid = build(store, tmp_path)
    document = store.export_json([cid], include_history=True)
    mutate(document)
    before = store.list_conversations()
    with pytest.raises(ImportFormatError, match=re.escape(field)) as refused:
        store.import_json(document)
    assert "Export the chat again from the app" in str(refused.value)
    assert store.list_conversations() == before


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("[" * 100_000 + "]" * 100_000, "nests its data too deeply"),
        ("9" * 5_000, "holds a value that cannot be read"),
    ],
)
def test_json_nested_thousands_deep_or_with_huge_numbers_is_refused_with_an_error_line(
    store, tmp_path, capsys, value, message
):
    hostile = tmp_path / "hostile.json"
    hostile.write_text('{"format": "diffusiongemma-chat", "x": ' + value + "}")
    assert main(["import", str(hostile)]) == 2
    err = capsys.readouterr().err
    assert f"error: The file {message}" in err and "Traceback" not in err


def hostile_rows(store) -> int:
    """A conversation whose stored values no import of this version lets in (written by hand, or older)."""
    cid = store.create_conversation("Hostile")
    user = store.send_user_message(cid, "hello")
    with store.begin_reply(user.id) as writer:
        for event in fake_reply(1, words="hi"):
            writer.on_event(event)
    conn = store._db.conn
    conn.execute("UPDATE conversations SET created_at = 1e300, updated_at = 9e999 WHERE id = ?", (cid,))
    conn.execute("UPDATE messages SET created_at = -1e15, stats = '\"fast\"' WHERE id = ?", (user.id,))
    conn.execute(
        'UPDATE messages SET created_at = 1e300, stats = \'{"seconds": "long"}\' WHERE id = ?',
        (writer.message_id,),
    )
    conn.commit()
    return cid


def test_whatever_the_database_holds_the_sidebar_and_exports_still_work(store, clock):
    cid = hostile_rows(store)
    groups = store.grouped_conversations()
    assert [g.label for g in groups] == ["Today"] and groups[0].conversations[0].id == cid
    assert [m.stats for m in store.active_path(cid)] == [None, None]
    text = store.export_markdown([cid])
    assert text.startswith("# Hostile") and "hello" in text and "hi" in text
    assert format_moment(-1e15, clock()).endswith("1970 at " + format_moment(0, clock())[-5:])
    document = store.export_json([cid])
    assert first_message(document)["stats"] == "fast"  # exported as stored, refused if imported back


def test_an_attachment_name_cannot_break_out_of_its_markdown_code_span(store, tmp_path):
    image = tmp_path / "chart.png"
    image.write_bytes(bytes(range(256)))
    cid = store.create_conversation()
    store.send_user_message(cid, "look", [image])
    name = "a`b\n\n# Forged heading ``` <img src=x>"
    store._db.conn.execute("UPDATE attachments SET name = ?", (name,))
    store._db.conn.commit()
    text = store.export_markdown([cid])
    (line,) = [line for line in text.splitlines() if line.startswith("- Attachment:")]
    assert "\n# Forged" not in text
    assert line.startswith("- Attachment: ```` a`b  # Forged heading ``` <img src=x> ```` (image, 256 bytes")
