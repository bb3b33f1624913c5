"""engine.generation.replay: stored steps decode back into the Step events the live view drew."""

from __future__ import annotations

import pytest

from engine.events import Step
from engine.generation.codec import TokenCodec
from engine.generation.replay import ForeignHistoryError, decode_steps

VOCAB = ["<eos>", "Hel", "lo", " world", "?"]
CODEC = TokenCodec(
    decode=lambda ids: "".join(VOCAB[i] for i in ids),
    pieces=lambda ids: [VOCAB[i] for i in ids],
    eos_ids=frozenset({0}),
    pad_id=0,
)


def frame(block: int, step: int, draft: tuple[int, ...]) -> Step:
    """A step as the store gives it back: ids, mask and entropy, no text or pieces."""
    return Step(block, step, 2, draft, (True,) * len(draft), (0.5,) * len(draft), text="")


def test_text_stops_at_the_first_end_of_turn_and_pieces_cover_the_whole_canvas():
    steps = decode_steps(
        [frame(0, 1, (1, 4, 0, 3)), frame(0, 2, (1, 2, 0, 0)), frame(1, 1, (3, 0, 0, 0))], CODEC
    )
    assert [s.text for s in steps] == ["Hel?", "Hello", " world"]
    assert steps[0].pieces == ("Hel", "?", "<eos>", " world")
    assert [s.finished for s in steps] == [False, True, True], "the last step of each block is final"
    assert (
        steps[1].draft == (1, 2, 0, 0) and steps[1].accepted == (True,) * 4 and steps[1].entropy == (0.5,) * 4
    )


def test_ids_outside_the_vocabulary_mean_another_model_wrote_the_history():
    with pytest.raises(ForeignHistoryError, match=r"different model.*Load the model that wrote it"):
        decode_steps([frame(0, 1, (1, 99))], CODEC)
