"""Properties of the layer 2 election over random clusters: agreement, stability, one node per Service.

Each example draws Nodes (labels, exclusion, NetworkUnavailable), live members, advertisements (node and
service selectors, preferred weights) and a Service with endpoints, then runs every speaker's decision.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from alloc_helpers import service
from hypothesis import given, settings
from hypothesis import strategies as st
from speaker_helpers import cfg, ep, eps, l2ad, node, pool, prefer, sel

from crds.config import Config
from reconciler.core import l2
from reconciler.core.l2 import L2Election, l2_announcements, l2_owners
from reconciler.core.nodes import EndpointSliceView, NodeView
from reconciler.core.services import ServiceView

NAMES = [f"node-{i}" for i in range(6)]
POOL = ("198.51.100.0/24", "2001:db8::/64")
Example = tuple[Config, dict[str, NodeView], frozenset[str] | None, ServiceView, tuple[EndpointSliceView, ...]]
"""A drawn cluster: config, Nodes, live members (None: no membership), a Service and its EndpointSlices."""


@st.composite
def clusters(
    draw: st.DrawFn,
) -> Example:
    names = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=6, unique=True))
    node_views = {
        n: node(
            n,
            labels={"rack": draw(st.sampled_from("ab"))},
            excluded=draw(st.booleans()) and draw(st.booleans()),
            unavailable=draw(st.booleans()) and draw(st.booleans()),
        )
        for n in names
    }
    members = draw(st.none() | st.frozensets(st.sampled_from(NAMES), min_size=2))
    ads = []
    for i in range(draw(st.integers(1, 3))):
        rack = draw(st.sampled_from([None, "a", "b"]))
        preferred = draw(st.lists(st.sampled_from(NAMES), max_size=2))
        ads.append(
            replace(
                l2ad(
                    f"ad{i}",
                    services=(sel(app=draw(st.sampled_from("xy"))),) if draw(st.integers(0, 2)) == 0 else (),
                    preferred=(prefer(draw(st.integers(1, 100)), *preferred),) if preferred else (),
                ),
                node_selectors=(sel(rack=rack),) if rack else (),
            )
        )
    ips = [f"198.51.100.{draw(st.integers(1, 254))}"]
    if draw(st.booleans()):
        ips.append(f"2001:db8::{draw(st.integers(1, 0xFFFF)):x}")
    view = service(
        "svc",
        ingress=tuple(ips),
        labels={"app": draw(st.sampled_from("xy"))},
        etp=draw(st.sampled_from(["Cluster", "Local"])),
    )
    ready = st.sampled_from([True, True, True, False])
    endpoints = [ep(n, ready=draw(ready)) for n in draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=4))]
    return cfg(pool(addresses=POOL, l2=ads)), node_views, members, view, eps(endpoints)


def announcers(
    config: Config,
    node_views: dict[str, NodeView],
    members: frozenset[str] | None,
    view: ServiceView,
    slices: tuple[EndpointSliceView, ...],
) -> list[str]:
    """Every Node runs its own speaker; who says it announces?"""
    return [
        n
        for n in NAMES
        if l2_announcements(n, config, [view], node_views, {view.key: slices}, members)[view.key].announce
    ]


def owner(
    config: Config,
    node_views: dict[str, NodeView],
    members: frozenset[str] | None,
    view: ServiceView,
    slices: tuple[EndpointSliceView, ...],
) -> str | None:
    d = l2_owners(config, [view], node_views, {view.key: slices}, members)[view.key]
    return d.owner if d.announce else None


@given(clusters())
def test_speakers_agree_on_at_most_one_owner_and_plan_names_it(
    cluster: Example,
) -> None:
    who = announcers(*cluster)
    assert len(who) <= 1
    assert owner(*cluster) == (who[0] if who else None)


@given(clusters(), st.sampled_from(NAMES), st.booleans())
def test_losing_a_node_that_does_not_announce_never_moves_the_vip(
    cluster: Example,
    gone: str,
    from_api: bool,
) -> None:
    config, node_views, members, view, slices = cluster
    before = owner(*cluster)
    if gone == before:
        return
    if from_api:
        node_views = {n: v for n, v in node_views.items() if n != gone}
    else:
        members = (frozenset(node_views) if members is None else members) - {gone}
    after = owner(config, node_views, members, view, slices)
    if before is not None:
        assert after == before


@given(clusters(), st.integers(1, 254))
def test_dual_stack_and_shared_ips_land_on_one_node(
    cluster: Example,
    other: int,
) -> None:
    config, node_views, members, view, slices = cluster
    first_only = replace(view, current_ips=view.current_ips[:1])
    sharer = replace(
        view, key="default/sharer", name="sharer", current_ips=(*view.current_ips[:1], (4, 0xC6336400 + other))
    )
    expected = owner(config, node_views, members, first_only, slices)
    assert owner(config, node_views, members, view, slices) == expected
    assert owner(config, node_views, members, sharer, slices) == expected


@settings(max_examples=1500, deadline=None)
@given(clusters(), st.sampled_from(NAMES), st.frozensets(st.sampled_from(NAMES)))
def test_a_decision_changes_on_a_death_only_when_its_rival_dies_and_a_join_never_makes_a_loser_win(
    example: Example,
    me: str,
    others: frozenset[str],
) -> None:
    """What lets a speaker re-decide, on a membership change, only the Services it must: after deaths, those
    whose rival died; after joins, those it announces."""
    _rival_holds(example, me, others)


@settings(max_examples=500, deadline=None)
@given(clusters(), st.sampled_from(NAMES), st.frozensets(st.sampled_from(NAMES)))
def test_the_rival_holds_too_when_losers_stop_hashing_at_the_first_better_candidate(
    example: Example,
    me: str,
    others: frozenset[str],
) -> None:
    """Beyond RIVAL_HASH_ALL candidates a loser names the first candidate found to beat it, not the winner."""
    saved = l2.RIVAL_HASH_ALL
    l2.RIVAL_HASH_ALL = 0
    try:
        _rival_holds(example, me, others)
    finally:
        l2.RIVAL_HASH_ALL = saved


def _rival_holds(
    example: Example,
    me: str,
    others: frozenset[str],
) -> None:
    config, node_views, members, view, slices = example
    live = (members or frozenset(NAMES)) | {me}  # a speaker is always alive to itself
    election = L2Election(config, node_views, live)
    decision, rival = election.decide_with_rival(me, view, slices)
    assert decision == election.decide(me, view, slices)
    dead = others - {me}
    after_deaths = L2Election(config, node_views, live - dead).decide(me, view, slices)
    if rival is None or rival not in dead:
        assert after_deaths == decision, (rival, dead)
    after_joins = L2Election(config, node_views, live | others).decide(me, view, slices)
    if not decision.announce:
        assert not after_joins.announce


@pytest.mark.parametrize("hash_all", [16, 0], ids=["winner-named", "first-better-named"])
def test_every_single_death_changes_a_decision_only_through_its_rival(hash_all: int) -> None:
    """Four equal nodes, 200 IPs, every node's view, every single death: the decision changes only when the named
    rival dies (and, up to RIVAL_HASH_ALL candidates, the rival is the winner)."""
    names = ["node-0", "node-1", "node-2", "node-3"]
    node_views = {n: node(n) for n in names}
    config = cfg(pool(addresses=POOL, l2=[l2ad("ad0")]))
    slices = eps([ep(n) for n in names])
    saved = l2.RIVAL_HASH_ALL
    l2.RIVAL_HASH_ALL = hash_all
    try:
        for i in range(1, 201):
            view = service("svc", ingress=(f"198.51.100.{i}",))
            election = L2Election(config, node_views, frozenset(names))
            winner = l2_owners(config, [view], node_views, {view.key: slices})[view.key].owner
            for me in names:
                decision, rival = election.decide_with_rival(me, view, slices)
                if hash_all:
                    assert rival == (None if me == winner else winner)
                for dead in set(names) - {me}:
                    after = L2Election(config, node_views, frozenset(names) - {dead}).decide(me, view, slices)
                    assert after == decision or rival == dead, (i, me, dead, rival)
    finally:
        l2.RIVAL_HASH_ALL = saved
