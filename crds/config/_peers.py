"""BGPPeer: one peer at a time (ASNs, addresses, timers, selectors, password Secret), and the rules between
peers of the FRR backends and of the native speaker.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..addresses import parse_ip
from ..errors import InternalInvariantError
from ..meta import LabelSelector
from ..text import go_quote
from ..types import BGPPeer
from ._collect import Collector, Reject
from ._durations import format_go_duration_ns, parse_go_duration, parse_go_duration_ns
from ._model import BFDProfileConfig, ClusterResources, LabeledObject, ParseOptions, Peer
from ._selectors import SelectorUse, duplicates, matching, sorted_selectors, syntax_problem


def blank_peer_references(peer: BGPPeer) -> BGPPeer:
    spec = peer.spec.model_copy(update={"bfd_profile": None, "password_secret": None})
    return peer.model_copy(update={"spec": spec})


def _div3(ns: int) -> int:
    """Go's ``Duration / 3``: integer division truncating toward zero."""
    return ns // 3 if ns >= 0 else -(-ns // 3)


def _go_duration_pointer(ns: int | None) -> str:
    """Go's ``%q`` of a ``*metav1.Duration``: its generated ``String()`` quoted, ``"nil"`` when not given."""
    if ns is None:
        return go_quote("nil")
    return go_quote(f"&Duration{{Duration:{format_go_duration_ns(ns)},}}")


def _timers(hold: str | None, keepalive: str | None) -> tuple[float | None, float | None]:
    """MetalLB's ``parseTimers``: hold alone gives keepalive hold/3; keepalive alone gives hold 3 x keepalive.

    Upstream prints the *given* ``*metav1.Duration`` values with ``%q`` (the generated ``String()``:
    ``"&Duration{Duration:1m30s,}"``, or ``"nil"`` for one not given: a keepalive alone can make the derived hold
    time too short).
    """
    if hold is None and keepalive is None:
        return None, None
    try:
        ht_given = parse_go_duration_ns(hold.strip()) if hold is not None else None
    except ValueError:
        raise Reject(f"invalid hold time {go_quote(hold or '')}: not a duration (e.g. 90s, 1m30s)") from None
    try:
        ka_given = parse_go_duration_ns(keepalive.strip()) if keepalive is not None else None
    except ValueError:
        raise Reject(f"invalid keepaliveTime {go_quote(keepalive or '')}: not a duration (e.g. 30s)") from None
    if ht_given is not None:
        ht = ht_given
        ka = ka_given if ka_given is not None else _div3(ht_given)
    elif ka_given is not None:
        ht, ka = ka_given * 3, ka_given
    else:
        raise InternalInvariantError("parseTimers: one of hold and keepalive must be set here")
    shown_hold = _go_duration_pointer(ht_given)
    rounded = int(ht / 1e9)  # time.Duration(int(holdTime.Seconds())): truncated to whole seconds
    if rounded != 0 and rounded < 3:
        raise Reject(f"invalid hold time {shown_hold}: must be 0 or >=3s")
    if ka > ht:
        raise Reject(
            f"invalid keepaliveTime {_go_duration_pointer(ka_given)}, must be lower than holdTime {shown_hold}"
        )
    return ht / 1e9, ka / 1e9


def _peer(p: BGPPeer, bfd: Mapping[str, BFDProfileConfig], resources: ClusterResources, opts: ParseOptions) -> Peer:
    """One BGPPeer; raises ``Reject`` with MetalLB's inner message."""
    s = p.spec
    asn = s.peer_asn or 0
    if s.my_asn == 0:
        raise Reject("missing local ASN")
    if asn == 0 and not s.dynamic_asn:
        raise Reject("missing peer ASN and dynamicASN")
    if asn != 0 and s.dynamic_asn:
        raise Reject("both peer ASN and dynamicASN specified")
    if s.dynamic_asn and s.dynamic_asn not in ("internal", "external"):
        raise Reject(f"invalid dynamicASN {s.dynamic_asn}")
    if asn == s.my_asn and s.ebgp_multi_hop:
        raise Reject("invalid ebgp-multihop parameter set for an ibgp peer")
    if not s.peer_address and not s.interface:
        raise Reject("peer has no Address or Interface specified")
    if s.peer_address and s.interface:
        raise Reject("peer has both Address and Interface specified")
    try:
        hold, keepalive = _timers(s.hold_time, s.keepalive_time)
    except Reject as exc:
        raise Reject(f"invalid BGPPeer timers: {exc.what}") from None
    address = _optional_ip(s.peer_address, "invalid BGPPeer address")
    router_id = _optional_ip(s.router_id, "invalid router ID")
    source = _optional_ip(s.source_address, "invalid source IP")
    problem = duplicates(s.node_selectors, "nodeSelectors") or syntax_problem(
        s.node_selectors, SelectorUse.PEER_NODES, p.name
    )
    if problem:
        raise Reject(problem)
    secret_name = s.password_secret.name if s.password_secret and s.password_secret.name else ""
    if s.password and secret_name:
        raise Reject(
            f"can not have both password and secret ref set in peer config {go_quote(p.namespace)}/{go_quote(p.name)}"
        )
    secret_password = ""
    if secret_name and not opts.secret_passthrough:
        secret = resources.secrets.get(secret_name)
        if secret is None:
            raise Reject(
                f"secret ref not found for peer config {go_quote(p.namespace)}/{go_quote(p.name)}\n"
                f"failed to parse peer {p.name} password secret",
                transient=True,
            )
        if secret.type != "kubernetes.io/basic-auth":
            raise Reject(
                f"secret type mismatch on {go_quote(secret.namespace)}/{go_quote(secret.name)}, "
                f'type "kubernetes.io/basic-auth" is expected \nfailed to parse peer {p.name} password secret'
            )
        if secret.password is None:
            raise Reject(
                f"password not specified in the secret {go_quote(secret.namespace)}/{go_quote(secret.name)}\n"
                f"failed to parse peer {p.name} password secret"
            )
        secret_password = secret.password
    connect = None
    if s.connect_time is not None:
        try:
            connect = parse_go_duration(s.connect_time)
        except ValueError:
            raise Reject(f"invalid connect time {go_quote(s.connect_time)}: not a duration") from None
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
        node_selectors=sorted_selectors(s.node_selectors),
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
        raise Reject(f"{what} {go_quote(text)}")
    return str(ip)


def parse_peers(
    out: Collector,
    peers_cr: Sequence[BGPPeer],
    bfd: Mapping[str, BFDProfileConfig],
    resources: ClusterResources,
    opts: ParseOptions,
) -> dict[str, Peer]:
    res: dict[str, Peer] = {}
    for p in peers_cr:
        try:
            peer = _peer(p, bfd, resources, opts)
        except Reject as exc:
            out.error("BGPPeer", p.name, f"parsing peer {p.name} {exc.what}", transient=exc.transient)
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


def shares_node(
    a: Sequence[LabelSelector] | None,
    b: Sequence[LabelSelector] | None,
    nodes: Sequence[LabeledObject] | None,
) -> bool:
    """Whether two node selections can pick a common node. Unknown nodes: assume they can."""
    if not nodes:
        return True
    sa = matching(nodes, list(a or ())) or frozenset()
    sb = matching(nodes, list(b or ())) or frozenset()
    return bool(sa & sb)


def _peer_identifier(p: BGPPeer) -> str:
    ident = p.spec.peer_address or p.spec.interface or ""
    if p.spec.vrf:
        ident += f"-{p.spec.vrf}"
    return ident


def frr_peer_compatibility(out: Collector, peers: Sequence[BGPPeer], nodes: Sequence[LabeledObject] | None) -> None:
    for i, p in enumerate(peers):
        for q in peers[:i]:
            if not shares_node(p.spec.node_selectors, q.spec.node_selectors, nodes):
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


def duplicate_peer_addresses(out: Collector, peers: Sequence[BGPPeer], nodes: Sequence[LabeledObject] | None) -> None:
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
                shares = shares_node(p.spec.node_selectors, q.spec.node_selectors, nodes)
            if shares:
                vrf = f' in VRF "{p.spec.vrf}"' if p.spec.vrf else ""
                out.error(
                    "BGPPeer",
                    p.name,
                    f"peer {p.name} has the same address {p.spec.peer_address} and port {p.spec.peer_port}{vrf} "
                    f"as peer {q.name} on the same nodes",
                )
                break
