"""What a session advertises: ``RouteAttrs`` per prefix, and the UPDATEs that carry a change of them.

``build_updates(announce, withdraw, ...)`` packs many prefixes per UPDATE: announcements are grouped by identical
attributes (one UPDATE per group until the negotiated maximum size is reached), withdrawals are batched (IPv4 in
the withdrawn-routes field, IPv6 in MP_UNREACH_NLRI). The result is encoded frames, ready to write. Pure: no I/O.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from speaker.bgp.attributes import (
    AsPath,
    Attribute,
    Communities,
    LargeCommunities,
    LocalPref,
    MpReach,
    MpUnreach,
    NextHop,
    OriginAttr,
    UnknownAttr,
)
from speaker.bgp.constants import AS_TRANS, HEADER_LEN, Afi, AttrFlag, AttrType, MsgType, Safi
from speaker.bgp.header import Header
from speaker.bgp.prefixes import Prefix

__all__ = ["V6_KEY_BIT", "PathContext", "Prefix", "RouteAttrs", "build_updates", "path_attributes", "prefix_key"]

# Local preference sent on iBGP when an advertisement sets none: RFC 4271 §5.1.5 says iBGP UPDATEs SHALL carry
# LOCAL_PREF, and 100 is the default BIRD, FRR and GoBGP assume (MetalLB native sends 0 instead).
DEFAULT_LOCAL_PREF = 100


class _RouteAttrsFields(NamedTuple):
    communities: frozenset[int] = frozenset()
    large_communities: frozenset[tuple[int, int, int]] = frozenset()
    local_pref: int | None = None
    as_path_prepend: int = 0


class RouteAttrs(_RouteAttrsFields):
    """The attributes of one advertised prefix (immutable, hashable, compared in C: a tuple underneath, so a
    10,000-route diff costs microseconds per route, not a Python ``__eq__`` each).

    ``communities`` are RFC 1997 values (``asn << 16 | value``); ``large_communities`` RFC 8092 triples;
    ``local_pref`` is sent on iBGP only (eBGP peers never see it, as in MetalLB); ``as_path_prepend`` adds our
    ASN that many more times (BGPAdvertisement ``asPathPrepend``). Order of communities does not matter.
    """

    __slots__ = ()

    def __new__(
        cls,
        communities: frozenset[int] = frozenset(),
        large_communities: frozenset[tuple[int, int, int]] = frozenset(),
        local_pref: int | None = None,
        as_path_prepend: int = 0,
    ) -> RouteAttrs:
        if not 0 <= as_path_prepend <= 254:
            raise ValueError(f"as_path_prepend must be 0-254, not {as_path_prepend}")
        if local_pref is not None and not 0 <= local_pref <= 0xFFFFFFFF:
            raise ValueError(f"local_pref must fit 32 bits, not {local_pref}")
        return super().__new__(cls, frozenset(communities), frozenset(large_communities), local_pref, as_path_prepend)


@dataclass(frozen=True, slots=True)
class PathContext:
    """What the path attributes depend on besides ``RouteAttrs``: the session's ASNs, encoding and next hops."""

    my_asn: int
    ibgp: bool
    as4: bool
    next_hop_v4: ipaddress.IPv4Address | None
    next_hop_v6: ipaddress.IPv6Address | None
    max_length: int = 4096


V6_KEY_BIT = 1 << 136  # above every IPv4 key (address << 8 | length), so keys sort IPv4 first
_V6 = V6_KEY_BIT


def prefix_key(prefix: Prefix) -> int:
    """An int standing for ``prefix``: ``address << 8 | length``, IPv6 offset above IPv4.

    The session keys its tables by these: ``ipaddress`` networks hash in Python (microseconds each), ints in C.
    """
    key = int(prefix.network_address) << 8 | prefix.prefixlen
    return key if prefix.version == 4 else key | _V6


def _nlri(key: int) -> bytes:
    """The wire form of a prefix (RFC 4271 §4.3) straight from its key."""
    plen = key & 0xFF
    nbytes = (plen + 7) >> 3
    width = 128 if key & _V6 else 32
    addr = (key >> 8) & ((1 << width) - 1)
    return bytes((plen,)) + (addr >> (width - 8 * nbytes)).to_bytes(nbytes, "big")


def path_attributes(attrs: RouteAttrs, ctx: PathContext) -> tuple[Attribute, ...]:
    """ORIGIN IGP, AS_PATH (empty on iBGP, else our ASN; plus prepends), LOCAL_PREF on iBGP, communities."""
    count = attrs.as_path_prepend + (0 if ctx.ibgp else 1)
    out: list[Attribute] = [OriginAttr()]
    if ctx.as4 or ctx.my_asn <= 0xFFFF:
        out.append(AsPath.sequence((ctx.my_asn,) * count))
    else:
        # RFC 6793 §4.2.2: to a 2-octet peer, AS_TRANS stands in and AS4_PATH carries the real path.
        out.append(AsPath.sequence((AS_TRANS,) * count))
        if count:
            as4 = AsPath.sequence((ctx.my_asn,) * count).encode(as4=True)
            out.append(UnknownAttr(AttrFlag.OPTIONAL | AttrFlag.TRANSITIVE, AttrType.AS4_PATH, as4[3:]))
    if ctx.ibgp:
        out.append(LocalPref(DEFAULT_LOCAL_PREF if attrs.local_pref is None else attrs.local_pref))
    if attrs.communities:
        out.append(Communities(tuple(sorted(attrs.communities))))
    if attrs.large_communities:
        out.append(LargeCommunities(tuple(sorted(attrs.large_communities))))
    return tuple(out)


def _frame(body: bytes) -> bytes:
    return Header(HEADER_LEN + len(body), MsgType.UPDATE).encode() + body


def _u16(n: int) -> bytes:
    return n.to_bytes(2, "big")


def _attr_header(flags: int, tcode: int, length: int) -> bytes:
    # Always extended length for the MP attributes we fill: their size is not known in advance.
    return bytes((flags | AttrFlag.EXTENDED_LENGTH, tcode)) + _u16(length)


def _chunks(encoded: list[bytes], room: int) -> Iterable[bytes]:
    """Concatenations of ``encoded`` items, each at most ``room`` octets."""
    buf: list[bytes] = []
    size = 0
    for item in encoded:
        if size + len(item) > room and buf:
            yield b"".join(buf)
            buf, size = [], 0
        buf.append(item)
        size += len(item)
    if buf:
        yield b"".join(buf)


def _announce_v4(attrs: tuple[Attribute, ...], keys: list[int], ctx: PathContext) -> list[bytes]:
    assert ctx.next_hop_v4 is not None
    raw = b"".join(a.encode(as4=ctx.as4) for a in (*attrs, NextHop(ctx.next_hop_v4)))
    room = ctx.max_length - HEADER_LEN - 4 - len(raw)
    return [_frame(_u16(0) + _u16(len(raw)) + raw + nlri) for nlri in _chunks([_nlri(k) for k in keys], room)]


def _announce_v6(attrs: tuple[Attribute, ...], keys: list[int], ctx: PathContext) -> list[bytes]:
    assert ctx.next_hop_v6 is not None
    raw = b"".join(a.encode(as4=ctx.as4) for a in attrs)
    nh = ctx.next_hop_v6.packed
    mp_fixed = bytes((0, Afi.IPV6, Safi.UNICAST, len(nh))) + nh + b"\0"
    room = min(ctx.max_length - HEADER_LEN - 4 - len(raw) - 4 - len(mp_fixed), 0xFFFF - len(mp_fixed))
    out = []
    for nlri in _chunks([_nlri(k) for k in keys], room):
        mp = _attr_header(MpReach.FLAGS, AttrType.MP_REACH_NLRI, len(mp_fixed) + len(nlri)) + mp_fixed + nlri
        alen = len(raw) + len(mp)
        out.append(_frame(_u16(0) + _u16(alen) + raw + mp))
    return out


def _withdraw(keys: list[int], ctx: PathContext) -> list[bytes]:
    v4 = [_nlri(k) for k in keys if not k & _V6]
    v6 = [_nlri(k) for k in keys if k & _V6]
    out = [_frame(_u16(len(w)) + w + _u16(0)) for w in _chunks(v4, ctx.max_length - HEADER_LEN - 4)]
    fixed = bytes((0, Afi.IPV6, Safi.UNICAST))
    room = min(ctx.max_length - HEADER_LEN - 4 - 4 - len(fixed), 0xFFFF - len(fixed))
    for w in _chunks(v6, room):
        mp = _attr_header(MpUnreach.FLAGS, AttrType.MP_UNREACH_NLRI, len(fixed) + len(w)) + fixed + w
        out.append(_frame(_u16(0) + _u16(len(mp)) + mp))
    return out


def build_updates(
    announce: Mapping[int, RouteAttrs], withdraw: Iterable[int], ctx: PathContext
) -> tuple[list[bytes], list[int]]:
    """UPDATE frames for a change, withdrawals first, from prefix keys (``prefix_key``); and the keys that could
    not be announced (no next hop of their family). Prefixes are sorted inside each UPDATE (deterministic)."""
    frames = _withdraw(sorted(withdraw), ctx)
    groups: dict[tuple[bool, RouteAttrs], list[int]] = defaultdict(list)
    unsendable: list[int] = []
    for key, attrs in announce.items():
        v6 = bool(key & _V6)
        if (ctx.next_hop_v6 if v6 else ctx.next_hop_v4) is None:
            unsendable.append(key)
        else:
            groups[(v6, attrs)].append(key)
    for (v6, attrs), keys in sorted(groups.items(), key=lambda kv: (kv[0][0], repr(kv[0][1]))):
        pattrs = path_attributes(attrs, ctx)
        keys.sort()
        frames += _announce_v6(pattrs, keys, ctx) if v6 else _announce_v4(pattrs, keys, ctx)
    return frames, unsendable
