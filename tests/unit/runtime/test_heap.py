"""HeapSettler: automatic collection off while a program's initial lists load, then the loaded heap frozen."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator

import pytest

from reconciler.runtime.heap import HeapSettler

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def _restore_gc() -> Iterator[None]:
    was = gc.isenabled()
    yield
    gc.unfreeze()
    if was:
        gc.enable()


async def test_collection_is_off_while_loading_and_the_loaded_heap_is_frozen_after() -> None:
    heap = HeapSettler()
    heap.start()
    assert not gc.isenabled()
    loaded = [[i] for i in range(1000)]  # the Store's objects (lists: always tracked by the collector)
    heap.settle()
    assert gc.isenabled()
    assert gc.get_freeze_count() >= len(loaded)
    walked = {id(o) for o in gc.get_objects()}
    assert not any(id(o) in walked for o in loaded), "what was alive at settle is out of the collector's walk"
    later: list[list[int]] = [[]]
    assert id(later) in {id(o) for o in gc.get_objects()}, "what is made later is collected as usual"
    heap.settle()  # once only
    assert gc.isenabled()


async def test_an_initial_load_that_never_ends_turns_collection_back_on() -> None:
    heap = HeapSettler(max_pause=0.01)
    heap.start()
    assert not gc.isenabled()
    await asyncio.sleep(0.05)
    assert heap.settled and gc.isenabled()
