"""Rules that span objects: duplicate names, CIDR overlaps across pools, what the native BGP speaker cannot do,
and BFD echo mode on IPv6 pools.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..addresses import Cidr, EntryError, parse_entry
from ..community import CommunityFormatError, CommunityValueError, parse_community
from ..text import go_quote
from ..types import BFDProfile, BGPAdvertisement, BGPPeer, IPAddressPool, L2Advertisement
from ..types import Community as CommunityCR
from ._collect import Collector
from ._durations import parse_go_duration
from ._model import BFDProfileConfig, ClusterResources, Peer, Pool
from ._pools import PoolIndex


def duplicate_names(
    out: Collector,
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


def native_restrictions(
    out: Collector,
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
        index = PoolIndex(pools)
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
            except (CommunityValueError, CommunityFormatError):
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
            except (CommunityValueError, CommunityFormatError):
                continue
            if c.large:
                out.error(
                    "Community",
                    co.name,
                    f"native BGP mode only supports legacy communities, BGP community CR {go_quote(co.name)} "
                    f"has non legacy community {_go_struct_alias(alias.name, alias.value)}",
                )


def _go_struct_alias(name: str | None, value: str | None) -> str:
    """Go's ``%q`` of a ``CommunityAlias`` value (no ``String()``): each field quoted, inside braces."""
    return f"{{{go_quote(name or '')} {go_quote(value or '')}}}"


def _nonzero_duration(text: str | None) -> bool:
    if not text:
        return False
    try:
        return parse_go_duration(text) != 0
    except ValueError:
        return True


def overlaps(out: Collector, pools: Mapping[str, Pool]) -> None:
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


def bfd_echo_on_v6(
    out: Collector, pools: Mapping[str, Pool], peers: Mapping[str, Peer], bfd: Mapping[str, BFDProfileConfig]
) -> None:
    """MetalLB's BFD echo rule: an IPv6 pool may not be advertised to a peer whose BFD profile echoes.

    Every pool that breaks it is reported, once, naming its first offending advertisement and peer (upstream
    stops at the first pool).
    """
    echoing = {name for name, peer in peers.items() if (p := bfd.get(peer.bfd_profile)) is not None and p.echo_mode}
    if not echoing:
        return
    for pool in pools.values():
        if 6 not in pool.families():
            continue
        offender = next(
            (
                (adv.name, name)
                for adv in pool.bgp_advertisements
                for name in (adv.peers if adv.peers else peers)
                if name in echoing
            ),
            None,
        )
        if offender is not None:
            adv_name, peer_name = offender
            out.error(
                "IPAddressPool",
                pool.name,
                f"pool {pool.name} has bgpadvertisement {adv_name} which references peer {peer_name} "
                "which has bfd echo enabled, which is not possible",
            )
