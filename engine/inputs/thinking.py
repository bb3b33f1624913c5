"""Split decoded DiffusionGemma output into thought and answer; strip Gemma 4 special tokens.

The engine decodes with ``skip_special_tokens=False`` so that the thinking
markers survive, which means everything shown to the user or stored in
history must go through this module first.  Two thinking formats occur:

* Gemma 4 channels: ``<|channel>thought\\n…reasoning…<channel|>the answer<turn|>``.
  With thinking off an *empty* channel (``<|channel>thought\\n<channel|>``)
  may still appear.
* ``<think>…reasoning…</think>the answer`` (the model falls back to it now
  and then).

Output arrives canvas by canvas and the GUI shows "committed canvases +
current draft" up to 60 times a second, so :func:`split_thinking` is a single
compiled-regex scan over the text (no backtracking over the whole string, no
per-character Python loop) and, with ``final=False``, holds back a trailing
fragment that may still grow into a marker (``<|chan``, ``<thi``, ``</thin``,
a half-written channel name) instead of flashing it on screen.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["SplitText", "split_thinking", "strip_special_tokens"]

# Names of Gemma 4 special tokens are short lowercase words.  The length cap
# keeps the "complete token" and "partial token" patterns consistent: a tail
# too long to be withheld can never complete into a token either, so a
# streamed answer never shows text that a later refresh takes back.
_NAME = r"[a-z_]{1,24}"

# Every Gemma 4 special token: the bracket forms <|x>, <|x|>, <x|> (turn,
# channel, image, audio, video, tool… markers), the tool-call string delimiter
# <|"|>, and the classic plain ones Gemma tokenizers carry.
_SPECIAL_TOKEN = rf'<\|{_NAME}\|?>|<{_NAME}\|>|<\|"\|>|<(?:bos|eos|pad|mask|unk|unused\d{{1,4}})>'
_SPECIAL_TOKEN_RE = re.compile(_SPECIAL_TOKEN)

# Everything split_thinking reacts to: the special tokens plus the plain-text
# <think> tags.
_MARKER_RE = re.compile(rf"{_SPECIAL_TOKEN}|</?think>")

# A text tail (starting at its last "<") that is a proper prefix of some
# marker and may still complete into one in the next draft.
_PARTIAL_MARKER_RE = re.compile(
    rf'<(?:\|(?:{_NAME}\|?)?|\|"\|?|{_NAME}\|?|unused\d{{1,4}}|/(?:t(?:h(?:i(?:n(?:k)?)?)?)?)?)?'
)

# The channel name line that follows <|channel>; only "thought" is used by
# Gemma 4.  The partial form matches a name still being written.
_CHANNEL_NAME_RE = re.compile(r"[ \t]*thought[ \t]*(?:\r?\n|\Z)")
_PARTIAL_CHANNEL_NAME_RE = re.compile(r"[ \t]*(?:t(?:h(?:o(?:u(?:g(?:h(?:t[ \t]*\r?)?)?)?)?)?)?)?")

# Tokens after which nothing belongs to this reply: end of turn, end of
# sequence, the start of another turn, or a hand-off to a tool (Gemma 4 ends
# the model's content at <|tool_response>; its eos ids include it).
_END_TOKENS = frozenset({"<turn|>", "<eos>", "<|turn>", "<|tool_response>"})

_OPEN_CHANNEL = "<|channel>"
_CLOSE_CHANNEL = "<channel|>"
_OPEN_THINK = "<think>"
_CLOSE_THINK = "</think>"

# Scanner states: what the text currently being read belongs to.
_ANSWER = 0
_CHANNEL = 1  # inside <|channel>…<channel|>
_THINK = 2  # inside <think>…</think>

# Thought segments and answer pieces separated by a thought are joined with a
# blank line, so separate paragraphs never run into each other.
_SEPARATOR = "\n\n"


@dataclass(frozen=True, slots=True)
class SplitText:
    """One reply's text split into reasoning and visible answer.

    ``thought`` and ``answer`` never contain special tokens and are stripped
    of surrounding whitespace.  ``thinking`` is True while the text ends
    inside a thought that was never closed (in a stream: the model is still
    thinking).  ``has_thought`` is True when there is reasoning text to show,
    i.e. ``thought`` is non-empty; an empty channel emitted with thinking off
    does not count.
    """

    thought: str
    answer: str
    thinking: bool
    has_thought: bool


def _withhold_partial_marker(text: str) -> str:
    """``text`` without a trailing fragment that may still become a marker."""
    start = text.rfind("<")
    if start != -1 and _PARTIAL_MARKER_RE.fullmatch(text, start):
        return text[:start]
    return text


def split_thinking(text: str, *, final: bool = True) -> SplitText:
    """Split decoded model output (special tokens kept) into thought and answer.

    ``final=False`` is for streaming "committed canvases + current draft":
    a trailing partial marker or special token (``<|chan``, ``<thi``,
    ``</thin``, ``<tur``) and a half-written channel name (``<|channel>thou``)
    are withheld from both outputs, so for well-formed output every streamed
    answer (and thought) is a prefix of the final one and nothing marker-like
    ever flashes up.  Only the very end of the text is affected.

    Behaviour:

    * Text after the first end token (``<turn|>``, ``<eos>``, ``<|turn>``,
      ``<|tool_response>``) is dropped.
    * Every other special token is removed wherever it appears.
    * ``<|channel>`` opens a thought anywhere (it is a real special token) and
      the channel name line (``thought\\n``) after it is removed;
      ``<channel|>`` closes whichever thought is open.  ``<think>`` opens a
      thought only before any answer text and ``</think>`` closes only a
      ``<think>`` thought: they are ordinary text to the tokenizer, and an
      answer that talks *about* ``<think>`` tags must stay intact.  A closer
      with nothing open is dropped (special token) or kept as text (``</think>``).
    * Several thoughts are concatenated; answer text before, between and
      after thoughts is kept (answer-before-thought is odd but not lost).
      Each part is whitespace-trimmed and parts are joined with a blank line,
      which removes the newlines that usually follow ``<channel|>`` or
      ``</think>``.
    * An unclosed thought stays thought, also with ``final=True`` (answer
      empty unless answer text came before it, ``thinking=True``): a reply
      cut off mid-reasoning (length limit, cancel) has no answer, and showing
      half a reasoning chain as the answer, or storing it in history as one,
      would be worse than showing none.
    """
    if not final:
        text = _withhold_partial_marker(text)
    scanner = _Scanner(final)
    pos = 0
    ended = False
    for match in _MARKER_RE.finditer(text):
        scanner.read(text[pos : match.start()])
        pos = match.end()
        if match.group() in _END_TOKENS:
            ended = True
            break
        scanner.marker(match.group())
    if not ended:
        scanner.read(text[pos:])
    scanner.close_part(last=not ended)
    thought = _SEPARATOR.join(scanner.thoughts)
    return SplitText(
        thought=thought,
        answer=_SEPARATOR.join(scanner.answers),
        thinking=scanner.state != _ANSWER,
        has_thought=bool(thought),
    )


class _Scanner:
    """The state of one :func:`split_thinking` pass: the finished parts and the one being read."""

    def __init__(self, final: bool) -> None:
        self.final = final
        self.answers: list[str] = []
        self.thoughts: list[str] = []
        self.chunks: list[str] = []  # raw text of the part being read
        self.state = _ANSWER
        self.answer_started = False  # non-whitespace answer text seen: <think> is plain text from here on

    def read(self, chunk: str) -> None:
        """Text between markers belongs to the part being read."""
        if chunk:
            self.chunks.append(chunk)
            if self.state == _ANSWER and not self.answer_started and not chunk.isspace():
                self.answer_started = True

    def marker(self, token: str) -> None:
        """Open or close a thought, or keep a <think> tag that is only text; other tokens are dropped."""
        if token == _OPEN_CHANNEL:
            self._switch(_CHANNEL)
        elif token == _CLOSE_CHANNEL:
            if self.state != _ANSWER:
                self._switch(_ANSWER)
        elif token == _OPEN_THINK:
            if self.state == _ANSWER and not self.answer_started:
                self._switch(_THINK)
            else:
                self._keep_as_text(token)
        elif token == _CLOSE_THINK:
            if self.state == _THINK:
                self._switch(_ANSWER)
            else:
                self._keep_as_text(token)

    def _switch(self, state: int) -> None:
        self.close_part(last=False)
        self.state = state

    def _keep_as_text(self, token: str) -> None:
        self.chunks.append(token)
        self.answer_started = self.answer_started or self.state == _ANSWER

    def close_part(self, last: bool) -> None:
        """File the part read so far as answer or thought (a channel's name line removed)."""
        content = "".join(self.chunks)
        self.chunks.clear()
        if self.state == _CHANNEL:
            name = _CHANNEL_NAME_RE.match(content)
            if name:
                content = content[name.end() :]
            elif last and not self.final and _PARTIAL_CHANNEL_NAME_RE.fullmatch(content):
                content = ""
        content = content.strip()
        if content:
            (self.answers if self.state == _ANSWER else self.thoughts).append(content)


def strip_special_tokens(text: str) -> str:
    """``text`` with every Gemma 4 special token removed and nothing else changed.

    For history and export of text that must not carry tokens (a user's pasted
    ``<turn|>`` would otherwise end their turn inside the prompt).  It does
    not cut at the end of turn, touch ``<think>`` tags (plain text to the
    tokenizer), or trim whitespace; to get a reply's visible answer use
    :func:`split_thinking`.
    """
    if "<" not in text:
        return text
    return _SPECIAL_TOKEN_RE.sub("", text)
