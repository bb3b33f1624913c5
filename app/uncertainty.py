"""Where the model was unsure: each token's step of acceptance and entropy, mapped to the rendered words.

Qt-free, so the mapping is a plain test.  Everything comes from the stored
refinement history (no model call): for every position of a canvas, the step
from which the sampler kept accepting its final token, and the entropy it had
then.  A token settled late, or with a high entropy, is one the model was
unsure of; its *score* (0 sure … 1 unsure) combines both.

The words are tinted in the rendered reply, where markdown markup is gone
("**bold**" shows as "bold", list numbers and code fences are drawn, a code
block gains a "Copy" header).  Model text and rendered text are compared by
their letters and digits, as a rewrite's selection is
(:func:`engine.generation.rewrite.letters`): each word of the model's answer
is looked for a little ahead in the rendered letters, and a word that is not
there (a list number, a link's address) is skipped.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from engine.errors import EngineError
from engine.events import Step
from engine.generation.rewrite import letters, selected_range

# The entropy (nats) that counts as fully unsure; the vocabulary allows ~12.5, a hesitant token has 2-3.
FULL_ENTROPY = 3.0
# Words scoring below this are not tinted (nearly every token of a trained model settles early).
TINT_FROM = 0.3
# How many rendered letters past the last matched one a model word may be found at
# (a code block's "Copy" header and language name come between words that follow each other).
LOOKAHEAD = 16
# A byte-fallback token's piece ("<0xC3>", "<0x31>") and a special token's ("<eos>", "<unused12>").
BYTE_PIECE = re.compile(r"<0x[0-9A-Fa-f]{2}>")
SPECIAL_PIECE = re.compile(r"<[^<>\s]+>")
# How many of the answer's first words locate it when the whole answer cannot be found (tried in turn).
ANSWER_HEAD_WORDS = (8, 3, 1)


@dataclass(frozen=True, slots=True)
class TokenDoubt:
    """When a token was settled and how unsure the model was then."""

    step: int  # from this step on the final token stayed accepted (1-based)
    steps: int  # the steps its canvas took
    entropy: float  # nats, at that step
    # 0 (accepted at once, certain) … 1 (accepted at the last step, or with a high entropy).
    score: float = field(init=False, compare=False)

    def __post_init__(self) -> None:
        late = (self.step - 1) / (self.steps - 1) if self.steps > 1 else 0.0
        unsure = min(1.0, max(0.0, self.entropy) / FULL_ENTROPY)
        object.__setattr__(self, "score", 1.0 - (1.0 - late) * (1.0 - unsure))  # asked per letter: once

    def reason(self) -> str:
        return f"accepted at step {self.step} of {self.steps}, entropy {self.entropy:.1f}"


@dataclass(frozen=True, slots=True)
class DoubtSpan:
    """A word (or run of words) of the rendered text, ``[start, end)``, and its most unsure token."""

    start: int
    end: int
    doubt: TokenDoubt


def last_frames(frames: Sequence[Step]) -> list[Step]:
    """The last step of each block: its draft is the committed canvas (the only one to decode)."""
    return [
        frame for i, frame in enumerate(frames) if i + 1 == len(frames) or frames[i + 1].block != frame.block
    ]


def block_doubts(frames: Sequence[Step]) -> list[TokenDoubt]:
    """For each position of one canvas (its steps in order), when its final token was settled."""
    if not frames:
        return []
    final = frames[-1].draft
    steps = frames[-1].step
    doubts: list[TokenDoubt] = []
    for position, token in enumerate(final):
        settled = len(frames) - 1  # never accepted for good: settled by the last step
        for index in range(len(frames) - 1, -1, -1):
            frame = frames[index]
            if position >= len(frame.accepted) or not frame.accepted[position]:
                break
            if frame.draft[position] != token:
                break
            settled = index
        frame = frames[settled]
        entropy = frame.entropy[position] if position < len(frame.entropy) else 0.0
        doubts.append(TokenDoubt(frame.step, steps, float(entropy)))
    return doubts


def reply_doubts(frames: Sequence[Step]) -> list[TokenDoubt]:
    """Every canvas's :func:`block_doubts`, in order (a reply's frames, as the store gives them)."""
    doubts: list[TokenDoubt] = []
    start = 0
    for index in range(1, len(frames) + 1):
        if index == len(frames) or frames[index].block != frames[start].block:
            doubts.extend(block_doubts(frames[start:index]))
            start = index
    return doubts


@dataclass(frozen=True, slots=True)
class ReplyDoubts:
    """A finished reply's tokens as text pieces, each with its doubt: all the view needs, no model."""

    pieces: tuple[str, ...]
    doubts: tuple[TokenDoubt, ...]

    def spans(self, answer: str, rendered: str, *, tint_from: float = TINT_FROM) -> list[DoubtSpan]:
        """The words of ``rendered`` (the answer as drawn) whose tokens score at least ``tint_from``.

        Tinted words with only a mark between them ("10,100") are one span, with the reason of
        its most unsure token; words apart stay apart, each with its own reason.
        """
        pieces = [spelled(piece) for piece in self.pieces]
        text = "".join(pieces)
        letter_doubts = self._letter_doubts(pieces, text, *_answer_range(text, answer))
        have, where = letters(rendered)
        found: dict[int, TokenDoubt] = {}  # rendered letter index -> doubt of the model letter there
        cursor = 0
        for word, doubts in _words(letter_doubts):
            at = have.find(word, cursor, cursor + len(word) + LOOKAHEAD)
            if at < 0:
                continue  # markup, a list number, a link's address: not drawn as text
            for offset, doubt in enumerate(doubts):
                found[at + offset] = doubt
            cursor = at + len(word)
        spans: list[DoubtSpan] = []
        for first, last in _runs(where):
            word_doubts = [found[i] for i in range(first, last + 1) if i in found]
            if not word_doubts:
                continue
            worst = max(word_doubts, key=lambda d: d.score)
            if worst.score < tint_from:
                continue
            span = DoubtSpan(where[first], where[last] + 1, worst)
            if spans and _joined(rendered[spans[-1].end : span.start]):  # "10,100", "don't": one word
                before = spans.pop()
                span = DoubtSpan(before.start, span.end, max(before.doubt, worst, key=lambda d: d.score))
            spans.append(span)
        return spans

    def _letter_doubts(
        self, pieces: list[str], text: str, start: int, end: int
    ) -> list[tuple[str, int, TokenDoubt]]:
        """Each letter of ``text[start:end]``: (letter, its index in text, the doubt of its token)."""
        owner: list[int] = []  # token index for each character of text
        for index, piece in enumerate(pieces):
            owner.extend([index] * len(piece))
        chars, where = letters(text[start:end])
        return [(ch, start + i, self.doubts[owner[start + i]]) for ch, i in zip(chars, where, strict=True)]


def spelled(piece: str) -> str:
    """A token piece as the text it stands for, as far as the piece tells (no tokenizer here).

    A byte token is a placeholder without letters (the tokenizer decodes a run of them
    together, invalid runs as "�": one byte alone says nothing sure); a special token
    ("<eos>", "<unused12>", "<channel|>") writes nothing.
    """
    if BYTE_PIECE.fullmatch(piece):
        return "\ufffd"
    return "" if SPECIAL_PIECE.fullmatch(piece) else piece


def _answer_range(text: str, answer: str) -> tuple[int, int]:
    """Where the answer is in the model's text (after its reasoning, before padding).

    The whole answer is looked for first; failing that (a character the token pieces do not
    spell out), its first words, and the rest of the text is aligned word by word; failing
    that too, all of it (a text of another model then matches too little to tint).
    """
    try:
        return selected_range(text, answer)
    except EngineError:
        pass
    words = answer.split()
    for count in ANSWER_HEAD_WORDS:
        try:
            return selected_range(text, " ".join(words[:count]))[0], len(text)
        except EngineError:
            continue
    return 0, len(text)


def _joined(gap: str) -> bool:
    """Whether two words with ``gap`` between them are drawn as one (a comma in a number, an apostrophe)."""
    return len(gap) == 1 and gap in ",.'’-"


def _words(letter_doubts: list[tuple[str, int, TokenDoubt]]) -> list[tuple[str, list[TokenDoubt]]]:
    """Runs of adjacent letters (a word of the model text) with each letter's doubt."""
    words: list[tuple[str, list[TokenDoubt]]] = []
    previous = -2
    for ch, index, doubt in letter_doubts:
        if index != previous + 1 or not words:
            words.append(("", []))
        word, doubts = words[-1]
        doubts.append(doubt)
        words[-1] = (word + ch, doubts)
        previous = index
    return words


def _runs(where: list[int]) -> list[tuple[int, int]]:
    """(first, last) letter indices of each run of adjacent characters: the rendered words."""
    runs: list[tuple[int, int]] = []
    for i, index in enumerate(where):
        if i == 0 or index != where[i - 1] + 1:
            runs.append((i, i))
        else:
            runs[-1] = (runs[-1][0], i)
    return runs
