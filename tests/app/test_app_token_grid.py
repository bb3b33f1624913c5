"""The token grid redraws only the cells whose look changed, and looks the same as drawn whole."""

from __future__ import annotations

from app_fakes import FakeEngine

from app.palette import DARK, LIGHT
from app.ui.token_grid import TokenGrid
from engine.events import Step
from engine.inputs.conversation import Conversation


def steps(count: int) -> list[Step]:
    text = " ".join(f"word{i} with `code`\n" for i in range(200))
    events = FakeEngine(text, steps=count).generate(Conversation(turns=()))
    return [e for e in events if isinstance(e, Step)][:count]


def shown(qtbot, colors=LIGHT) -> TokenGrid:
    grid = TokenGrid(colors)
    qtbot.addWidget(grid)
    grid.resize(760, 420)
    grid.show()
    qtbot.waitUntil(lambda: grid.cells_drawn > 0)  # painted once: empty cells
    return grid


def test_a_step_redraws_only_the_cells_that_changed_and_matches_a_whole_redraw(qtbot):
    first, second, third = steps(12)[4:7]
    live = shown(qtbot)
    empty = live.cells_drawn
    live.show_step(first, None)
    live.repaint()
    drawn = live.cells_drawn
    assert drawn - empty == 256  # every cell was empty before
    live.show_step(second, first)
    changed = sum(a != b for a, b in zip(live._cells, _cells_of(qtbot, first), strict=True))
    live.repaint()
    assert 0 < live.cells_drawn - drawn == changed < 256
    live.show_step(third, second)
    live.repaint()
    # A grid that saw the same steps but draws only the last one, whole, shows the same pixels.
    whole = shown(qtbot)
    whole.show_step(first, None)
    whole.show_step(second, first)
    whole.show_step(third, second)
    assert whole.grab().toImage() == live.grab().toImage()
    assert whole.states() == live.states()


def test_new_colours_redraw_every_cell(qtbot):
    step = steps(6)[3]
    grid = shown(qtbot)
    grid.show_step(step, None)
    light = grid.grab().toImage()
    drawn = grid.cells_drawn
    grid.set_colors(DARK)
    dark = grid.grab().toImage()
    assert grid.cells_drawn - drawn == 256
    assert dark != light


def _cells_of(qtbot, step: Step):
    grid = shown(qtbot)
    grid.show_step(step, None)
    return grid._cells
