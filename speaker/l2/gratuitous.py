"""When to send gratuitous ARP / unsolicited NA: upstream's spam loop as a pure schedule over a given clock.

MetalLB (``internal/layer2/announcer.go`` ``spamLoop``) sends one burst at once when an IP is (re)announced,
then one every 1.1 s until 5 s after the most recent trigger (1.1 s rather than 1 s: metallb#172, some
switches rate-limit ARP per second). This class keeps per IP the time of the next burst and the end of its
window; the responder asks it what is due and when to wake next. It reads no clock: every method takes
``now`` (seconds on any monotonic clock).
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

__all__ = ["INTERVAL", "WINDOW", "GratuitousSchedule"]

INTERVAL = 1.1
WINDOW = 5.0

K = TypeVar("K", bound=Hashable)


@dataclass
class GratuitousSchedule(Generic[K]):
    """Per key (an IP): the next burst time and the window's end. Invariant: ``next_at[k] <= until[k]``."""

    interval: float = INTERVAL
    window: float = WINDOW
    _next_at: dict[K, float] = field(default_factory=dict)
    _until: dict[K, float] = field(default_factory=dict)

    def trigger(self, key: K, now: float) -> None:
        """A burst is due now, and the window runs ``window`` seconds from now."""
        self._next_at[key] = now
        self._until[key] = now + self.window

    def cancel(self, key: K) -> None:
        """No more bursts (the IP was withdrawn: upstream sends nothing on withdrawal)."""
        self._next_at.pop(key, None)
        self._until.pop(key, None)
        if not self._next_at:
            # A dict never shrinks as keys go: after a burst for 10,000 IPs its table would stay ~0.3 MiB each.
            self._next_at, self._until = {}, {}

    def due(self, now: float) -> list[K]:
        """The keys whose burst is due at ``now``; each is rescheduled ``interval`` later or retired."""
        ready = [k for k, at in self._next_at.items() if at <= now]
        for key in ready:
            following = self._next_at[key] + self.interval
            if following <= self._until[key]:
                # Catch up without bursting: a late wake-up sends once, then keeps the 1.1 s spacing from now.
                self._next_at[key] = max(following, now + self.interval) if following <= now else following
                if self._next_at[key] > self._until[key]:
                    self.cancel(key)
            else:
                self.cancel(key)
        return ready

    def next_deadline(self) -> float | None:
        """When the earliest pending burst is due, or None when nothing is scheduled."""
        return min(self._next_at.values(), default=None)

    def __contains__(self, key: object) -> bool:
        return key in self._next_at

    def __len__(self) -> int:
        """How many keys have bursts still to come."""
        return len(self._next_at)
