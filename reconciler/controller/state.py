"""What the controller's reconcilers share in memory: the allocator, the config in force and its problems.

Invariants: ``config`` is the last config that parsed without errors (None before the first); the allocator's
pools are ``config``'s; ``initialized`` becomes true once, after every Service re-claimed the addresses its
status shows under the first good config; ``pending`` holds the Services waiting for an address, and
``pending_reasons`` why each waits (the same keys).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Gauge
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from crds.config import Config
from reconciler.core.allocator import Allocator
from reconciler.runtime.metrics import ExactCounters

__all__ = ["ControllerMetrics", "ControllerSettings", "ControllerState", "PendingCollector"]


@dataclass(frozen=True)
class ControllerSettings:
    namespace: str = "metallb-system"
    """The MetalLB namespace: config objects are read from it; ConfigurationState is written in it."""
    lb_class: str | None = None
    """The ``spec.loadBalancerClass`` served; None serves Services without a class (as MetalLB)."""


@dataclass
class ControllerState:
    alloc: Allocator = field(default_factory=Allocator)
    config: Config | None = None
    config_errors: tuple[str, ...] = ()
    initialized: bool = False
    pending: set[str] = field(default_factory=set)
    pending_reasons: dict[str, str] = field(default_factory=dict)


@dataclass
class ControllerMetrics:
    """MetalLB's names. The allocator's are gauges in MetalLB, so prometheus_client adds no suffix."""

    registry: CollectorRegistry
    exact: ExactCounters

    def __post_init__(self) -> None:
        r = self.registry
        self.in_use = Gauge("metallb_allocator_addresses_in_use_total", "IPs in use per pool", ["pool"], registry=r)
        self.total = Gauge("metallb_allocator_addresses_total", "Usable IPs per pool", ["pool"], registry=r)
        self.in_use_v4 = Gauge(
            "metallb_allocator_ipv4_addresses_in_use_total", "IPv4 in use per pool", ["pool"], registry=r
        )
        self.in_use_v6 = Gauge(
            "metallb_allocator_ipv6_addresses_in_use_total", "IPv6 in use per pool", ["pool"], registry=r
        )
        self.total_v4 = Gauge("metallb_allocator_ipv4_addresses_total", "Usable IPv4 per pool", ["pool"], registry=r)
        self.total_v6 = Gauge("metallb_allocator_ipv6_addresses_total", "Usable IPv6 per pool", ["pool"], registry=r)
        self.loaded = Gauge("metallb_k8s_client_config_loaded_bool", "1 if the config was loaded", registry=r)
        self.stale = Gauge("metallb_k8s_client_config_stale_bool", "1 if running on a stale config", registry=r)
        self.updates = self.exact.counter("metallb_k8s_client_updates_total", "Number of k8s object updates")
        self.update_errors = self.exact.counter(
            "metallb_k8s_client_update_errors_total", "Number of k8s object update failures"
        )


class PendingCollector(Collector):
    """``pymetallb_service_pending{service, reason}`` = 1 per Service waiting for an address, read at scrape time.

    Ours (MetalLB has no such metric): the dashboard's "pending Services" table. ``reason`` is the message of the
    Service's ``AllocationFailed`` condition; the series count is bounded by the pending Services.
    """

    def __init__(self, state: ControllerState) -> None:
        self.state = state

    def collect(self) -> Iterator[GaugeMetricFamily]:
        g = GaugeMetricFamily(
            "pymetallb_service_pending",
            "1 while a LoadBalancer Service waits for an address; reason says why",
            labels=["service", "reason"],
        )
        for name, reason in sorted(self.state.pending_reasons.items()):
            g.add_metric([name, reason], 1.0)
        yield g
