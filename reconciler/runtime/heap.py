"""Keep the cyclic garbage collector's pauses short in a program that holds a large Store.

A full collection walks every container object the process holds. With 10,000 Services a speaker holds about
140,000 of them, and one full collection then holds the GIL for about 95 ms (measured in the speaker bench's
setup): longer than the failure detector's threads may wait (docs/membership.md asks every single C call to stay
well under 50 ms), and while the initial lists load, the collector runs several such collections as the heap
grows from nothing.

What the initial load brings (the Store's objects, the interpreter's modules) lives long and is freed by reference
counting when an object is replaced, never as part of a cycle. So:

* ``HeapSettler.start`` turns automatic collection off while the initial lists load (for at most ``max_pause``
  seconds, so an apiserver that never answers cannot leave it off);
* ``HeapSettler.settle`` (once the Store is synced) collects the young generations, moves everything alive into the
  permanent generation (``gc.freeze``) and turns collection back on: later collections walk only what was made
  since.

The price: an object alive at ``settle`` that later becomes garbage *in a cycle* is never collected (reference
counting still frees everything else). Those are few and made once (the connections open at that moment).
"""

from __future__ import annotations

import asyncio
import gc

__all__ = ["HeapSettler"]


class HeapSettler:
    def __init__(self, max_pause: float = 60.0) -> None:
        self.max_pause = max_pause
        self.settled = False
        self._timer: asyncio.TimerHandle | None = None
        self._was_enabled = True

    def start(self) -> None:
        """Automatic collection off until ``settle`` (or ``max_pause`` seconds); needs a running loop."""
        self._was_enabled = gc.isenabled()
        gc.disable()
        self._timer = asyncio.get_running_loop().call_later(self.max_pause, self.settle)

    def settle(self) -> None:
        """The initial load is in: freeze what is alive and collect as usual from now on (once; later calls do
        nothing)."""
        if self.settled:
            return
        self.settled = True
        if self._timer is not None:
            self._timer.cancel()
        gc.collect(1)  # the young generations' garbage first: whatever is frozen is never collected
        gc.freeze()
        if self._was_enabled:
            gc.enable()
