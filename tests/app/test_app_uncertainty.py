"""View ▸ Show uncertainty: a finished reply's words tinted by when and how surely their tokens were accepted.

The mapping tests build a refinement history by hand (which tokens settled
late is chosen, not random) and render the reply with the real markdown
renderer: the tinted ranges of the rendered text must be exactly the words of
the late tokens, with the markup gone.  The window test goes through the real
store and worker with the scripted engine.
"""

from __future__ import annotations

import re
import sqlite3

import pytest
from app_chat import loaded, replies, say
from app_fakes import FakeEngine, pieces_of

from app.config import AppConfig, load_config
from app.markdown import MarkdownRenderer
from app.palette import DARK, LIGHT
from app.qt import QApplication, QColor, QEvent, QPoint, Qt, QTextCursor, QtGui, QtWidgets
from app.ui.messages import AssistantMessage
from app.ui.text_view import RichTextView
from app.ui.uncertainty_tints import document_text
from app.uncertainty import TINT_FROM, ReplyDoubts, TokenDoubt, block_doubts, reply_doubts
from app.worker import load_engine
from engine.events import Step
from engine.settings import GenerationSettings

pytestmark = pytest.mark.timeout(60)

STEPS = 4
LATE_ENTROPY = 2.3
THOUGHT = "Let me think about bold ideas first.\n"
ANSWER = (
    "Here is **bold** text, unsure of itself.\n\n"
    "1. first item\n2. second item\n\n"
    "```python\nx = compute(1)\n```\n"
    "See [the docs](https://example.com/late) for more."
)
# Tokens accepted only at the last step: in the thought (not shown), in the answer's text, in a
# dropped list number and in a link's address (neither drawn).
LATE = {"bold", "sure", "second", "compute", "2", "example"}
EXPECTED = ["bold", "unsure", "second", "compute"]  # the rendered words they make


def tokens(text: str) -> list[str]:
    """A tokenizer's kind of pieces: words split into parts, markup on its own."""
    pieces = re.findall(r"un(?=sure)|\w+|[^\w\s]+|\s+", text)
    assert "".join(pieces) == text
    return pieces


def history(pieces: list[str], late: set[str], block: int = 0) -> list[Step]:
    """One canvas's steps: a late piece is accepted (with a high entropy) only at the last step."""
    settle = [STEPS if piece.strip() in late and piece.strip() else 1 for piece in pieces]
    draft = tuple(range(1, len(pieces) + 1))
    return [
        Step(
            block=block,
            step=s,
            max_steps=STEPS,
            draft=draft,
            accepted=tuple(s >= t for t in settle),
            entropy=tuple((LATE_ENTROPY if t == STEPS else 0.0) if s >= t else 5.0 for t in settle),
            text="",
        )
        for s in range(1, STEPS + 1)
    ]


def doubts_of(pieces: list[str], late: set[str]) -> ReplyDoubts:
    return ReplyDoubts(tuple(pieces), tuple(reply_doubts(history(pieces, late))))


def rendered(qtbot, text: str, colors=LIGHT) -> RichTextView:
    view = RichTextView()
    qtbot.addWidget(view)
    view.set_rendered(MarkdownRenderer(colors).render(text))
    return view


# --- the history (Qt-free) ---------------------------------------------------------------------------


def test_a_token_is_settled_from_the_step_it_stays_accepted_with_its_final_id():
    def frame(s: int, draft: tuple[int, ...], accepted: tuple[bool, ...]) -> Step:
        return Step(0, s, 6, draft, accepted, tuple(0.5 * s for _ in draft), "")

    frames = [
        frame(1, (7, 8, 9), (True, True, False)),
        frame(2, (7, 8, 9), (True, False, True)),  # position 1 accepted, then let go
        frame(3, (7, 8, 4), (True, True, True)),  # position 2 changed its token
        frame(4, (7, 8, 9), (True, True, True)),
    ]
    assert [(d.step, d.entropy) for d in block_doubts(frames)] == [(1, 0.5), (3, 1.5), (4, 2.0)]
    assert [d.steps for d in block_doubts(frames)] == [4, 4, 4], "of the steps the canvas took"
    never = block_doubts([frame(1, (5,), (False,)), frame(2, (5,), (False,))])
    assert never[0].step == 2, "never accepted: settled by the last step"


def test_the_score_grows_with_lateness_and_entropy_and_the_reason_says_both():
    early_sure, late, unsure = TokenDoubt(1, 48, 0.0), TokenDoubt(41, 48, 0.1), TokenDoubt(1, 48, 2.3)
    assert early_sure.score == 0.0
    assert 0.8 < late.score < 1.0 and 0.7 < unsure.score < 0.8
    assert TokenDoubt(48, 48, 0.0).score == 1.0 == TokenDoubt(1, 1, 9.0).score
    assert TokenDoubt(41, 48, 2.3).reason() == "accepted at step 41 of 48, entropy 2.3"


def test_each_canvas_of_a_reply_counts_its_own_steps():
    first, second = tokens("Alpha beta "), tokens("gamma delta")
    frames = history(first, {"beta"}) + history(second, {"gamma"}, block=1)
    doubts = reply_doubts(frames)
    assert len(doubts) == len(first) + len(second)
    late = [piece for piece, d in zip(first + second, doubts, strict=True) if d.step == STEPS]
    assert late == ["beta", "gamma"]


# --- mapping to the rendered words ----------------------------------------------------------------


def test_uncertainty_maps_tokens_to_the_rendered_words_with_the_markdown_markup_removed(qtbot):
    pieces = tokens(THOUGHT + ANSWER)
    view = rendered(qtbot, ANSWER)
    spans = doubts_of(pieces, LATE).spans(ANSWER, document_text(view))
    text = document_text(view)
    assert [text[s.start : s.end] for s in spans] == EXPECTED
    assert "**" not in text and "python" in text and "Copy" in text, "rendered, with the code header"
    assert {s.doubt.reason() for s in spans} == {f"accepted at step {STEPS} of {STEPS}, entropy 2.3"}


def test_words_accepted_early_are_not_tinted_nor_are_late_words_the_reply_does_not_show(qtbot):
    pieces = tokens(THOUGHT + ANSWER)
    view = rendered(qtbot, ANSWER)
    assert doubts_of(pieces, set()).spans(ANSWER, document_text(view)) == []
    other = tokens("Something else entirely, written by another model.")
    assert doubts_of(other, {"else"}).spans(ANSWER, document_text(view)) == []


@pytest.mark.parametrize("colors", [LIGHT, DARK], ids=["light", "dark"])
def test_the_tints_are_backgrounds_of_exactly_those_words_in_either_theme(qtbot, colors):
    message = AssistantMessage(lambda: MarkdownRenderer(colors), colors, store_id=7)
    qtbot.addWidget(message)
    message.show_final(ANSWER, "", None, "")
    message.show_doubts(doubts_of(tokens(THOUGHT + ANSWER), LATE))
    view = message.answer.views()[-1]
    text = document_text(view)

    def background(position: int) -> str:
        cursor = QTextCursor(view.document())
        cursor.setPosition(position + 1)  # the format of the character before the cursor
        return cursor.charFormat().background().color().name()

    tinted = {QColor(c).name() for c in colors.doubt_tints}
    for word in EXPECTED:
        at = text.index(word)
        assert all(background(at + i) in tinted for i in range(len(word))), word
    for word in ("Here", "first", "itself", "more"):
        assert background(text.index(word)) not in tinted, word

    message.show_doubts(None)
    text = document_text(message.answer.views()[-1])
    assert all(background(text.index(word)) not in tinted for word in EXPECTED), "tints taken off"
    assert message.tints.spans == []


def test_hovering_a_tinted_word_says_why_and_clicking_it_offers_rewrite_this_part(qtbot):
    message = AssistantMessage(lambda: MarkdownRenderer(LIGHT), LIGHT, store_id=7)
    qtbot.addWidget(message)
    message.resize(600, 400)
    message.show()
    qtbot.waitExposed(message)
    message.show_final(ANSWER, "", None, "")
    message.show_doubts(doubts_of(tokens(THOUGHT + ANSWER), LATE))
    view = message.answer.views()[-1]
    span = next(s for s in message.tints.spans if document_text(view)[s.start : s.end] == "second")
    cursor = QTextCursor(view.document())
    cursor.setPosition(span.start + 2)
    point = view.cursorRect(cursor).center()
    assert message.tints.span_at(view, point) == span
    assert message.tints.span_at(view, QPoint(view.width() - 2, 2)) is None, "past the end of a line"
    hover = QtGui.QHelpEvent(QEvent.Type.ToolTip, point, view.viewport().mapToGlobal(point))
    QApplication.sendEvent(view.viewport(), hover)
    assert QtWidgets.QToolTip.text() == "accepted at step 4 of 4, entropy 2.3"
    QtWidgets.QToolTip.hideText()

    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=point)
    qtbot.waitUntil(lambda: message.tints.menu is not None and message.tints.menu.isVisible())
    menu = message.tints.menu
    assert view.selected_text() == "second", "the tinted word is selected: the part to rewrite"
    texts = [a.text() for a in menu.actions()]
    assert "Accepted at step 4 of 4, entropy 2.3" in texts and "Rewrite this part" in texts
    with qtbot.waitSignal(message.rewrite_requested) as rewrite:
        next(a for a in menu.actions() if a.text() == "Rewrite this part").trigger()
    assert rewrite.args == ["second"]
    menu.close()


# --- the View menu ---------------------------------------------------------------------------------


def test_show_uncertainty_tints_finished_replies_from_their_stored_history_and_is_remembered(
    qtbot, make_window, app_dirs
):
    window = loaded(qtbot, make_window, FakeEngine(reply=ANSWER, steps=8))
    action = window.menus.uncertainty_action
    assert not action.isChecked() and action.isCheckable()
    say(qtbot, window, "Tell me")
    reply = replies(window)[-1]
    assert reply.tints.spans == [], "off by default"

    action.trigger()
    assert load_config().show_uncertainty, "remembered in settings.json"
    qtbot.waitUntil(lambda: bool(reply.tints.spans))
    # The scripted engine's tokens settle at random steps (then stay accepted, entropy 0.01).
    frames = window.store.replay(reply.store_id)
    settled = [next(f.step for f in frames if f.accepted[i]) for i in range(len(frames[0].draft))]
    unsure = [TokenDoubt(step, len(frames), 0.01).score >= TINT_FROM for step in settled]
    words = [re.findall(r"[^\W_]+", piece.lower()) for piece in pieces_of(ANSWER)]
    late = {w for i, ws in enumerate(words) if unsure[i] for w in ws}
    early = {w for i, ws in enumerate(words) if not unsure[i] for w in ws}
    assert late - early and early - late, "the scripted history has both"
    text = document_text(reply.answer.views()[-1])
    tinted = {w for s in reply.tints.spans for w in re.findall(r"[^\W_]+", text[s.start : s.end].lower())}
    assert tinted <= late and not tinted & (early - late)
    not_drawn = {"2", "https", "example", "com", "late"}  # list numbers, a link's address
    assert (late - early) - tinted <= not_drawn
    for span in reply.tints.spans:
        assert span.doubt.reason() == f"accepted at step {span.doubt.step} of 8, entropy 0.0"

    action.trigger()
    assert reply.tints.spans == [] and not load_config().show_uncertainty
    window.close()

    again = loaded(qtbot, make_window, FakeEngine(reply=ANSWER, steps=STEPS), config=load_config())
    assert not again.menus.uncertainty_action.isChecked()


def test_a_reply_without_history_gets_no_tint_and_the_action_says_why(qtbot, make_window):
    window = loaded(qtbot, make_window, FakeEngine(reply="Plain words here.", steps=STEPS))
    say(qtbot, window, "Hi")
    reply = replies(window)[-1]
    with sqlite3.connect(window.store.path) as db:  # as an imported reply: text, no history
        db.execute("DELETE FROM refinements WHERE message_id = ?", (reply.store_id,))
    window.menus.uncertainty_action.trigger()
    qtbot.waitUntil(lambda: "no saved refinement history" in window.menus.uncertainty_action.toolTip())
    assert reply.tints.spans == []
    assert "nothing to tint" in window.menus.uncertainty_action.toolTip()
    window.menus.uncertainty_action.trigger()
    assert "no saved refinement history" not in window.menus.uncertainty_action.toolTip()


def test_the_setting_starts_the_window_with_tints_on(qtbot, make_window):
    window = loaded(
        qtbot, make_window, FakeEngine(reply=ANSWER, steps=STEPS), config=AppConfig(show_uncertainty=True)
    )
    assert window.menus.uncertainty_action.isChecked()
    say(qtbot, window, "Tell me")
    reply = replies(window)[-1]
    qtbot.waitUntil(lambda: bool(reply.tints.spans))


def test_tinted_parts_of_one_number_are_one_span_and_words_apart_stay_apart(qtbot):
    answer = "It weighs 10,100 tonnes, not 90."
    view = rendered(qtbot, answer)
    text = document_text(view)

    def tinted(late: set[str]) -> list[str]:
        return [text[s.start : s.end] for s in doubts_of(tokens(answer), late).spans(answer, text)]

    assert tinted({"10", "100"}) == ["10,100"]
    assert tinted({"10"}) == ["10"]
    assert tinted({"tonnes", "not"}) == ["tonnes", "not"], "a comma and a space between: apart"


def test_byte_and_special_pieces_and_odd_letters_do_not_lose_the_tints(qtbot):
    answer = "Un café à İstanbul, then home late."
    pieces = [
        "Un",
        " caf",
        "<0xC3>",
        "<0xA9>",
        " à",
        " İ",
        "stanbul",
        ",",
        "<unused3>",
        " then",
        " home",
        " late",
        ".",
    ]
    view = rendered(qtbot, answer)
    text = document_text(view)
    spans = ReplyDoubts(tuple(pieces), tuple(reply_doubts(history(pieces, {"home", "stanbul"})))).spans(
        answer, text
    )
    assert [text[s.start : s.end] for s in spans] == ["İstanbul", "home"]


def test_a_reply_of_two_canvases_is_tinted_across_the_boundary(qtbot):
    first, second = tokens("The first canvas ends in the mid"), tokens("dle of a word, then goes on.")
    answer = "".join(first + second)
    doubts = reply_doubts(history(first, {"mid"}) + history(second, {"goes"}, block=1))
    view = rendered(qtbot, answer)
    text = document_text(view)
    spans = ReplyDoubts(tuple(first + second), tuple(doubts)).spans(answer, text)
    assert [text[s.start : s.end] for s in spans] == ["middle", "goes"]


def test_the_real_tokenizer_pieces_map_to_the_rendered_words(qtbot, make_window, tiny_checkpoint):
    settings = GenerationSettings(max_new_tokens=256, max_denoising_steps=4, seed=3)
    window = loaded(qtbot, make_window, load_engine, str(tiny_checkpoint), AppConfig(generation=settings))
    say(qtbot, window, "Tell me something", timeout=60_000)
    reply = replies(window)[-1]
    window.menus.uncertainty_action.trigger()
    qtbot.waitUntil(lambda: bool(reply.tints.spans), timeout=30_000)
    # Random weights: every token is unsure, so (nearly) every word drawn is tinted, though the
    # pieces hold byte and special tokens the answer's text does not show as such.
    text = document_text(reply.answer.views()[-1])
    words = re.findall(r"[^\W_]+", text)
    tinted = [w for s in reply.tints.spans for w in re.findall(r"[^\W_]+", text[s.start : s.end])]
    assert words and len(tinted) >= 0.9 * len(words), (len(tinted), len(words))
    assert all(span.doubt.steps <= 4 for span in reply.tints.spans)
