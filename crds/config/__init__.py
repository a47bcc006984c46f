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

This package's face is this module: ``parse_config``, its inputs and its result types. The private modules
behind it hold one kind each (``_pools``, ``_peers``, ``_bfd``, ``_communities``, ``_advertisements``), the
rules that span objects (``_rules``), label selector checks (``_selectors``, the only place selectors are
judged), Go durations (``_durations``) and the collector of problems (``_collect``).
"""

from __future__ import annotations

# Names the single-module parser exposed by import; kept importable from here for callers that used them.
from ..addresses import AddressEntry as AddressEntry
from ..addresses import Cidr as Cidr
from ..community import Community as Community
from ..errors import ConfigError as ConfigError
from ..errors import ConfigWarning as ConfigWarning
from ..errors import TransientConfigError as TransientConfigError
from ..meta import LabelSelector as LabelSelector
from ..text import go_quote as go_quote
from ._advertisements import blank_alias_communities, parse_bgp_advertisements, parse_l2_advertisements
from ._bfd import parse_bfd_profiles
from ._collect import Collector, by_name
from ._communities import parse_communities
from ._durations import format_go_duration, parse_go_duration
from ._model import (
    BFDProfileConfig,
    BGPAdvertisementConfig,
    BgpMode,
    ClusterResources,
    Config,
    L2AdvertisementConfig,
    LabeledObject,
    ParseOptions,
    ParseResult,
    Peer,
    Pool,
    SecretInfo,
    ServiceAllocationConfig,
)
from ._peers import blank_peer_references, duplicate_peer_addresses, frr_peer_compatibility, parse_peers
from ._pools import PoolIndex, parse_pools
from ._rules import bfd_echo_on_v6, duplicate_names, native_restrictions, overlaps
from ._selectors import go_selector_string

__all__ = [
    "BFDProfileConfig",
    "BGPAdvertisementConfig",
    "BgpMode",
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
    "go_selector_string",
    "parse_config",
    "parse_go_duration",
]


def parse_config(resources: ClusterResources, options: ParseOptions | None = None) -> ParseResult:
    """Parse and validate everything in ``resources``; see the module docstring for the rules."""
    opts = options or ParseOptions()
    out = Collector()
    pools_cr = by_name(resources.pools, opts.last)
    peers_cr = by_name(resources.peers, opts.last)
    bfd_cr = by_name(resources.bfd_profiles, opts.last)
    bgp_cr = by_name(resources.bgp_advertisements, opts.last)
    l2_cr = by_name(resources.l2_advertisements, opts.last)
    comm_cr = by_name(resources.communities, opts.last)

    if opts.skip_transient:
        peers_cr = [blank_peer_references(p) for p in peers_cr]
        bgp_cr = [blank_alias_communities(a) for a in bgp_cr]

    duplicate_names(out, [*peers_cr, *bfd_cr, *bgp_cr, *l2_cr, *comm_cr])

    if opts.bgp_mode == "native":
        native_restrictions(out, resources, pools_cr, peers_cr, bfd_cr, bgp_cr, comm_cr)
    elif opts.bgp_mode is not None:
        frr_peer_compatibility(out, peers_cr, resources.nodes)

    bfd = parse_bfd_profiles(out, bfd_cr)
    peers = parse_peers(out, peers_cr, bfd, resources, opts)
    if opts.bgp_mode == "native":
        duplicate_peer_addresses(out, peers_cr, resources.nodes)
    communities = parse_communities(out, comm_cr)
    pools = parse_pools(out, pools_cr, resources.namespaces)
    overlaps(out, pools)
    index = PoolIndex(pools_cr)
    l2_by_pool = parse_l2_advertisements(out, l2_cr, index, pools, resources.nodes)
    bgp_by_pool = parse_bgp_advertisements(out, bgp_cr, index, pools, communities, resources.nodes)

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
    bfd_echo_on_v6(out, final_pools, peers, bfd)

    config = None
    if not out.errors:
        config = Config(
            pools=final_pools,
            peers=dict(sorted(peers.items())),
            bfd_profiles=dict(sorted(bfd.items())),
            communities=dict(sorted(communities.items())),
        )
    return ParseResult(config, tuple(out.errors), tuple(out.warnings))
