"""Turn a stored refinement history back into the Step events the live view drew.

The store keeps each denoising step as token ids, the accepted mask and
quantised entropies (no text: text depends on the tokenizer and would
multiply the history's size).  Replaying a reply therefore decodes those ids
again with the loaded model's tokenizer, exactly as :func:`engine.generation.loop.denoise`
did when it emitted the steps, so the GUI can feed them through the same
rendering path as a live reply.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from engine.errors import EngineError
from engine.events import Step
from engine.generation.codec import TokenCodec


class ForeignHistoryError(EngineError):
    """The stored ids are not tokens of the loaded model's vocabulary: another model wrote them."""


def decode_steps(frames: Iterable[Step], codec: TokenCodec, *, with_pieces: bool = True) -> list[Step]:
    """Stored steps (ids, mask, entropy; no text) as the loop emitted them: text up to the first
    end-of-turn token, token pieces for the grid.

    The last frame of each block is marked ``finished`` (the block was committed
    after it, or the reply stopped there).
    """
    frames = list(frames)
    try:
        return _decode(frames, codec, with_pieces)
    except (IndexError, KeyError, OverflowError, TypeError, ValueError) as error:
        raise ForeignHistoryError(
            "This reply was written by a different model: its saved tokens are not in the loaded "
            f"model's vocabulary ({type(error).__name__})",
            fix="Load the model that wrote it (Model menu) to replay it",
        ) from error


def _decode(frames: list[Step], codec: TokenCodec, with_pieces: bool) -> list[Step]:
    steps: list[Step] = []
    for index, frame in enumerate(frames):
        draft = [int(t) for t in frame.draft]
        last_of_block = index + 1 == len(frames) or frames[index + 1].block != frame.block
        steps.append(
            dataclasses.replace(
                frame,
                draft=tuple(draft),
                text=codec.decode(codec.until_eos(draft)),
                pieces=tuple(codec.pieces(draft)) if with_pieces else (),
                finished=last_of_block,
            )
        )
    return steps
