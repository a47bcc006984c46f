"""The parser's inputs (``ClusterResources``, ``ParseOptions``) and outputs (``Config``, ``ParseResult`` and the
parsed kinds). Frozen values only: nothing here judges a configuration.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from ..addresses import AddressEntry, Cidr
from ..community import Community
from ..errors import ConfigError, ConfigWarning
from ..meta import LabelSelector
from ..types import BFDProfile, BGPAdvertisement, BGPPeer, IPAddressPool, L2Advertisement, PreferredNodeSelector
from ..types import Community as CommunityCR

BgpMode = Literal["native", "frr", "frr-k8s"]


@dataclass(frozen=True)
class LabeledObject:
    """A Node or Namespace as the parser needs it: a name and labels."""

    name: str
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SecretInfo:
    """A Secret in the MetalLB namespace, as needed for BGPPeer ``passwordSecret``."""

    name: str
    namespace: str
    type: str
    password: str | None


@dataclass(frozen=True)
class ClusterResources:
    """Everything the parser reads. ``nodes``/``namespaces`` are None when unknown (offline use)."""

    pools: Sequence[IPAddressPool] = ()
    peers: Sequence[BGPPeer] = ()
    bfd_profiles: Sequence[BFDProfile] = ()
    bgp_advertisements: Sequence[BGPAdvertisement] = ()
    l2_advertisements: Sequence[L2Advertisement] = ()
    communities: Sequence[CommunityCR] = ()
    secrets: Mapping[str, SecretInfo] = field(default_factory=dict)
    nodes: Sequence[LabeledObject] | None = None
    namespaces: Sequence[LabeledObject] | None = None


@dataclass(frozen=True)
class ParseOptions:
    """How the caller wants the configuration judged.

    ``bgp_mode``: the BGP backend whose restrictions apply (MetalLB's ``METALLB_BGP_TYPE``; unset is native);
    None applies no backend's restrictions (MetalLB's ``DontValidate``, used by ``migrate``).
    ``skip_transient``: the webhook's view; references that can only fail because an object has not been
    created yet (BFD profile, password Secret, Community alias) are not checked, so ``kubectl apply``
    order never matters.
    ``secret_passthrough``: do not resolve password Secrets (frr-k8s reads them itself).
    """

    bgp_mode: BgpMode | None = "native"
    skip_transient: bool = False
    secret_passthrough: bool = False
    last: tuple[str, str] | None = None
    """``(kind, name)`` of an object to order after the others of its kind: the webhook passes the object under
    review, so a conflict names it as the newcomer (MetalLB's webhook appends it, with the same effect)."""


@dataclass(frozen=True)
class BFDProfileConfig:
    name: str
    receive_interval: int | None = None
    transmit_interval: int | None = None
    detect_multiplier: int | None = None
    echo_interval: int | None = None
    echo_mode: bool = False
    passive_mode: bool = False
    minimum_ttl: int | None = None


@dataclass(frozen=True)
class Peer:
    """A parsed BGPPeer. Times are in seconds; None means the backend's default."""

    name: str
    my_asn: int
    asn: int
    dynamic_asn: str = ""
    address: str = ""
    interface: str = ""
    source_address: str = ""
    port: int = 179
    hold_time: float | None = None
    keepalive_time: float | None = None
    connect_time: float | None = None
    router_id: str = ""
    node_selectors: tuple[LabelSelector, ...] = ()
    password: str = ""
    secret_password: str = ""
    password_secret: str = ""
    bfd_profile: str = ""
    enable_graceful_restart: bool = False
    ebgp_multihop: bool = False
    vrf: str = ""
    dual_stack_address_family: bool = False
    disable_mp: bool = False
    local_asn: int = 0


@dataclass(frozen=True)
class ServiceAllocationConfig:
    """A pool's ``serviceAllocation``. An empty LabelSelector in ``service_selectors`` matches every Service."""

    priority: int = 0
    namespaces: frozenset[str] = frozenset()
    namespace_selectors: tuple[LabelSelector, ...] = ()
    service_selectors: tuple[LabelSelector, ...] = ()


@dataclass(frozen=True)
class L2AdvertisementConfig:
    """A parsed L2Advertisement. ``nodes`` is None when the node list was not given."""

    name: str = field(compare=False)
    node_selectors: tuple[LabelSelector, ...] = ()
    nodes: frozenset[str] | None = None
    interfaces: tuple[str, ...] = ()
    service_selectors: tuple[LabelSelector, ...] = ()
    preferred_node_selectors: tuple[PreferredNodeSelector, ...] = ()

    @property
    def all_interfaces(self) -> bool:
        return not self.interfaces


@dataclass(frozen=True)
class BGPAdvertisementConfig:
    """A parsed BGPAdvertisement with communities resolved. ``nodes`` is None when nodes were not given."""

    name: str = field(compare=False)
    aggregation_length: int = 32
    aggregation_length_v6: int = 128
    local_pref: int = 0
    communities: frozenset[Community] = frozenset()
    node_selectors: tuple[LabelSelector, ...] = ()
    nodes: frozenset[str] | None = None
    peers: tuple[str, ...] = ()
    as_path_prepend: int = 0
    service_selectors: tuple[LabelSelector, ...] = ()


@dataclass(frozen=True)
class Pool:
    """A parsed IPAddressPool. Invariant: its entries overlap no entry of any pool of the same Config."""

    name: str
    entries: tuple[AddressEntry, ...]
    auto_assign: bool = True
    avoid_buggy_ips: bool = False
    allocation: ServiceAllocationConfig | None = None
    l2_advertisements: tuple[L2AdvertisementConfig, ...] = ()
    bgp_advertisements: tuple[BGPAdvertisementConfig, ...] = ()

    @property
    def cidrs(self) -> tuple[Cidr, ...]:
        return tuple(c for e in self.entries for c in e.cidrs)

    def families(self) -> frozenset[int]:
        return frozenset(e.family for e in self.entries)


@dataclass(frozen=True)
class Config:
    """A validated configuration. Mappings are keyed by object name and iterate in name order."""

    pools: Mapping[str, Pool] = field(default_factory=dict)
    peers: Mapping[str, Peer] = field(default_factory=dict)
    bfd_profiles: Mapping[str, BFDProfileConfig] = field(default_factory=dict)
    communities: Mapping[str, Community] = field(default_factory=dict)


@dataclass(frozen=True)
class ParseResult:
    """``config`` is set exactly when ``errors`` is empty."""

    config: Config | None
    errors: tuple[ConfigError, ...] = ()
    warnings: tuple[ConfigWarning, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.errors
