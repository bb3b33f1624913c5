"""The message tree: edits and regenerations are siblings, nothing is destroyed, the active branch is kept."""

from __future__ import annotations

import pytest
from history_samples import fake_reply

from app.store import StoreError, to_turns
from app.store.titles import auto_title
from engine.events import Done
from engine.inputs.conversation import Conversation, Turn


def reply(store, user_id, words, *, thought=""):
    with store.begin_reply(user_id) as writer:
        for event in fake_reply(len(words), words=words):
            if isinstance(event, Done) and thought:
                event = Done((), (), event.text, thought, event.answer, event.stats)
            writer.on_event(event)
    return writer.message_id


def test_send_reply_regenerate_edit_and_switch(store, clock):
    cid = store.create_conversation()
    u1 = store.send_user_message(cid, "What is diffusion?").id
    a1 = reply(store, u1, "first answer")
    u2 = store.send_user_message(cid, "Shorter please").id
    a2 = reply(store, u2, "short")
    assert [m.id for m in store.active_path(cid)] == [u1, a1, u2, a2]

    # Regenerate the first reply: a sibling, and the tree below the old one stays.
    writer = store.regenerate(a1)
    for event in fake_reply(9, words="second answer"):
        writer.on_event(event)
    a1b = writer.message_id
    assert store.siblings(a1).ids == store.siblings(a1b).ids
    assert store.siblings(a1b).ids == (a1, a1b) and store.siblings(a1b).index == 1
    path = store.active_path(cid)
    assert [m.id for m in path] == [u1, a1b]
    assert (path[1].sibling_index, path[1].sibling_count) == (1, 2)

    # Edit the first user message: a new root-level sibling.
    clock.advance(5)
    u1b = store.edit_user_message(u1, "What is block diffusion?").id
    assert store.siblings(u1).ids == (u1, u1b)
    assert [m.id for m in store.active_path(cid)] == [u1b]

    # Switching back to the original restores the branch as it was last seen below it.
    assert [m.id for m in store.select_message(u1)] == [u1, a1b]
    assert [m.id for m in store.select_message(a1)] == [u1, a1, u2, a2]
    assert [m.id for m in store.select_message(u1b)] == [u1b]
    # Selecting a message deep in another branch activates its ancestors too.
    assert [m.id for m in store.select_message(a2)] == [u1, a1, u2, a2]

    # Nothing was destroyed: every message still exists with its text.
    texts = {m: store.message(m).text for m in (u1, a1, u2, a2, a1b, u1b)}
    assert texts[u1] == "What is diffusion?" and texts[u1b] == "What is block diffusion?"
    assert texts[a1] == "first answer part0 part1" and texts[a1b] == "second answer part0 part1"


def test_engine_conversation_gives_answers_only_and_the_stores_attachment_copies(store, tmp_path):
    image = tmp_path / "cat.png"
    image.write_bytes(b"not really a png")
    cid = store.create_conversation(system="Be brief.")
    u1 = store.send_user_message(cid, "Describe", [image])
    a1 = reply(store, u1.id, "A cat", thought="I see whiskers")
    assert store.message(a1).thought == "I see whiskers"
    u2 = store.send_user_message(cid, "More?")
    conversation = store.engine_conversation(u2.id)
    stored_image = u1.attachments[0].path
    assert conversation == Conversation(
        turns=(
            Turn("user", "Describe", (u1.attachments[0].to_engine(),)),
            Turn("assistant", "A cat part0 part1"),
            Turn("user", "More?"),
        ),
        system="Be brief.",
    )
    assert stored_image != image and stored_image.read_bytes() == b"not really a png"
    image.unlink()  # the user's original goes away; the conversation does not care
    assert store.engine_conversation(u2.id).turns[0].attachments[0].path.read_bytes() == b"not really a png"
    assert to_turns(store.active_path(cid)) == conversation.turns


def test_attachments_are_stored_once_by_content_and_kept_on_edit(store, tmp_path):
    a = tmp_path / "a.jpg"
    b = tmp_path / "copy of a.jpg"
    clip = tmp_path / "clip.mp4"
    a.write_bytes(b"same bytes")
    b.write_bytes(b"same bytes")
    clip.write_bytes(b"video bytes")
    cid = store.create_conversation()
    message = store.send_user_message(cid, "", [a, b, clip])
    shas = [x.sha256 for x in message.attachments]
    assert shas[0] == shas[1] != shas[2]
    assert [x.kind for x in message.attachments] == ["image", "image", "video"]
    assert [x.name for x in message.attachments] == ["a.jpg", "copy of a.jpg", "clip.mp4"]
    blobs = [p for p in store.blobs_dir.rglob("*") if p.is_file()]
    assert len(blobs) == 2
    edited = store.edit_user_message(message.id, "now with words")
    assert [x.sha256 for x in edited.attachments] == shas
    replaced = store.edit_user_message(message.id, "only the clip", [clip])
    assert [x.name for x in replaced.attachments] == ["clip.mp4"]
    assert store.conversation(cid).title == "a.jpg"  # titled by the first message's attachment
    with pytest.raises(StoreError, match="does not exist"):
        store.send_user_message(cid, "x", [tmp_path / "missing.png"])


def test_titles_come_from_the_first_message_unless_the_user_named_the_chat(store):
    cid = store.create_conversation()
    store.send_user_message(cid, "\n\n  Explain   the entropy bound\nin detail")
    assert store.conversation(cid).title == "Explain the entropy bound"
    store.send_user_message(cid, "A second message never retitles")
    assert store.conversation(cid).title == "Explain the entropy bound"
    root = store.active_path(cid)[0]
    store.edit_user_message(root.id, "Edited first message")
    assert store.conversation(cid).title == "Explain the entropy bound"  # a title does not jump on edits
    store.rename_conversation(cid, "  My name  ")
    assert store.conversation(cid).title == "My name"
    named = store.create_conversation("Chosen")
    store.send_user_message(named, "hello")
    assert store.conversation(named).title == "Chosen"


@pytest.mark.parametrize(
    ("text", "title"),
    [
        ("short", "short"),
        ("word " * 30, "word word word word word word word word word word word word…"),
        ("x" * 100, "x" * 60 + "…"),
        ("a" * 59 + " tail that is cut", "a" * 59 + "…"),
        ("Ends exactly at sixty characters, which is fine, no cut here", None),
        ("Hello, world, this title runs past the limit, and a comma lands right here, ok", None),
        ("", "New chat"),
    ],
)
def test_auto_title_cuts_on_a_word_boundary(text, title):
    result = auto_title(text)
    if title is not None:
        assert result == title
    assert len(result) <= 61
    if len(text) > 60 and " " in text[:61]:
        assert result.endswith("…") and not result[:-1].endswith((" ", ","))
        assert text.startswith(result[:-1])


def test_bad_tree_operations_raise_store_errors(store):
    cid = store.create_conversation()
    other = store.create_conversation()
    user = store.send_user_message(cid, "hi").id
    answer = reply(store, user, "yo")
    with pytest.raises(StoreError):
        store.edit_user_message(answer, "not mine")
    with pytest.raises(StoreError):
        store.begin_reply(answer)
    with pytest.raises(StoreError):
        store.regenerate(user)
    with pytest.raises(StoreError, match="does not exist"):
        store.message(999)
    with pytest.raises(StoreError, match="does not exist"):
        store.send_user_message(999, "nobody home")
    assert store.active_path(other) == []


def test_branching_copies_the_path_into_a_new_chat_and_leaves_the_original(store, clock, tmp_path):
    image = tmp_path / "plan.png"
    image.write_bytes(b"\x89PNG fake image bytes")
    cid = store.create_conversation()
    u1 = store.send_user_message(cid, "Plan a garden", [image]).id
    a1 = reply(store, u1, "beds and a barrel")
    writer = store.regenerate(a1)  # a second version of the first reply, shown
    for event in fake_reply(9, words="a pond"):
        writer.on_event(event)
    a1b = writer.message_id
    u2 = store.send_user_message(cid, "Cheaper?").id
    reply(store, u2, "skip the pond")
    before = [m.id for m in store.active_path(cid)]
    original_info = store.conversation(cid)

    clock.advance(60)
    new = store.branch_conversation(a1b)
    path = store.active_path(new)
    shown = [(m.role, m.text) for m in path]
    assert shown == [("user", "Plan a garden"), ("assistant", "a pond part0 part1")]
    assert all(len(m.siblings.ids) == 1 for m in path)  # one version each: the ones that were shown
    assert path[0].attachments[0].name == "plan.png"
    assert path[0].attachments[0].path.read_bytes() == image.read_bytes()  # the same stored file
    assert store.canvases(path[1].id) == store.canvases(a1b)  # Replay and Continue work there too
    assert store.replay(path[1].id) == store.replay(a1b)
    info = store.conversation(new)
    assert info.title == f"{original_info.title} (branch)" and not info.pinned
    assert info.created_at == clock() and store.list_conversations()[0].id == new  # at the top, today
    # The original is untouched.
    assert [m.id for m in store.active_path(cid)] == before
    assert store.siblings(a1b).ids == (a1, a1b)
    follow = store.send_user_message(new, "Go on").id
    assert [m.id for m in store.active_path(new)][-1] == follow
    assert [m.id for m in store.active_path(cid)] == before
