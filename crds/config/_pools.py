"""IPAddressPool: address entries and ``serviceAllocation``; ``PoolIndex`` resolves advertisements to pools."""

from __future__ import annotations

from collections.abc import Sequence

from ..addresses import AddressEntry, EntryError, parse_entry
from ..meta import LabelSelector, selector_matches
from ..text import go_quote
from ..types import BGPAdvertisement, IPAddressPool, L2Advertisement
from ._collect import Collector, Reject
from ._model import LabeledObject, Pool, ServiceAllocationConfig
from ._selectors import SelectorUse, duplicates, matching, sorted_selectors, syntax_problem


def _service_allocation(p: IPAddressPool, namespaces: Sequence[LabeledObject] | None) -> ServiceAllocationConfig | None:
    sa = p.spec.service_allocation
    if sa is None:
        return None
    names = list(sa.namespaces or ())
    if len(set(names)) != len(names):
        raise Reject("duplicate definition in namespaces field")
    if not names and not sa.namespace_selectors and not sa.service_selectors:
        return ServiceAllocationConfig(priority=sa.priority or 0, service_selectors=(LabelSelector(),))
    problem = (
        duplicates(sa.namespace_selectors, "namespaceSelectors")
        or duplicates(sa.service_selectors, "serviceSelectors")
        or syntax_problem(sa.namespace_selectors, SelectorUse.POOL_NAMESPACES, p.name)
        or syntax_problem(sa.service_selectors, SelectorUse.POOL_SERVICES, p.name)
    )
    if problem:
        raise Reject(problem)
    resolved = set(names)
    if sa.namespace_selectors and namespaces is not None:
        resolved |= matching(namespaces, list(sa.namespace_selectors)) or set()
    return ServiceAllocationConfig(
        priority=sa.priority or 0,
        namespaces=frozenset(resolved),
        namespace_selectors=sorted_selectors(sa.namespace_selectors),
        service_selectors=sorted_selectors(sa.service_selectors),
    )


def parse_pools(
    out: Collector, pools_cr: Sequence[IPAddressPool], namespaces: Sequence[LabeledObject] | None
) -> dict[str, Pool]:
    res: dict[str, Pool] = {}
    for p in pools_cr:
        if p.name in res:
            out.error("IPAddressPool", p.name, f"duplicate definition of pool {go_quote(p.name)}")
            continue
        try:
            pool = _pool(p, namespaces)
        except Reject as exc:
            out.error("IPAddressPool", p.name, f"parsing address pool {p.name}: {exc.what}")
            continue
        res[p.name] = pool
    return res


def _pool(p: IPAddressPool, namespaces: Sequence[LabeledObject] | None) -> Pool:
    if not p.name:
        raise Reject("missing pool name")
    if not p.spec.addresses:
        raise Reject("pool has no prefixes defined")
    entries: list[AddressEntry] = []
    seen: dict[tuple[int, int, int], str] = {}
    for text in p.spec.addresses:
        try:
            entry = parse_entry(text)
        except EntryError as exc:
            raise Reject(f"invalid CIDR {go_quote(text)} in pool {go_quote(p.name)}: {exc}") from None
        key = (entry.family, entry.first, entry.last)
        if key in seen:
            raise Reject(
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


class PoolIndex:
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
