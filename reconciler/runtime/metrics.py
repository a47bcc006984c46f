"""Counters under MetalLB's exact metric names.

Why: MetalLB's Go counters have no ``_total`` suffix (``metallb_layer2_requests_received``); prometheus_client
always exposes a Counter as ``<name>_total`` plus ``<name>_created``, and a custom "counter" family prints
``_total`` on the HELP/TYPE lines but not on the samples (checked against prometheus_client 0.26). So counters
that must keep MetalLB's names are kept here and rendered by us, exactly as client_golang does:

    # HELP metallb_layer2_requests_received Number of l2 requests received for owned IPs
    # TYPE metallb_layer2_requests_received counter
    metallb_layer2_requests_received{ip="192.0.2.1"} 3

Gauges (including MetalLB's ``..._total`` gauges) and our own new metrics use prometheus_client as usual; the
``/metrics`` handler (httpserver.py) concatenates both. Names in one and the other must not collide.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping, Sequence

__all__ = ["ExactCounter", "ExactCounters"]


def _fmt(v: float) -> str:
    """Go's formatting of sample values: ``3``, ``0.5``, ``+Inf``."""
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if math.isnan(v):
        return "NaN"
    return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class ExactCounter:
    """A monotonically increasing counter per label set."""

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str] = ()) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = tuple(labelnames)
        self._values: dict[tuple[str, ...], float] = {}
        self._lock = threading.Lock()

    def inc(self, amount: float = 1.0, *labelvalues: str) -> None:
        if amount < 0:
            raise ValueError("counters only go up")
        if len(labelvalues) != len(self.labelnames):
            raise ValueError(f"{self.name}: expected labels {self.labelnames}, got {labelvalues}")
        with self._lock:
            self._values[labelvalues] = self._values.get(labelvalues, 0.0) + amount

    def labels(self, *labelvalues: str) -> _Child:
        return _Child(self, tuple(labelvalues))

    def value(self, *labelvalues: str) -> float:
        return self._values.get(tuple(labelvalues), 0.0)

    def expose(self) -> str:
        doc = self.documentation.replace("\\", "\\\\").replace("\n", "\\n")
        lines = [f"# HELP {self.name} {doc}", f"# TYPE {self.name} counter"]
        with self._lock:
            items = sorted(self._values.items())
        for values, v in items:
            labels = ",".join(f'{k}="{_escape(val)}"' for k, val in zip(self.labelnames, values, strict=True))
            lines.append(f"{self.name}{{{labels}}} {_fmt(v)}" if labels else f"{self.name} {_fmt(v)}")
        return "\n".join(lines) + "\n"


class CollectedCounter(ExactCounter):
    """An exact-name counter whose values are read from their owner at scrape time (e.g. a responder that
    counts per IP itself): ``collect()`` returns label values → count."""

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str],
        collect: Callable[[], Mapping[tuple[str, ...], float]],
    ) -> None:
        super().__init__(name, documentation, labelnames)
        self._collect = collect

    def expose(self) -> str:
        with self._lock:
            self._values = dict(self._collect())
        return super().expose()


class _Child:
    def __init__(self, parent: ExactCounter, values: tuple[str, ...]) -> None:
        self._parent = parent
        self._values = values

    def inc(self, amount: float = 1.0) -> None:
        self._parent.inc(amount, *self._values)


class ExactCounters:
    """The set of exact-name counters a process exposes."""

    def __init__(self) -> None:
        self._counters: dict[str, ExactCounter] = {}

    def counter(self, name: str, documentation: str, labelnames: Sequence[str] = ()) -> ExactCounter:
        if name in self._counters:
            raise ValueError(f"counter {name} already registered")
        c = self._counters[name] = ExactCounter(name, documentation, labelnames)
        return c

    def collect(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str],
        collect: Callable[[], Mapping[tuple[str, ...], float]],
    ) -> ExactCounter:
        """A counter read from ``collect()`` at every scrape (see ``CollectedCounter``)."""
        if name in self._counters:
            raise ValueError(f"counter {name} already registered")
        c = self._counters[name] = CollectedCounter(name, documentation, labelnames, collect)
        return c

    def expose(self) -> str:
        return "".join(c.expose() for _, c in sorted(self._counters.items()))
