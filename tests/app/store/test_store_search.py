"""Full-text search: titles and messages, snippets with highlight ranges, and any user input is safe."""

from __future__ import annotations

import pytest

from app.store.fts import match_expression, split_highlights


@pytest.fixture
def chats(store):
    whales = store.create_conversation()
    store.send_user_message(whales, "How heavy is a blue whale?")
    user = store.send_user_message(whales, 'He said "AND" then OR, NOT (x*y) near:me — and café au lait')
    with store.begin_reply(user.id) as writer:
        from history_samples import fake_reply

        for event in fake_reply(1, words="Krill feed the whales"):
            writer.on_event(event)
    cooking = store.create_conversation("Recipes")
    store.send_user_message(cooking, "Crème brûlée needs caramel; whale-shaped moulds optional")
    deleted = store.create_conversation("Deleted chat about whales")
    store.delete_conversation(deleted)
    return {"whales": whales, "cooking": cooking, "deleted": deleted, "user": user.id}


def test_words_match_titles_and_messages_with_title_hits_first(store, chats):
    hits = store.search("whale")
    assert [h.conversation_id for h in hits] == [chats["whales"], chats["cooking"]]
    first = hits[0]
    assert first.title == "How heavy is a blue whale?"
    assert [first.title[a:b] for a, b in first.title_highlights] == ["whale"]
    assert first.snippet[first.highlights[0][0] : first.highlights[0][1]].lower().startswith("whale")
    assert hits[1].message_id is not None
    assert "whale" in hits[1].snippet[hits[1].highlights[0][0] : hits[1].highlights[0][1]]


def test_last_word_matches_as_a_prefix_while_typing(store, chats):
    assert [h.conversation_id for h in store.search("kri")] == [chats["whales"]]
    assert store.search("kri ") == []  # a finished word must match whole


def test_every_word_must_match_and_accents_are_ignored(store, chats):
    assert [h.conversation_id for h in store.search("creme brulee")] == [chats["cooking"]]
    assert [h.conversation_id for h in store.search("CAFE")] == [chats["whales"]]
    assert store.search("caramel krill") == []


def test_deleted_conversations_are_not_found_until_restored(store, chats):
    assert chats["deleted"] not in [h.conversation_id for h in store.search("deleted")]
    store.restore_conversation(chats["deleted"])
    assert [h.conversation_id for h in store.search("deleted")] == [chats["deleted"]]


@pytest.mark.parametrize(
    "query",
    [
        '"',
        '""',
        '"AND"',
        "AND",
        "OR",
        "NOT",
        "AND OR NOT",
        "*",
        "x*",
        "(x*y)",
        "near:me",
        "NEAR(a b)",
        "title:whale",
        "^whale",
        "-whale",
        "+whale",
        "whale)",
        "'; DROP TABLE messages; --",
        "{text}: whale",
        "\\",
        "\x00",
        "",
        "   ",
        "🐋",
        "a" * 10_000,
        " ".join(["w"] * 500),
    ],
)
def test_fts_syntax_in_user_queries_never_raises(store, chats, query):
    store.search(query)  # no exception, whatever the query
    assert store.list_conversations()  # and nothing was harmed


def test_operator_words_are_matched_literally(store, chats):
    assert [h.conversation_id for h in store.search('"AND"')] == [chats["whales"]]
    assert [h.message_id for h in store.search("near me")] == [chats["user"]]
    assert [h.message_id for h in store.search("x*y")] == [chats["user"]]
    assert store.search("title:whale") == []  # not a column filter: "title" is not in any message
    assert match_expression('a "b" c*') == '"a" "b" "c"*'
    assert match_expression("*") is None


def test_search_finds_replies_as_they_stream_and_on_inactive_branches(store):
    cid = store.create_conversation()
    user = store.send_user_message(cid, "question")
    writer = store.begin_reply(user.id)
    from engine.events import Canvas

    writer.on_event(Canvas(0, (1,), "streamingword ", 1, False))
    assert [h.message_id for h in store.search("streamingword")] == [writer.message_id]
    writer.stop()
    store.edit_user_message(user.id, "another question")
    assert [h.message_id for h in store.search("streamingword")] == [writer.message_id]


def test_split_highlights():
    assert split_highlights("a \x02b\x03 c \x02d\x03") == ("a b c d", ((2, 3), (6, 7)))
    assert split_highlights("plain") == ("plain", ())
