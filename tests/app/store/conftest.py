"""Fixtures for the store tests: a fresh store in a temporary folder, a controllable clock, fake replies."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # history_samples, store_child

from app.store import Store
from app.store.paths import DATA_DIR_ENV


class FakeClock:
    """A clock the test moves by hand (Unix seconds)."""

    def __init__(self, start: float = 1_750_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "data"
    monkeypatch.setenv(DATA_DIR_ENV, str(folder))
    return folder


@pytest.fixture
def store(data_dir: Path, clock: FakeClock) -> Iterator[Store]:
    with Store.open(clock=clock) as opened:
        yield opened
