"""What the user asks of a conversation: send, retry, edit, regenerate, rewrite a part, continue, switch
versions, branch.

Each request is written to the store first (a new user message, a sibling,
a continuation) and then answered by :class:`LiveReply`; if the store refuses,
nothing changes on screen and ``failed`` says why.  Nothing here runs while a
reply is being written: the branch cannot change under it.
"""

from __future__ import annotations

import logging
import time

from app import notices
from app.chat import ChatAttachment, Message
from app.qt import QObject, Signal
from app.store import Store, StoreError
from app.ui.chat_list import ChatList
from app.ui.chat_pages import ChatPage, ChatPages
from app.ui.composer import Composer
from app.ui.live_reply import ActiveReply, LiveReply
from app.ui.message_factory import MessageFactory
from app.ui.messages import AssistantMessage
from app.ui.revise_offer import ReviseOffer, revisable_answer
from app.worker import FRESH
from engine.errors import EngineError
from engine.events import Step
from engine.generation.gaps import filled_spans, parse_draft
from engine.generation.plan import ReplyPlan
from engine.generation.rewrite import require_token_ids, selected_range

log = logging.getLogger(__name__)


class ReplyActions(QObject):
    branched = Signal(int)  # the new chat that goes on from a reply
    branch_switched = Signal()  # the chat shown now shows another branch (a version was selected)

    def __init__(
        self,
        live: LiveReply,
        store: Store,
        pages: ChatPages,
        messages: MessageFactory,
        composer: Composer,
        revise_offer: ReviseOffer,
        chat_list: ChatList,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.live = live
        self.store = store
        self.pages = pages
        self.messages = messages
        self.composer = composer
        self.revise_offer = revise_offer
        self.chat_list = chat_list
        messages.edit_submitted.connect(self.edit_message)
        messages.version_selected.connect(self.select_version)
        messages.branch_clicked.connect(self.branch_chat)
        messages.regenerate_clicked.connect(self.regenerate)
        messages.continue_clicked.connect(self.continue_reply)
        messages.rewrite_requested.connect(self.rewrite_part)
        composer.fill_clicked.connect(self.fill_gaps)
        messages.fork_requested.connect(self.fork_at)

    @property
    def active(self) -> ActiveReply | None:
        return self.live.active

    def current_page(self) -> ChatPage | None:
        return self.pages.current()

    def send(self) -> int | None:
        """Send the composer's text and attachments; returns the reply id (None if nothing was sent).

        The user message is saved first (its attachments copied into the store);
        if that fails nothing is sent and the composer keeps its content.
        """
        return self._send(fill=False)

    def fill_gaps(self) -> int | None:
        """Send the composer's text as a draft: the reply keeps it word for word and fills its gaps.

        The draft is the user message (shown, stored and read by the model like
        any message; the chat's instructions apply); a draft without gaps is refused.
        """
        if self.active is not None:
            return None
        if not self.composer.fillable:
            notices.warning(
                "The model in use cannot fill the gaps of a draft: a model on a server writes fresh replies "
                "and continues them",
                "Load a model on this computer for Fill gaps (Model ▸ Models…)",
            )
            return None
        try:
            parse_draft(self.composer.edit.toPlainText())
        except EngineError as error:  # no gap, or a gap of 0 tokens: nothing is sent
            notices.warning(str(error))
            return None
        return self._send(fill=True)

    def _send(self, *, fill: bool) -> int | None:
        if self.active is not None or not self.composer.has_content() or self.composer.pending_probes():
            return None
        page = self.current_page()
        text = self.composer.edit.toPlainText().strip()
        revised = revisable_answer(page) if self.composer.revising() and not fill else ""
        rewrite = self.revise_offer.part_to_rewrite(page) if revised else None
        pending = self.composer.attachments()
        attachments = tuple(
            ChatAttachment(path, info.kind, info.duration_s) for path, info in pending if info is not None
        )
        try:
            user = self.store.send_user_message(page.session.id, text, [a.for_engine() for a in attachments])
        except StoreError as error:
            notices.failed("The message could not be sent", error)
            return None
        page.session.add(Message("user", text, attachments, store_id=user.id))
        sent = self.messages.user_message(text, [(path, info, path.name) for path, info in pending], user.id)
        sent.set_sent_at(time.time())
        page.transcript.add(sent)
        self.composer.clear()
        self.composer.set_revisable(False)  # the chat ends with this message now
        # "Revise this part…" changes only that part; Revise starts from the answer; else a fresh reply.
        plan = ReplyPlan.rewriting(*rewrite) if rewrite is not None else ReplyPlan.revising(revised)
        plan = ReplyPlan.filling(text) if fill else plan
        reply_id = self.live.start(page, user.id, plan=plan)
        try:
            page.session.title = self.store.conversation(page.session.id).title or page.session.title
        except StoreError:
            log.exception("cannot read the chat's title")
        self.chat_list.chat_touched(page.session.id)  # only its row moves up: 100 K chats stay still
        return reply_id

    def retry(self, page: ChatPage, failed: AssistantMessage) -> int | None:
        """Answer the last user message again; the failed reply stays in the store as an older version."""
        if self.active is not None:
            return None
        messages = page.session.messages
        if messages and messages[-1].role == "assistant" and not messages[-1].usable:
            messages.pop()
        user = next((m for m in reversed(messages) if m.role == "user"), None)
        if user is None or user.store_id is None:
            return None
        page.transcript.remove(failed)
        return self.live.start(page, user.store_id)

    # --- versions: edit, regenerate, switch ------------------------------------------

    def edit_message(self, user_message_id: int, text: str) -> int | None:
        """Send an edited version of a user message: a sibling of the original, answered anew.

        The original, and everything that followed it, stays one click away in
        the version switcher.  Returns the new reply's id.
        """
        page = self.current_page()
        if self.active is not None or page is None:
            return None
        try:
            edited = self.store.edit_user_message(user_message_id, text)
            path = self.store.active_path(page.session.id)
        except StoreError as error:
            notices.failed("The edited message could not be saved", error)
            return None
        self.pages.fill(page, path)
        self.chat_list.chat_touched(page.session.id)
        return self.live.start(page, edited.id)

    def regenerate(self, assistant_message_id: int) -> int | None:
        """Write a new version of a reply; the old one stays as a sibling in the switcher.

        A reply that filled the gaps of a draft is filled again (its draft kept, new gap text).
        """
        failed = "The reply could not be regenerated"
        try:
            draft = self._draft_filled_by(assistant_message_id)
        except StoreError as error:
            notices.failed(failed, error)
            return None
        plan = ReplyPlan.filling(draft) if draft else FRESH
        return self._new_version(assistant_message_id, failed, plan)

    def _draft_filled_by(self, assistant_message_id: int) -> str:
        """The draft whose gaps this reply filled (its user message), or "" if it is no filling."""
        reply = self.store.message(assistant_message_id)
        if reply.parent_id is None:
            return ""
        draft = self.store.message(reply.parent_id).text
        return draft if filled_spans(draft, reply.text) is not None else ""

    def rewrite_part(self, assistant_message_id: int, selection: str) -> int | None:
        """Write the selected part of a reply again, in place; the rest of it is kept token for token.

        The result is a new version of the reply (the old one stays in the switcher).
        """
        if not selection.strip():
            return None
        failed = "That part of the reply could not be rewritten"
        try:
            selected_range(self.store.message(assistant_message_id).text, selection)
            ids = [t for canvas in self.store.canvases(assistant_message_id) for t in canvas.tokens]
            require_token_ids(ids)
        except EngineError as error:  # checked here too, before a new version is made for it
            notices.warning(str(error))
            return None
        except StoreError as error:
            notices.failed(failed, error)
            return None
        return self._new_version(assistant_message_id, failed, ReplyPlan.rewriting(ids, selection))

    def _new_version(self, assistant_message_id: int, failed: str, plan: ReplyPlan = FRESH) -> int | None:
        """A sibling of the reply, written live in its place (a rewrite ``plan``: only part of it anew)."""
        page = self.current_page()
        if self.active is not None or page is None:
            return None
        try:
            writer = self.store.regenerate(assistant_message_id)
            path = self.store.active_path(page.session.id)
        except StoreError as error:
            notices.failed(failed, error)
            return None
        self.pages.fill(page, path, skip=(writer.message_id,))
        question = next(m.parent_id for m in path if m.id == writer.message_id)
        return self.live.start(page, question, writer=writer, plan=plan)

    def continue_reply(self, assistant_message_id: int) -> int | None:
        """Go on writing a reply that was stopped or interrupted, after its saved canvases.

        Only the last reply of the shown branch can be continued (anything after
        it was written on the text as it was).
        """
        page = self.current_page()
        if self.active is not None or page is None:
            return None
        try:
            path = self.store.active_path(page.session.id)
            if not path or path[-1].id != assistant_message_id or path[-1].parent_id is None:
                return None
            saved = self.store.canvases(assistant_message_id)
            writer = self.store.continue_reply(assistant_message_id)
        except StoreError as error:
            notices.failed("The reply could not be continued", error)
            return None
        self.pages.fill(page, path[:-1])
        tokens = [t for canvas in saved for t in canvas.tokens]
        plan = ReplyPlan.continuing(tokens, "".join(canvas.text for canvas in saved))
        return self.live.start(page, path[-1].parent_id, writer=writer, saved=saved, plan=plan)

    def fork_at(self, assistant_message_id: int, step: Step) -> int | None:
        """Go on from a replayed step in a new version of the reply (Replay's Go on from here).

        The canvases before the step's are kept as they were (text and history);
        the step's canvas starts from its accepted tokens, the rest noise, with a
        new seed (engine.generation.seeding), and the reply goes on from there.
        """
        page = self.current_page()
        if self.active is not None or page is None:
            return None
        try:
            writer, kept = self.store.fork_reply(assistant_message_id, step.block)
            path = self.store.active_path(page.session.id)
        except StoreError as error:
            notices.failed("The reply could not go on from that step", error)
            return None
        self.pages.fill(page, path, skip=(writer.message_id,))
        question = next(m.parent_id for m in path if m.id == writer.message_id)
        plan = ReplyPlan.forking([t for canvas in kept for t in canvas.tokens], step.draft, step.accepted)
        return self.live.start(page, question, writer=writer, saved=kept, plan=plan)

    def select_version(self, message_id: int) -> None:
        """Show the branch through ``message_id`` (a click on ‹ or › of a message's switcher)."""
        page = self.current_page()
        if self.active is not None or page is None:
            return
        try:
            path = self.store.select_message(message_id)
        except StoreError as error:
            notices.failed("That version could not be shown", error)
            return
        self.pages.fill(page, path)
        self.branch_switched.emit()  # the context use and the Revise offer follow the branch shown

    def branch_chat(self, message_id: int) -> int | None:
        """Go on from a reply in a new chat holding the conversation up to it; returns the new chat."""
        try:
            chat_id = self.store.branch_conversation(message_id)
        except StoreError as error:
            notices.failed("The chat could not be branched", error)
            return None
        self.branched.emit(chat_id)  # the window opens it and says so
        return chat_id
