"""The speaker hands the selection's per-route attributes to the BGP session unchanged."""

from __future__ import annotations

from crds.community import parse_community
from reconciler.core.bgp import RouteAttributes
from speaker.bgp.routes import RouteAttrs
from speaker.bgp_announcer import route_attrs


def test_route_attrs_carry_communities_local_pref_and_as_path_prepend() -> None:
    selected = RouteAttributes(
        communities=(parse_community("64512:7"),),
        large_communities=(parse_community("large:64512:1:2"),),
        local_pref=150,
        as_path_prepend=3,
    )
    assert route_attrs(selected) == RouteAttrs(
        frozenset({(64512 << 16) | 7}), frozenset({(64512, 1, 2)}), local_pref=150, as_path_prepend=3
    )
