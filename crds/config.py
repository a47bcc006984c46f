"""The one config parser: a set of ``metallb.io`` objects in, a validated ``Config`` (or the errors) out.

``parse_config(resources, options)`` is the only way to obtain a ``Config``. The controller, the speaker,
the webhook and the offline CLI all call it; differences between them arrive as ``ParseOptions``. It is
pure: no I/O, no clock, no logging.

Rules and error texts follow MetalLB's ``internal/config/config.go`` and ``validation.go`` exactly (the
webhook denies with ``str(error)``, which is upstream's text). Where we go further, the docstring of the
rule says so:

* every problem is reported, not only the first (each object is parsed on its own; cross-object rules
  run over what parsed);
* overlap detection sorts intervals instead of comparing every pair, so 5,000 pools check in milliseconds;
* a range whose ends differ in family, an entry listed twice in a pool, two BGPPeers with the same
  address, port and VRF on the same nodes are errors; an advertisement naming a pool that does not exist
  is a warning (upstream accepts all of these silently).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeVar

from .addresses import AddressEntry, Cidr, EntryError, parse_entry, parse_ip
from .community import Community, CommunityFormatError, CommunityValueError, parse_community
from .errors import ConfigError, ConfigWarning, InternalInvariantError, TransientConfigError
from .meta import OPERATORS, LabelSelector, selector_matches
from .text import go_quote
from .types import (
    BFDProfile,
    BGPAdvertisement,
    BGPPeer,
    IPAddressPool,
    L2Advertisement,
    PreferredNodeSelector,
)
from .types import Community as CommunityCR

__all__ = [
    "BFDProfileConfig",
    "BGPAdvertisementConfig",
    "ClusterResources",
    "Config",
    "L2AdvertisementConfig",
    "LabeledObject",
    "ParseOptions",
    "ParseResult",
    "Peer",
    "Pool",
    "SecretInfo",
    "ServiceAllocationConfig",
    "format_go_duration",
    "parse_config",
    "parse_go_duration",
]

BgpMode = Literal["native", "frr", "frr-k8s"]


# --- inputs ------------------------------------------------------------------------------------------


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


# --- outputs -----------------------------------------------------------------------------------------


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


# --- Go durations ------------------------------------------------------------------------------------

_DURATION_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_DURATION_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def parse_go_duration(text: str) -> float:
    """Seconds in a Go duration string (``90s``, ``1m30s``, ``1.5h``, ``300ms``, ``0``). Raises ValueError."""
    s = text.strip()
    sign = 1.0
    if s[:1] in "+-" and s:
        sign = -1.0 if s[0] == "-" else 1.0
        s = s[1:]
    if s == "0":
        return 0.0
    if not s:
        raise ValueError(f"time: invalid duration {go_quote(text)}")
    pos = 0
    total = 0.0
    while pos < len(s):
        m = _DURATION_PART.match(s, pos)
        if not m:
            raise ValueError(f"time: invalid duration {go_quote(text)}")
        total += float(m.group(1)) * _DURATION_UNITS[m.group(2)]
        pos = m.end()
    return sign * total


def format_go_duration(seconds: float) -> str:
    """Go's ``time.Duration.String()`` for whole and fractional seconds (``1m30s``, ``500ms``, ``0s``)."""
    ns = round(seconds * 1e9)
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    if ns < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if ns >= size or unit == "ns":
                return sign + _trim(ns / size) + unit
    h, rem = divmod(ns, 3600 * 10**9)
    m, rem = divmod(rem, 60 * 10**9)
    secs = _trim(rem / 1e9)
    if h:
        return f"{sign}{h}h{m}m{secs}s"
    if m:
        return f"{sign}{m}m{secs}s"
    return f"{sign}{secs}s"


def _trim(value: float) -> str:
    text = f"{value:.9f}".rstrip("0").rstrip(".")
    return text or "0"


# --- selectors ---------------------------------------------------------------------------------------


def go_selector_string(sel: LabelSelector) -> str:
    """Approximately Go's generated ``LabelSelector.String()`` (used inside MetalLB's duplicate messages)."""
    labels = "".join(f"{k}: {v}," for k, v in sorted((sel.match_labels or {}).items()))
    exprs = "".join(
        f"LabelSelectorRequirement{{Key:{e.key},Operator:{e.operator},Values:[{' '.join(sorted(e.values or ()))}],}},"
        for e in sel.match_expressions or ()
    )
    return (
        f"&LabelSelector{{MatchLabels:map[string]string{{{labels}}},"
        f"MatchExpressions:[]LabelSelectorRequirement{{{exprs}}},}}"
    )


def _selector_problem(sel: LabelSelector) -> str | None:
    """Kubernetes' own checks of a selector (``LabelSelectorAsSelector``), with its wording."""
    for req in sel.match_expressions or ():
        if req.operator not in OPERATORS:
            return f"{go_quote(req.operator)} is not a valid label selector operator"
        if req.operator in ("In", "NotIn") and not req.values:
            return "for 'in', 'notin' operators, values set can't be empty"
        if req.operator in ("Exists", "DoesNotExist") and req.values:
            return "values set must be empty for exists and does not exist"
    return None


def _check_selectors(selectors: Sequence[LabelSelector] | None, what: str) -> str | None:
    """Duplicate selectors, duplicate expressions and duplicate values, as MetalLB checks them."""
    sels = list(selectors or ())
    for i, sel in enumerate(sels):
        exprs = list(sel.match_expressions or ())
        for j, expr in enumerate(exprs):
            values = list(expr.values or ())
            for a in range(len(values)):
                if values[a] in values[a + 1 :]:
                    return f"duplicate definition of match expression value in label selector {go_quote(values[a])}"
            for twin in exprs[j + 1 :]:
                if (twin.key, twin.operator, sorted(twin.values or ())) == (
                    expr.key,
                    expr.operator,
                    sorted(expr.values or ()),
                ):
                    text = (
                        f"&LabelSelectorRequirement{{Key:{expr.key},Operator:{expr.operator},"
                        f"Values:[{' '.join(sorted(values))}],}}"
                    )
                    return f"duplicate definition of match expressions {go_quote(text)}"
        for other in sels[i + 1 :]:
            if other.canonical() == sel.canonical():
                return f"duplicate definition of {what} {go_quote(go_selector_string(sel))}"
    return None


def _invalid_selector(selectors: Sequence[LabelSelector] | None) -> str | None:
    for sel in selectors or ():
        problem = _selector_problem(sel)
        if problem:
            return problem
    return None


def _dup_string(values: Sequence[str] | None, what: str) -> str | None:
    seen: set[str] = set()
    for v in values or ():
        if v in seen:
            return f"duplicate definition of {what} {go_quote(v)}"
        seen.add(v)
    return None


def _matching(objects: Sequence[LabeledObject] | None, selectors: Sequence[LabelSelector]) -> frozenset[str] | None:
    """Names selected by any selector; all objects when there are no selectors; None when unknown."""
    if objects is None:
        return None
    if not selectors:
        return frozenset(o.name for o in objects)
    return frozenset(o.name for o in objects if any(selector_matches(s, dict(o.labels)) for s in selectors))


def _sorted_selectors(selectors: Sequence[LabelSelector] | None) -> tuple[LabelSelector, ...]:
    return tuple(sorted(selectors or (), key=lambda s: s.canonical()))


# --- the parser --------------------------------------------------------------------------------------


class _Collector:
    def __init__(self) -> None:
        self.errors: list[ConfigError] = []
        self.warnings: list[ConfigWarning] = []
        self.failed: set[tuple[str, str]] = set()

    def error(self, kind: str, name: str, what: str, *, transient: bool = False) -> None:
        cls = TransientConfigError if transient else ConfigError
        where = f"{kind}/{name}" if kind else ""
        self.failed.add((kind, name))
        err = cls(where, what, kind=kind, name=name)
        if err not in self.errors:
            self.errors.append(err)

    def warn(self, kind: str, name: str, what: str) -> None:
        self.warnings.append(ConfigWarning(f"{kind}/{name}", what))


_T = TypeVar("_T", IPAddressPool, BGPPeer, BFDProfile, BGPAdvertisement, L2Advertisement, CommunityCR)


def _by_name(items: Iterable[_T], last: tuple[str, str] | None = None) -> list[_T]:
    return sorted(items, key=lambda o: ((o.api.kind, o.name) == last, o.metadata.name or ""))


def parse_config(resources: ClusterResources, options: ParseOptions | None = None) -> ParseResult:
    """Parse and validate everything in ``resources``; see the module docstring for the rules."""
    opts = options or ParseOptions()
    out = _Collector()
    pools_cr = _by_name(resources.pools, opts.last)
    peers_cr = _by_name(resources.peers, opts.last)
    bfd_cr = _by_name(resources.bfd_profiles, opts.last)
    bgp_cr = _by_name(resources.bgp_advertisements, opts.last)
    l2_cr = _by_name(resources.l2_advertisements, opts.last)
    comm_cr = _by_name(resources.communities, opts.last)

    if opts.skip_transient:
        peers_cr = [_blank_peer_references(p) for p in peers_cr]
        bgp_cr = [_blank_alias_communities(a) for a in bgp_cr]

    _duplicate_names(out, [*peers_cr, *bfd_cr, *bgp_cr, *l2_cr, *comm_cr])

    if opts.bgp_mode == "native":
        _native_restrictions(out, resources, pools_cr, peers_cr, bfd_cr, bgp_cr, comm_cr)
    elif opts.bgp_mode is not None:
        _frr_peer_compatibility(out, peers_cr, resources.nodes)

    bfd = _bfd_profiles(out, bfd_cr)
    peers = _peers(out, peers_cr, bfd, resources, opts)
    if opts.bgp_mode == "native":
        _duplicate_peer_addresses(out, peers_cr, resources.nodes)
    communities = _communities(out, comm_cr)
    pools = _pools(out, pools_cr, resources.namespaces)
    _overlaps(out, pools)
    index = _PoolIndex(pools_cr)
    l2_by_pool = _l2_advertisements(out, l2_cr, index, pools, resources.nodes)
    bgp_by_pool = _bgp_advertisements(out, bgp_cr, index, pools, communities, resources.nodes)

    final_pools = {
        name: Pool(
            name=p.name,
            entries=p.entries,
            auto_assign=p.auto_assign,
            avoid_buggy_ips=p.avoid_buggy_ips,
            allocation=p.allocation,
            l2_advertisements=tuple(l2_by_pool.get(name, ())),
            bgp_advertisements=tuple(bgp_by_pool.get(name, ())),
        )
        for name, p in sorted(pools.items())
    }
    _bfd_echo_on_v6(out, final_pools, peers, bfd)

    config = None
    if not out.errors:
        config = Config(
            pools=final_pools,
            peers=dict(sorted(peers.items())),
            bfd_profiles=dict(sorted(bfd.items())),
            communities=dict(sorted(communities.items())),
        )
    return ParseResult(config, tuple(out.errors), tuple(out.warnings))


def _blank_peer_references(peer: BGPPeer) -> BGPPeer:
    spec = peer.spec.model_copy(update={"bfd_profile": None, "password_secret": None})
    return peer.model_copy(update={"spec": spec})


def _blank_alias_communities(adv: BGPAdvertisement) -> BGPAdvertisement:
    if not adv.spec.communities:
        return adv
    kept = tuple(c for c in adv.spec.communities if ":" in c)
    return adv.model_copy(update={"spec": adv.spec.model_copy(update={"communities": kept or None})})


def _duplicate_names(
    out: _Collector,
    objects: Sequence[BGPPeer | BFDProfile | BGPAdvertisement | L2Advertisement | CommunityCR],
) -> None:
    """Two objects of one kind with one name can only come from offline files; the later one would win."""
    seen: set[tuple[str, str]] = set()
    for obj in objects:
        key = (obj.api.kind, obj.name)
        if key in seen:
            if isinstance(obj, BFDProfile):
                out.error(obj.api.kind, obj.name, f"found duplicate bfd profile name {obj.name}")
            else:
                out.error(obj.api.kind, obj.name, f"duplicate definition of {obj.api.kind} {go_quote(obj.name)}")
        seen.add(key)


# BFD profiles ---------------------------------------------------------------------------------------

_BFD_RANGES = (
    ("detect_multiplier", 2, 255, "invalid detect multiplier value"),
    ("receive_interval", 10, 60000, "invalid receive interval value"),
    ("transmit_interval", 10, 60000, "invalid transmit interval value"),
    ("minimum_ttl", 1, 254, "invalid minimum ttl value"),
    ("echo_interval", 10, 60000, "invalid echo interval value"),
)


def _bfd_profiles(out: _Collector, profiles: Sequence[BFDProfile]) -> dict[str, BFDProfileConfig]:
    res: dict[str, BFDProfileConfig] = {}
    for i, p in enumerate(profiles):
        if not p.name:
            out.error("BFDProfile", "", f"parsing bfd profile #{i + 1}: missing bfd profile name")
            continue
        problem = None
        for attr, lo, hi, what in _BFD_RANGES:
            value = getattr(p.spec, attr)
            if value is not None and not lo <= value <= hi:
                problem = f"invalid value {value}, must be in {lo}-{hi} range\n{what}"
                break
        if problem:
            out.error("BFDProfile", p.name, f"parsing bfd profile #{i + 1}: {problem}")
            continue
        if p.name in res:
            continue
        s = p.spec
        res[p.name] = BFDProfileConfig(
            name=p.name,
            receive_interval=s.receive_interval,
            transmit_interval=s.transmit_interval,
            detect_multiplier=s.detect_multiplier,
            echo_interval=s.echo_interval,
            echo_mode=bool(s.echo_mode),
            passive_mode=bool(s.passive_mode),
            minimum_ttl=s.minimum_ttl,
        )
    return res


# Peers ----------------------------------------------------------------------------------------------


def _timers(hold: str | None, keepalive: str | None) -> tuple[float | None, float | None]:
    """MetalLB's ``parseTimers``: hold alone gives keepalive hold/3; keepalive alone gives hold 3 x keepalive."""
    if hold is None and keepalive is None:
        return None, None
    try:
        ht = parse_go_duration(hold) if hold is not None else None
    except ValueError:
        raise ValueError(f"invalid hold time {go_quote(hold or '')}: not a duration (e.g. 90s, 1m30s)") from None
    try:
        ka = parse_go_duration(keepalive) if keepalive is not None else None
    except ValueError:
        raise ValueError(f"invalid keepaliveTime {go_quote(keepalive or '')}: not a duration (e.g. 30s)") from None
    if ht is not None and ka is None:
        ka = ht / 3
    elif ht is None and ka is not None:
        ht = ka * 3
    if ht is None or ka is None:
        raise InternalInvariantError("parseTimers: one of hold and keepalive must be set here")
    rounded = int(ht)
    if rounded != 0 and rounded < 3:
        raise ValueError(f"invalid hold time {go_quote(format_go_duration(ht))}: must be 0 or >=3s")
    if ka > ht:
        raise ValueError(
            f"invalid keepaliveTime {go_quote(format_go_duration(ka))}, must be lower than holdTime "
            f"{go_quote(format_go_duration(ht))}"
        )
    return ht, ka


def _peer(p: BGPPeer, bfd: Mapping[str, BFDProfileConfig], resources: ClusterResources, opts: ParseOptions) -> Peer:
    """One BGPPeer; raises ValueError (or _Transient) with MetalLB's inner message."""
    s = p.spec
    asn = s.peer_asn or 0
    if s.my_asn == 0:
        raise ValueError("missing local ASN")
    if asn == 0 and not s.dynamic_asn:
        raise ValueError("missing peer ASN and dynamicASN")
    if asn != 0 and s.dynamic_asn:
        raise ValueError("both peer ASN and dynamicASN specified")
    if s.dynamic_asn and s.dynamic_asn not in ("internal", "external"):
        raise ValueError(f"invalid dynamicASN {s.dynamic_asn}")
    if asn == s.my_asn and s.ebgp_multi_hop:
        raise ValueError("invalid ebgp-multihop parameter set for an ibgp peer")
    if not s.peer_address and not s.interface:
        raise ValueError("peer has no Address or Interface specified")
    if s.peer_address and s.interface:
        raise ValueError("peer has both Address and Interface specified")
    try:
        hold, keepalive = _timers(s.hold_time, s.keepalive_time)
    except ValueError as exc:
        raise ValueError(f"invalid BGPPeer timers: {exc}") from None
    address = _optional_ip(s.peer_address, "invalid BGPPeer address")
    router_id = _optional_ip(s.router_id, "invalid router ID")
    source = _optional_ip(s.source_address, "invalid source IP")
    problem = _check_selectors(s.node_selectors, "nodeSelectors")
    if problem:
        raise ValueError(problem)
    problem = _invalid_selector(s.node_selectors)
    if problem:
        raise ValueError(f"{problem}\nfailed to convert peer {p.name} node selector")
    secret_name = s.password_secret.name if s.password_secret and s.password_secret.name else ""
    if s.password and secret_name:
        raise ValueError(
            f"can not have both password and secret ref set in peer config {go_quote(p.namespace)}/{go_quote(p.name)}"
        )
    secret_password = ""
    if secret_name and not opts.secret_passthrough:
        secret = resources.secrets.get(secret_name)
        if secret is None:
            raise _Transient(
                f"secret ref not found for peer config {go_quote(p.namespace)}/{go_quote(p.name)}\n"
                f"failed to parse peer {p.name} password secret"
            )
        if secret.type != "kubernetes.io/basic-auth":
            raise ValueError(
                f"secret type mismatch on {go_quote(secret.namespace)}/{go_quote(secret.name)}, "
                f'type "kubernetes.io/basic-auth" is expected \nfailed to parse peer {p.name} password secret'
            )
        if secret.password is None:
            raise ValueError(
                f"password not specified in the secret {go_quote(secret.namespace)}/{go_quote(secret.name)}\n"
                f"failed to parse peer {p.name} password secret"
            )
        secret_password = secret.password
    connect = None
    if s.connect_time is not None:
        try:
            connect = parse_go_duration(s.connect_time)
        except ValueError:
            raise ValueError(f"invalid connect time {go_quote(s.connect_time)}: not a duration") from None
    return Peer(
        name=p.name,
        my_asn=s.my_asn,
        asn=asn,
        dynamic_asn=s.dynamic_asn or "",
        address=address,
        interface=s.interface or "",
        source_address=source,
        port=s.peer_port,
        hold_time=hold,
        keepalive_time=keepalive,
        connect_time=connect,
        router_id=router_id,
        node_selectors=_sorted_selectors(s.node_selectors),
        password=s.password or "",
        secret_password=secret_password,
        password_secret=secret_name,
        bfd_profile=s.bfd_profile or "",
        enable_graceful_restart=bool(s.enable_graceful_restart),
        ebgp_multihop=bool(s.ebgp_multi_hop),
        vrf=s.vrf or "",
        dual_stack_address_family=s.dual_stack_address_family,
        disable_mp=s.disable_mp,
        local_asn=s.local_asn or 0,
    )


def _optional_ip(text: str | None, what: str) -> str:
    """The IP in ``text`` in canonical form, "" when absent; ValueError ``<what> "<text>"`` when invalid."""
    if not text:
        return ""
    ip = parse_ip(text)
    if ip is None:
        raise ValueError(f"{what} {go_quote(text)}")
    return str(ip)


class _Transient(ValueError):
    """An inner message that is a TransientConfigError once wrapped."""


def _peers(
    out: _Collector,
    peers_cr: Sequence[BGPPeer],
    bfd: Mapping[str, BFDProfileConfig],
    resources: ClusterResources,
    opts: ParseOptions,
) -> dict[str, Peer]:
    res: dict[str, Peer] = {}
    for p in peers_cr:
        try:
            peer = _peer(p, bfd, resources, opts)
        except _Transient as exc:
            out.error("BGPPeer", p.name, f"parsing peer {p.name} {exc}", transient=True)
            continue
        except ValueError as exc:
            out.error("BGPPeer", p.name, f"parsing peer {p.name} {exc}")
            continue
        if peer.bfd_profile and peer.bfd_profile not in bfd:
            out.error(
                "BGPPeer",
                p.name,
                f"peer {p.name} referencing non existing bfd profile {peer.bfd_profile}",
                transient=True,
            )
            continue
        res.setdefault(p.name, peer)
    return res


def _shares_node(
    a: Sequence[LabelSelector] | None,
    b: Sequence[LabelSelector] | None,
    nodes: Sequence[LabeledObject] | None,
) -> bool:
    """Whether two node selections can pick a common node. Unknown nodes: assume they can."""
    if not nodes:
        return True
    sa = _matching(nodes, list(a or ())) or frozenset()
    sb = _matching(nodes, list(b or ())) or frozenset()
    return bool(sa & sb)


def _peer_identifier(p: BGPPeer) -> str:
    ident = p.spec.peer_address or p.spec.interface or ""
    if p.spec.vrf:
        ident += f"-{p.spec.vrf}"
    return ident


def _frr_peer_compatibility(out: _Collector, peers: Sequence[BGPPeer], nodes: Sequence[LabeledObject] | None) -> None:
    for i, p in enumerate(peers):
        for q in peers[:i]:
            if not _shares_node(p.spec.node_selectors, q.spec.node_selectors, nodes):
                continue
            if (p.spec.router_id or "") != (q.spec.router_id or ""):
                out.error(
                    "BGPPeer",
                    p.name,
                    f"peer {p.spec.router_id or ''} has RouterID different from {q.spec.router_id or ''}, in FRR mode "
                    "peers selecting the same node must all have the same RouterID",
                )
            elif _peer_identifier(p) == _peer_identifier(q):
                out.error(
                    "BGPPeer",
                    p.name,
                    f"peer {_peer_identifier(p)} already exists, FRR mode doesn't support duplicate BGPPeers "
                    "selecting the same node",
                )
            elif p.spec.my_asn != q.spec.my_asn and (p.spec.vrf or "") == (q.spec.vrf or ""):
                out.error(
                    "BGPPeer",
                    p.name,
                    f"peer {_peer_identifier(p)} has myAsn different from {_peer_identifier(q)}, in FRR mode peers "
                    "selecting the same node must have the same myAsn within the same VRF",
                )


def _duplicate_peer_addresses(out: _Collector, peers: Sequence[BGPPeer], nodes: Sequence[LabeledObject] | None) -> None:
    """Beyond MetalLB: two BGPPeers to one address, port and VRF on one node would fight over one session.

    Upstream's own duplicate check compares whole structs including the name, so it never fires.
    """
    for i, p in enumerate(peers):
        if not p.spec.peer_address:
            continue
        for q in peers[:i]:
            same = (p.spec.peer_address, p.spec.peer_port, p.spec.vrf or "") == (
                q.spec.peer_address,
                q.spec.peer_port,
                q.spec.vrf or "",
            )
            if not same:
                continue
            if nodes is None:
                sa = {s.canonical() for s in p.spec.node_selectors or ()}
                sb = {s.canonical() for s in q.spec.node_selectors or ()}
                shares = not sa or not sb or sa == sb
            else:
                shares = _shares_node(p.spec.node_selectors, q.spec.node_selectors, nodes)
            if shares:
                vrf = f' in VRF "{p.spec.vrf}"' if p.spec.vrf else ""
                out.error(
                    "BGPPeer",
                    p.name,
                    f"peer {p.name} has the same address {p.spec.peer_address} and port {p.spec.peer_port}{vrf} "
                    f"as peer {q.name} on the same nodes",
                )
                break


def _native_restrictions(
    out: _Collector,
    resources: ClusterResources,
    pools: Sequence[IPAddressPool],
    peers: Sequence[BGPPeer],
    bfd: Sequence[BFDProfile],
    bgp_advs: Sequence[BGPAdvertisement],
    communities: Sequence[CommunityCR],
) -> None:
    """MetalLB's ``DiscardFRROnly``: what the native BGP speaker cannot do."""
    for p in peers:
        s = p.spec
        addr = s.peer_address or ""
        checks = (
            (bool(s.bfd_profile), "bfd-profile set"),
            (_nonzero_duration(s.keepalive_time), "keepalive-time set"),
            (bool(s.vrf), "vrf set"),
            (s.connect_time is not None, "connect time set"),
            (bool(s.enable_graceful_restart), "EnableGracefulRestart flag set"),
            (s.disable_mp, "disable MP flag set"),
            (s.dual_stack_address_family, "dualstackaddressfamily flag set"),
            (bool(s.dynamic_asn), "dynamicASN set"),
            (bool(s.interface), "interface set"),
            (bool(s.local_asn), "localASN set"),
        )
        for bad, what in checks:
            if bad:
                out.error("BGPPeer", p.name, f"peer {addr} has {what} on native bgp mode")
                break
    if bfd:
        out.error("BFDProfile", bfd[0].name, "bfd profiles section set")
    if bgp_advs:
        index = _PoolIndex(pools)
        selected: set[str] = set()
        for adv in bgp_advs:
            selected |= index.selected(adv)
        for pool in pools:
            if pool.name not in selected:
                continue
            for entry_text in pool.spec.addresses:
                try:
                    entry = parse_entry(entry_text)
                except EntryError:
                    continue  # reported by the pool parser
                if entry.family == 6:
                    out.error(
                        "IPAddressPool",
                        pool.name,
                        f"pool {go_quote(pool.name)} has ipv6 CIDR {entry.cidrs[0]}, "
                        "native bgp mode does not support ipv6",
                    )
                    break
    for adv in bgp_advs:
        for cs in adv.spec.communities or ():
            try:
                c = parse_community(cs)
            except ValueError:
                continue
            if c.large:
                out.error(
                    "BGPAdvertisement",
                    adv.name,
                    f"native BGP mode only supports legacy communities, BGP advertisement {go_quote(adv.name)} "
                    f"has non legacy community {go_quote(cs)}",
                )
    for co in communities:
        for alias in co.spec.communities or ():
            try:
                c = parse_community(alias.value or "")
            except ValueError:
                continue
            if c.large:
                out.error(
                    "Community",
                    co.name,
                    f"native BGP mode only supports legacy communities, BGP community CR {go_quote(co.name)} "
                    f"has non legacy community {go_quote(_go_struct_alias(alias.name, alias.value))}",
                )


def _go_struct_alias(name: str | None, value: str | None) -> str:
    return f"{{{name or ''} {value or ''}}}"


def _nonzero_duration(text: str | None) -> bool:
    if not text:
        return False
    try:
        return parse_go_duration(text) != 0
    except ValueError:
        return True


class _PoolIndex:
    """Pool names and labels, indexed once per parse, so advertisements resolve without scanning every pool.

    Pools sharing one label set are grouped: a selector is matched once per distinct label set.
    """

    def __init__(self, pools: Sequence[IPAddressPool]) -> None:
        self.names = frozenset(p.name for p in pools)
        groups: dict[tuple[tuple[str, str], ...], list[str]] = {}
        for p in pools:
            groups.setdefault(tuple(sorted((p.metadata.labels or {}).items())), []).append(p.name)
        self.by_labels = [(dict(k), names) for k, names in groups.items()]

    def selected(self, adv: BGPAdvertisement | L2Advertisement) -> set[str]:
        """The pools an advertisement applies to: named, or label-selected; all pools when it names none."""
        by_name = adv.spec.ip_address_pools or ()
        selectors = adv.spec.ip_address_pool_selectors or ()
        if not by_name and not selectors:
            return set(self.names)
        names = set(by_name)
        for labels, group in self.by_labels:
            if any(selector_matches(sel, labels) for sel in selectors):
                names.update(group)
        return names


# Communities ----------------------------------------------------------------------------------------


def _communities(out: _Collector, crs: Sequence[CommunityCR]) -> dict[str, Community]:
    res: dict[str, Community] = {}
    for co in crs:
        for alias in co.spec.communities or ():
            name = alias.name or ""
            try:
                value = parse_community(alias.value or "")
            except ValueError as exc:
                out.error("Community", co.name, f"parsing community {go_quote(name)}: {exc}")
                continue
            if name in res:
                out.error("Community", co.name, f"duplicate definition of community {go_quote(name)}")
                continue
            res[name] = value
    return res


# Pools ----------------------------------------------------------------------------------------------


def _service_allocation(p: IPAddressPool, namespaces: Sequence[LabeledObject] | None) -> ServiceAllocationConfig | None:
    sa = p.spec.service_allocation
    if sa is None:
        return None
    names = list(sa.namespaces or ())
    if len(set(names)) != len(names):
        raise ValueError("duplicate definition in namespaces field")
    if not names and not sa.namespace_selectors and not sa.service_selectors:
        return ServiceAllocationConfig(priority=sa.priority or 0, service_selectors=(LabelSelector(),))
    for sels, what in (
        (sa.namespace_selectors, "namespaceSelectors"),
        (sa.service_selectors, "serviceSelectors"),
    ):
        problem = _check_selectors(sels, what)
        if problem:
            raise ValueError(problem)
    for sels, what in ((sa.namespace_selectors, "namespace"), (sa.service_selectors, "service")):
        problem = _invalid_selector(sels)
        if problem:
            raise ValueError(f"{problem}\ninvalid {what} label selector in ip pool {p.name}")
    resolved = set(names)
    if sa.namespace_selectors and namespaces is not None:
        resolved |= _matching(namespaces, list(sa.namespace_selectors)) or set()
    return ServiceAllocationConfig(
        priority=sa.priority or 0,
        namespaces=frozenset(resolved),
        namespace_selectors=_sorted_selectors(sa.namespace_selectors),
        service_selectors=_sorted_selectors(sa.service_selectors),
    )


def _pools(
    out: _Collector, pools_cr: Sequence[IPAddressPool], namespaces: Sequence[LabeledObject] | None
) -> dict[str, Pool]:
    res: dict[str, Pool] = {}
    for p in pools_cr:
        if p.name in res:
            out.error("IPAddressPool", p.name, f"duplicate definition of pool {go_quote(p.name)}")
            continue
        try:
            pool = _pool(p, namespaces)
        except ValueError as exc:
            out.error("IPAddressPool", p.name, f"parsing address pool {p.name}: {exc}")
            continue
        res[p.name] = pool
    return res


def _pool(p: IPAddressPool, namespaces: Sequence[LabeledObject] | None) -> Pool:
    if not p.name:
        raise ValueError("missing pool name")
    if not p.spec.addresses:
        raise ValueError("pool has no prefixes defined")
    entries: list[AddressEntry] = []
    seen: dict[tuple[int, int, int], str] = {}
    for text in p.spec.addresses:
        try:
            entry = parse_entry(text)
        except EntryError as exc:
            raise ValueError(f"invalid CIDR {go_quote(text)} in pool {go_quote(p.name)}: {exc}") from None
        key = (entry.family, entry.first, entry.last)
        if key in seen:
            raise ValueError(
                f"{go_quote(text)} in pool {go_quote(p.name)} lists the same addresses as {go_quote(seen[key])}"
            )
        seen[key] = text
        entries.append(entry)
    return Pool(
        name=p.name,
        entries=tuple(entries),
        auto_assign=p.spec.auto_assign,
        avoid_buggy_ips=p.spec.avoid_buggy_ips,
        allocation=_service_allocation(p, namespaces),
    )


def _overlaps(out: _Collector, pools: Mapping[str, Pool]) -> None:
    """CIDRs overlapping within or across pools, found by sorting instead of comparing every pair.

    CIDRs either nest or are disjoint, so after sorting by (start, prefix length) the CIDRs containing
    the current one are exactly the open ones on a stack. For each overlapping pair the one defined later
    (pools in parse order, i.e. by name, entries in order) is reported against the earliest one it
    overlaps, as MetalLB does; at most one error per pool.
    """
    pieces: list[tuple[int, int, int, int, Cidr, str]] = []  # family, first, prefixlen, order, cidr, pool
    order = 0
    for name in pools:
        for entry in pools[name].entries:
            for cidr in entry.cidrs:
                pieces.append((cidr.family, cidr.first, cidr.prefixlen, order, cidr, name))
                order += 1
    pieces.sort(key=lambda t: (t[0], t[1], t[2], t[3]))
    partner: dict[int, tuple[int, Cidr, Cidr, str]] = {}  # later order -> (earlier order, later, earlier, pool)
    stack: list[tuple[int, int, int, int, Cidr, str]] = []
    for piece in pieces:
        fam, _first, _plen, idx, cidr, pool = piece
        while stack and (stack[-1][0] != fam or stack[-1][4].last < cidr.first):
            stack.pop()
        for other in stack:
            later, earlier = (piece, other) if idx > other[3] else (other, piece)
            known = partner.get(later[3])
            if known is None or earlier[3] < known[0]:
                partner[later[3]] = (earlier[3], later[4], earlier[4], later[5])
        stack.append(piece)
    reported: set[str] = set()
    for _later, (_earlier, cidr, first_cidr, pool) in sorted(partner.items()):
        if pool in reported:
            continue
        reported.add(pool)
        out.error(
            "IPAddressPool",
            pool,
            f"CIDR {go_quote(str(cidr))} in pool {go_quote(pool)} overlaps with already defined CIDR "
            f"{go_quote(str(first_cidr))}",
        )


# Advertisements -------------------------------------------------------------------------------------


def _warn_unknown_pools(out: _Collector, adv: BGPAdvertisement | L2Advertisement, index: _PoolIndex) -> None:
    for name in adv.spec.ip_address_pools or ():
        if name not in index.names:
            out.warn(adv.api.kind, adv.name, f"ipAddressPools names pool {go_quote(name)}, which does not exist")


def _l2_advertisements(
    out: _Collector,
    advs: Sequence[L2Advertisement],
    index: _PoolIndex,
    pools: Mapping[str, Pool],
    nodes: Sequence[LabeledObject] | None,
) -> dict[str, list[L2AdvertisementConfig]]:
    res: dict[str, list[L2AdvertisementConfig]] = {}
    for adv in advs:
        s = adv.spec
        problem = (
            _dup_string(s.ip_address_pools, "ipAddressPools")
            or _check_selectors(s.ip_address_pool_selectors, "ipAddressPoolSelectors")
            or _check_selectors(s.node_selectors, "nodeSelectors")
            or _check_selectors(s.service_selectors, "serviceSelectors")
        )
        if not problem:
            bad = _invalid_selector(s.node_selectors)
            if bad:
                problem = f"invalid label selector {bad}\nfailed to parse node selector for {adv.name}"
        if not problem:
            bad = _invalid_selector(s.service_selectors)
            if bad:
                problem = f"invalid service selector: {bad}\nfailed to parse service selector for {adv.name}"
        if not problem:
            bad = _invalid_selector([pref.preference for pref in s.preferred_node_selectors or ()])
            if bad:
                problem = f"{bad}\nfailed to parse preferred node selectors for {adv.name}"
        if not problem:
            bad = _invalid_selector(s.ip_address_pool_selectors)
            if bad:
                problem = f"{bad}\ninvalid label selector"
        if problem:
            out.error("L2Advertisement", adv.name, problem)
            continue
        _warn_unknown_pools(out, adv, index)
        parsed = L2AdvertisementConfig(
            name=adv.name,
            node_selectors=_sorted_selectors(s.node_selectors),
            nodes=_matching(nodes, list(s.node_selectors or ())),
            interfaces=tuple(s.interfaces or ()),
            service_selectors=_sorted_selectors(s.service_selectors),
            preferred_node_selectors=tuple(s.preferred_node_selectors or ()),
        )
        for pool_name in sorted(index.selected(adv)):
            if pool_name not in pools:
                continue
            attached = res.setdefault(pool_name, [])
            # The same advertisement reached through a name and a selector is attached once; equal
            # advertisements without preferences are merged, as upstream does (weights must stack).
            if not parsed.preferred_node_selectors and any(
                a == parsed and not a.preferred_node_selectors for a in attached
            ):
                continue
            attached.append(parsed)
    return res


def _go_rune(n: int) -> str:
    """Go's ``%q`` of an integer: a quoted character literal (MetalLB prints aggregation lengths this way)."""
    ch = chr(n) if 0 <= n <= 0x10FFFF else "\ufffd"
    if ch == "'":
        return "'\\''"
    if ch.isprintable():
        return f"'{ch}'"
    if n < 0x80:
        return f"'\\x{n:02x}'"
    if n <= 0xFFFF:
        return f"'\\u{n:04x}'"
    return f"'\\U{n:08x}'"


def _bgp_advertisements(
    out: _Collector,
    advs: Sequence[BGPAdvertisement],
    index: _PoolIndex,
    pools: Mapping[str, Pool],
    communities: Mapping[str, Community],
    nodes: Sequence[LabeledObject] | None,
) -> dict[str, list[BGPAdvertisementConfig]]:
    res: dict[str, list[BGPAdvertisementConfig]] = {}
    dumps = [a.spec.dump() for a in advs]
    for i in range(len(advs)):
        for j in range(i + 1, len(advs)):
            if dumps[i] == dumps[j] and advs[i].name == advs[j].name:
                out.error(
                    "BGPAdvertisement",
                    advs[j].name,
                    f"duplicate definition of bgpadvertisements. advertisement {i + 1} and {j + 1} are equal",
                )
    for adv in advs:
        try:
            parsed = _bgp_advertisement(adv, communities, nodes)
        except _Transient as exc:
            out.error("BGPAdvertisement", adv.name, str(exc), transient=True)
            continue
        except ValueError as exc:
            out.error("BGPAdvertisement", adv.name, str(exc))
            continue
        _warn_unknown_pools(out, adv, index)
        for pool_name in sorted(index.selected(adv)):
            pool = pools.get(pool_name)
            if pool is None:
                continue
            attached = res.setdefault(pool_name, [])
            problem = _bgp_adv_fits_pool(parsed, pool, attached)
            if problem:
                out.error("BGPAdvertisement", adv.name, problem)
                break
            attached.append(parsed)
    return res


def _bgp_advertisement(
    adv: BGPAdvertisement, communities: Mapping[str, Community], nodes: Sequence[LabeledObject] | None
) -> BGPAdvertisementConfig:
    s = adv.spec
    problem = (
        _dup_string(s.ip_address_pools, "ipAddressPools")
        or _dup_string(s.communities, "community")
        or _dup_string(s.peers, "peers")
        or _check_selectors(s.ip_address_pool_selectors, "ipAddressPoolSelectors")
        or _check_selectors(s.node_selectors, "nodeSelectors")
        or _check_selectors(s.service_selectors, "serviceSelectors")
    )
    if problem:
        raise ValueError(problem)
    if s.service_selectors:
        if s.aggregation_length != 32:
            raise ValueError(
                f"serviceSelectors and aggregationLength are mutually exclusive, both cannot be set in {adv.name}"
            )
        if s.aggregation_length_v6 != 128:
            raise ValueError(
                f"serviceSelectors and aggregationLengthV6 are mutually exclusive, both cannot be set in {adv.name}"
            )
    if s.aggregation_length > 32:
        raise ValueError(f"invalid aggregation length {_go_rune(s.aggregation_length)} for IPv4")
    if s.aggregation_length_v6 > 128:
        raise ValueError(f"invalid aggregation length {_go_rune(s.aggregation_length_v6)} for IPv6")
    values: set[Community] = set()
    for c in s.communities or ():
        if c in communities:
            values.add(communities[c])
            continue
        try:
            values.add(parse_community(c))
        except CommunityValueError as exc:
            raise ValueError(f"{exc}\ninvalid community {go_quote(c)} in BGP advertisement") from None
        except CommunityFormatError as exc:
            # Only a bare word can be an alias that is created later; "a:b:c" never becomes valid.
            # (MetalLB marks both transient.)
            err = _Transient if ":" not in c else ValueError
            raise err(f"{exc}\ninvalid community {go_quote(c)} in BGP advertisement") from None
    bad = _invalid_selector(s.node_selectors)
    if bad:
        raise ValueError(f"invalid label selector {bad}\nfailed to parse node selector for {adv.name}")
    bad = _invalid_selector(s.service_selectors)
    if bad:
        raise ValueError(f"invalid service selector: {bad}\nfailed to parse service selector for {adv.name}")
    bad = _invalid_selector(s.ip_address_pool_selectors)
    if bad:
        raise ValueError(f"{bad}\ninvalid label selector")
    return BGPAdvertisementConfig(
        name=adv.name,
        aggregation_length=s.aggregation_length,
        aggregation_length_v6=s.aggregation_length_v6,
        local_pref=s.local_pref or 0,
        communities=frozenset(values),
        node_selectors=_sorted_selectors(s.node_selectors),
        nodes=_matching(nodes, list(s.node_selectors or ())),
        peers=tuple(s.peers or ()),
        service_selectors=_sorted_selectors(s.service_selectors),
    )


def _bgp_adv_fits_pool(
    adv: BGPAdvertisementConfig, pool: Pool, attached: Sequence[BGPAdvertisementConfig]
) -> str | None:
    """MetalLB's ``validateBGPAdvPerPool``: aggregation lengths, then LOCAL_PREF conflicts."""
    for entry in pool.entries:
        max_length = adv.aggregation_length if entry.family == 4 else adv.aggregation_length_v6
        lowest = entry.lowest_mask
        if max_length < lowest:
            # Upstream prints the IPv4 aggregation length even for IPv6 entries; kept for compatibility.
            return (
                f"invalid aggregation length {adv.aggregation_length}: prefix {lowest} in this pool is more "
                f"specific than the aggregation length for addresses {entry.text}"
            )
    if adv.service_selectors:
        return None
    for other in attached:
        if other.service_selectors:
            continue
        if not _local_pref_compatible(adv, other, pool):
            return (
                f"invalid local preference {adv.local_pref}: local preferernce {other.local_pref} was already set "
                "for the same type of BGP update. Check existing BGP advertisements with common pools and "
                "aggregation lengths"
            )
    return None


def _local_pref_compatible(new: BGPAdvertisementConfig, old: BGPAdvertisementConfig, pool: Pool) -> bool:
    if new.local_pref == old.local_pref:
        return True
    fams = pool.families()
    has4, has6 = 4 in fams, 6 in fams
    if not has4 and not has6:
        return True
    if old.aggregation_length != new.aggregation_length and not has6:
        return True
    if old.aggregation_length_v6 != new.aggregation_length_v6 and not has4:
        return True
    if old.aggregation_length != new.aggregation_length and old.aggregation_length_v6 != new.aggregation_length_v6:
        return True
    if new.peers and old.peers and not set(new.peers) & set(old.peers):
        return True
    if new.nodes is None or old.nodes is None:
        # Nodes unknown (offline): the selectors decide; identical or empty selectors share nodes.
        a = {s.canonical() for s in new.node_selectors}
        b = {s.canonical() for s in old.node_selectors}
        return bool(a and b and a != b)
    return not (new.nodes & old.nodes)


def _bfd_echo_on_v6(
    out: _Collector, pools: Mapping[str, Pool], peers: Mapping[str, Peer], bfd: Mapping[str, BFDProfileConfig]
) -> None:
    def echo(peer: Peer) -> bool:
        profile = bfd.get(peer.bfd_profile)
        return bool(profile and profile.echo_mode)

    for pool in pools.values():
        if 6 not in pool.families():
            continue
        for adv in pool.bgp_advertisements:
            targets = [peers[n] for n in adv.peers if n in peers] if adv.peers else list(peers.values())
            for peer in targets:
                if echo(peer):
                    out.error(
                        "IPAddressPool",
                        pool.name,
                        f"pool {pool.name} has bgpadvertisement {adv.name} which references peer {peer.name} "
                        "which has bfd echo enabled, which is not possible",
                    )
                    return
