"""Exponential backoff with jitter: the one retry-delay rule used by the reflector and the leader elector.

Promises: delays grow ``initial * factor**n`` up to ``cap``; each is stretched by a random factor in
``[1, 1 + jitter)`` (so replicas that failed together do not retry together) and never exceeds ``cap``;
``reset()`` returns to ``initial`` after a success. Randomness is injected (``rng``) for tests.
"""

from __future__ import annotations

import random

__all__ = ["Backoff"]


class Backoff:
    def __init__(
        self,
        initial: float = 1.0,
        cap: float = 30.0,
        *,
        factor: float = 2.0,
        jitter: float = 0.2,
        rng: random.Random | None = None,
    ) -> None:
        if not 0 < initial <= cap:
            raise ValueError(f"backoff needs 0 < initial <= cap (initial={initial}, cap={cap})")
        if factor < 1 or jitter < 0:
            raise ValueError(f"backoff needs factor >= 1 and jitter >= 0 (factor={factor}, jitter={jitter})")
        self.initial = initial
        self.cap = cap
        self.factor = factor
        self.jitter = jitter
        self._rng = rng or random.Random()
        self.failures = 0
        """Consecutive failures since the last ``reset()``."""

    def next(self) -> float:
        """The delay before the next attempt; counts one more failure."""
        base = min(self.cap, self.initial * self.factor ** min(self.failures, 64))
        self.failures += 1
        return min(self.cap, base * (1.0 + self.jitter * self._rng.random()))

    def reset(self) -> None:
        self.failures = 0
