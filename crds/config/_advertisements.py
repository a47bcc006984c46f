"""L2Advertisement and BGPAdvertisement: each checked on its own, then attached to the pools it selects (with
MetalLB's per-pool BGP rules: aggregation length, LOCAL_PREF, and the AS path prepend count).

Two BGPAdvertisements that would send the same kind of route (a common pool, the same aggregation length, common
peers and common nodes) must agree on ``localPref`` and on ``asPathPrepend``: a router receives one UPDATE per
prefix, which cannot carry two values. The same overlap test serves both rules.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

from ..community import Community, CommunityFormatError, CommunityValueError, parse_community
from ..errors import ConfigWarning
from ..text import go_quote
from ..types import BGPAdvertisement, L2Advertisement
from ._collect import Collector, Reject, dup_string
from ._model import BGPAdvertisementConfig, L2AdvertisementConfig, LabeledObject, Pool
from ._pools import PoolIndex
from ._selectors import SelectorUse, duplicates, matching, sorted_selectors, syntax_problem


def blank_alias_communities(adv: BGPAdvertisement) -> BGPAdvertisement:
    if not adv.spec.communities:
        return adv
    kept = tuple(c for c in adv.spec.communities if ":" in c)
    return adv.model_copy(update={"spec": adv.spec.model_copy(update={"communities": kept or None})})


@functools.lru_cache(maxsize=1 << 16)
def _unknown_pool_warning(kind: str, adv: str, pool: str) -> ConfigWarning:
    """One warning value per (advertisement, missing pool), made once and shared by later parses.

    The webhook parses a few pools against every advertisement twice per review, so the same names miss the
    index again and again; formatting them each time cost most of a pool review. The values are frozen.
    """
    return ConfigWarning(f"{kind}/{adv}", f"ipAddressPools names pool {go_quote(pool)}, which does not exist")


def _warn_unknown_pools(out: Collector, adv: BGPAdvertisement | L2Advertisement, index: PoolIndex) -> None:
    names = adv.spec.ip_address_pools
    if not names:
        return
    known = index.names
    kind = adv.api.kind
    out.warn(_unknown_pool_warning(kind, adv.name, name) for name in names if name not in known)


def parse_l2_advertisements(
    out: Collector,
    advs: Sequence[L2Advertisement],
    index: PoolIndex,
    pools: Mapping[str, Pool],
    nodes: Sequence[LabeledObject] | None,
) -> dict[str, list[L2AdvertisementConfig]]:
    res: dict[str, list[L2AdvertisementConfig]] = {}
    # Equal advertisements without preferences are attached to a pool once (see below). Instead of comparing each
    # with every one already attached to each pool it selects (quadratic when thousands select the same pools),
    # each gets a number shared with the equal ones, and each number the set of pools it is attached to.
    equal = _EqualAdvertisements()
    attached_to: dict[int, set[str]] = {}
    for adv in advs:
        s = adv.spec
        problem = (
            dup_string(s.ip_address_pools, "ipAddressPools")
            or duplicates(s.ip_address_pool_selectors, "ipAddressPoolSelectors")
            or duplicates(s.node_selectors, "nodeSelectors")
            or duplicates(s.service_selectors, "serviceSelectors")
            or syntax_problem(s.node_selectors, SelectorUse.ADVERTISEMENT_NODES, adv.name)
            or syntax_problem(s.service_selectors, SelectorUse.ADVERTISEMENT_SERVICES, adv.name)
            or syntax_problem(
                [pref.preference for pref in s.preferred_node_selectors or ()],
                SelectorUse.ADVERTISEMENT_PREFERRED_NODES,
                adv.name,
            )
            or syntax_problem(s.ip_address_pool_selectors, SelectorUse.ADVERTISEMENT_POOLS, adv.name)
        )
        if problem:
            out.error("L2Advertisement", adv.name, problem)
            continue
        _warn_unknown_pools(out, adv, index)
        parsed = L2AdvertisementConfig(
            name=adv.name,
            node_selectors=sorted_selectors(s.node_selectors),
            nodes=matching(nodes, list(s.node_selectors or ())),
            interfaces=tuple(s.interfaces or ()),
            service_selectors=sorted_selectors(s.service_selectors),
            preferred_node_selectors=tuple(s.preferred_node_selectors or ()),
        )
        # The same advertisement reached through a name and a selector is attached once (``selected`` is a
        # set); equal advertisements without preferences are merged, as upstream does (weights must stack).
        targets = index.selected(adv) & pools.keys()
        if not parsed.preferred_node_selectors:
            done = attached_to.setdefault(equal.number(parsed), set())
            targets -= done
            done |= targets
        for pool_name in sorted(targets):
            attached = res.get(pool_name)
            if attached is None:
                res[pool_name] = [parsed]
            else:
                attached.append(parsed)
    return res


class _EqualAdvertisements:
    """A number per advertisement, shared by all that are equal (``==``, which ignores the name).

    Candidates are grouped by a key that equal advertisements share, so only those in a group are compared.
    """

    def __init__(self) -> None:
        self._groups: dict[tuple[object, ...], list[tuple[L2AdvertisementConfig, int]]] = {}
        self._count = 0

    def number(self, parsed: L2AdvertisementConfig) -> int:
        key = (
            tuple(sel.canonical() for sel in parsed.node_selectors),
            parsed.nodes,
            parsed.interfaces,
            tuple(sel.canonical() for sel in parsed.service_selectors),
        )
        group = self._groups.setdefault(key, [])
        for other, number in group:
            if other == parsed:
                return number
        self._count += 1
        group.append((parsed, self._count))
        return self._count


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


def parse_bgp_advertisements(
    out: Collector,
    advs: Sequence[BGPAdvertisement],
    index: PoolIndex,
    pools: Mapping[str, Pool],
    communities: Mapping[str, Community],
    nodes: Sequence[LabeledObject] | None,
) -> dict[str, list[BGPAdvertisementConfig]]:
    res: dict[str, list[BGPAdvertisementConfig]] = {}
    # MetalLB compares whole objects (names included), so only advertisements sharing a name can be equal.
    by_name: dict[str, list[int]] = {}
    for i, a in enumerate(advs):
        by_name.setdefault(a.name, []).append(i)
    twins = [(i, j) for group in by_name.values() if len(group) > 1 for i in group for j in group if i < j]
    dumps = {i: advs[i].spec.dump() for pair in twins for i in pair}
    for i, j in sorted(twins):
        if dumps[i] == dumps[j]:
            out.error(
                "BGPAdvertisement",
                advs[j].name,
                f"duplicate definition of bgpadvertisements. advertisement {i + 1} and {j + 1} are equal",
            )
    for adv in advs:
        try:
            parsed = _bgp_advertisement(adv, communities, nodes)
        except Reject as exc:
            out.error("BGPAdvertisement", adv.name, exc.what, transient=exc.transient)
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
        dup_string(s.ip_address_pools, "ipAddressPools")
        or dup_string(s.communities, "community")
        or dup_string(s.peers, "peers")
        or duplicates(s.ip_address_pool_selectors, "ipAddressPoolSelectors")
        or duplicates(s.node_selectors, "nodeSelectors")
        or duplicates(s.service_selectors, "serviceSelectors")
    )
    if problem:
        raise Reject(problem)
    if s.service_selectors:
        if s.aggregation_length != 32:
            raise Reject(
                f"serviceSelectors and aggregationLength are mutually exclusive, both cannot be set in {adv.name}"
            )
        if s.aggregation_length_v6 != 128:
            raise Reject(
                f"serviceSelectors and aggregationLengthV6 are mutually exclusive, both cannot be set in {adv.name}"
            )
    if s.aggregation_length > 32:
        raise Reject(f"invalid aggregation length {_go_rune(s.aggregation_length)} for IPv4")
    if s.aggregation_length_v6 > 128:
        raise Reject(f"invalid aggregation length {_go_rune(s.aggregation_length_v6)} for IPv6")
    values: set[Community] = set()
    for c in s.communities or ():
        if c in communities:
            values.add(communities[c])
            continue
        try:
            values.add(parse_community(c))
        except CommunityValueError as exc:
            raise Reject(f"{exc}\ninvalid community {go_quote(c)} in BGP advertisement") from None
        except CommunityFormatError as exc:
            # Only a bare word can be an alias that is created later; "a:b:c" never becomes valid.
            # (MetalLB marks both transient.)
            raise Reject(
                f"{exc}\ninvalid community {go_quote(c)} in BGP advertisement", transient=":" not in c
            ) from None
    problem = (
        syntax_problem(s.node_selectors, SelectorUse.ADVERTISEMENT_NODES, adv.name)
        or syntax_problem(s.service_selectors, SelectorUse.ADVERTISEMENT_SERVICES, adv.name)
        or syntax_problem(s.ip_address_pool_selectors, SelectorUse.ADVERTISEMENT_POOLS, adv.name)
    )
    if problem:
        raise Reject(problem)
    return BGPAdvertisementConfig(
        name=adv.name,
        aggregation_length=s.aggregation_length,
        aggregation_length_v6=s.aggregation_length_v6,
        local_pref=s.local_pref or 0,
        as_path_prepend=s.as_path_prepend or 0,
        communities=frozenset(values),
        node_selectors=sorted_selectors(s.node_selectors),
        nodes=matching(nodes, list(s.node_selectors or ())),
        peers=tuple(s.peers or ()),
        service_selectors=sorted_selectors(s.service_selectors),
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
        if other.service_selectors or not _same_update(adv, other, pool):
            continue
        if adv.local_pref != other.local_pref:
            return (
                f"invalid local preference {adv.local_pref}: local preferernce {other.local_pref} was already set "
                "for the same type of BGP update. Check existing BGP advertisements with common pools and "
                "aggregation lengths"
            )
        if adv.as_path_prepend != other.as_path_prepend:
            return (
                f"invalid AS path prepend {adv.as_path_prepend}: AS path prepend {other.as_path_prepend} was "
                "already set for the same type of BGP update. Check existing BGP advertisements with common "
                "pools and aggregation lengths"
            )
    return None


def _same_update(new: BGPAdvertisementConfig, old: BGPAdvertisementConfig, pool: Pool) -> bool:
    """Whether two advertisements of ``pool`` may announce one prefix to one peer from one node (MetalLB's
    ``BGPAdvertisementsHaveCompatibleLocalPref`` without its first, value-comparing test)."""
    fams = pool.families()
    has4, has6 = 4 in fams, 6 in fams
    if not has4 and not has6:
        return False
    if old.aggregation_length != new.aggregation_length and not has6:
        return False
    if old.aggregation_length_v6 != new.aggregation_length_v6 and not has4:
        return False
    if old.aggregation_length != new.aggregation_length and old.aggregation_length_v6 != new.aggregation_length_v6:
        return False
    if new.peers and old.peers and not set(new.peers) & set(old.peers):
        return False
    if new.nodes is None or old.nodes is None:
        # Nodes unknown (offline): the selectors decide; identical or empty selectors share nodes.
        a = {s.canonical() for s in new.node_selectors}
        b = {s.canonical() for s in old.node_selectors}
        return not (a and b and a != b)
    return bool(new.nodes & old.nodes)
