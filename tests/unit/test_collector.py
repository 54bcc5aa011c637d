"""The cycle collector settings every service process takes once started."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from shared.service import YOUNG_COLLECTION_THRESHOLD, settle_collector


@pytest.fixture
def restored() -> Iterator[None]:
    thresholds = gc.get_threshold()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("restored")
def test_settling_freezes_what_startup_made_and_widens_the_young_generation() -> None:
    older = gc.get_threshold()[1:]
    settle_collector()
    assert gc.get_freeze_count() > 10_000  # the imported modules, models, app graphs
    assert gc.get_threshold() == (YOUNG_COLLECTION_THRESHOLD, *older)

    class Cycle:
        def __init__(self) -> None:
            self.me = self

    made = Cycle()
    del made
    # A cycle made after startup is still garbage the collector finds.
    assert gc.collect() >= 1
