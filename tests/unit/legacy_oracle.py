"""An independent reading of MetalLB's legacy (v0.12) ConfigMap config straight into our ``Config``.

This is the "legacy parse" of the proof that ``pymetallb migrate`` keeps the meaning: it follows
``internal/config/config.go`` at v0.12.1 (``Parse``, ``parsePeer``, ``parseHoldTime``,
``parseKeepaliveTime``, ``parseAddressPool``, ``parseBGPAdvertisements``, ``parseBFDProfile``) and
builds the parser's output dataclasses directly. It deliberately does not use ``crds.legacy`` and
does not build any CR; it shares only the value parsers ``parse_entry`` and ``parse_community``.

The only choices that are ours rather than v0.12's are the names, which the conversion must
invent: ``peer<N>`` for peers, pool and BFD profile names made valid for Kubernetes (the rule is
reimplemented here, see ``k8s_name``). Advertisement names are not compared (``compare=False``).

It reads *valid* configs; on something v0.12 rejects it raises ``OracleError`` (it is not a
validator and its messages are not MetalLB's).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from crds.addresses import AddressEntry, parse_entry
from crds.community import Community, parse_community
from crds.config import (
    BFDProfileConfig,
    BGPAdvertisementConfig,
    Config,
    L2AdvertisementConfig,
    Peer,
    Pool,
)
from crds.meta import LabelSelector, LabelSelectorRequirement

__all__ = ["OracleError", "k8s_name", "normalise", "oracle_config"]


class OracleError(ValueError):
    """The legacy config is not one v0.12 accepts (or one this oracle does not model)."""


# --- names (the converter's rule, reimplemented) ---------------------------------------------------


def k8s_name(name: str) -> str:
    """Upstream ``formatToK8S`` (v0.13.11+) plus our completion of it.

    Valid names (``^[a-z][-a-z0-9]{0,61}[a-z0-9]$``) are kept. Otherwise: first 63 characters,
    lower case, ``_`` to ``-``, everything before the first letter dropped; then (ours) any other
    character outside ``[-a-z0-9]`` to ``-`` and trailing ``-`` dropped.
    """
    if re.fullmatch(r"[a-z][-a-z0-9]{0,61}[a-z0-9]", name):
        return name
    out = name[:63].lower().replace("_", "-")
    for pos, ch in enumerate(out):
        if "a" <= ch <= "z":
            out = out[pos:]
            break
    else:
        raise OracleError(f"name {name!r} cannot be made valid")
    out = "".join(ch if ch == "-" or "a" <= ch <= "z" or "0" <= ch <= "9" else "-" for ch in out)
    return out.rstrip("-")


# --- Go durations (only what time.ParseDuration accepts) -------------------------------------------

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def go_duration_seconds(text: str) -> float:
    s = text
    sign = 1.0
    if s and s[0] in "+-":
        sign = -1.0 if s[0] == "-" else 1.0
        s = s[1:]
    if s == "0":
        return 0.0
    if not s:
        raise OracleError(f"invalid duration {text!r}")
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)", s):
        total += float(number) * _UNITS[unit]
    if not re.fullmatch(r"(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+", s):
        raise OracleError(f"invalid duration {text!r}")
    return sign * total


# --- the reading -----------------------------------------------------------------------------------


def _ip(text: str, what: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise OracleError(f"invalid {what} {text!r}") from None


def _hold_time(text: str | None) -> float:
    """v0.12 ``parseHoldTime``: 90s when unset, else truncated to whole seconds, 0 or >= 3s."""
    if text is None or text == "":
        return 90.0
    rounded = float(int(go_duration_seconds(text)))
    if rounded != 0 and rounded < 3:
        raise OracleError(f"invalid hold time {text!r}")
    return rounded


def _keepalive_time(hold: float, text: str | None) -> float:
    """v0.12 ``parseKeepaliveTime``: hold/3 when unset (a ``time.Duration``, so whole nanoseconds, truncated),
    else truncated to whole seconds."""
    if text is None or text == "":
        return round(hold * 1e9) // 3 / 1e9
    return float(int(go_duration_seconds(text)))


def _selector(raw: Mapping[str, Any]) -> LabelSelector:
    labels = dict(raw.get("match-labels") or {})
    exprs = tuple(
        LabelSelectorRequirement(key=e["key"], operator=e["operator"], values=tuple(e.get("values") or ()) or None)
        for e in raw.get("match-expressions") or ()
    )
    return LabelSelector(match_labels=labels or None, match_expressions=exprs or None)


def _peer(index: int, raw: Mapping[str, Any], bfd_names: Mapping[str, str]) -> Peer:
    my_asn = int(raw.get("my-asn") or 0)
    asn = int(raw.get("peer-asn") or 0)
    if my_asn == 0 or asn == 0:
        raise OracleError("missing ASN")
    multihop = bool(raw.get("ebgp-multihop", False))
    if asn == my_asn and multihop:
        raise OracleError("ebgp-multihop on an iBGP peer")
    hold = _hold_time(raw.get("hold-time"))
    keepalive = _keepalive_time(hold, raw.get("keepalive-time"))
    if keepalive > hold:
        raise OracleError("keepalive time above hold time")
    bfd = raw.get("bfd-profile") or ""
    if bfd and bfd not in bfd_names:
        raise OracleError(f"unknown bfd profile {bfd!r}")
    selectors = [_selector(s) for s in raw.get("node-selectors") or ()]
    return Peer(
        name=f"peer{index + 1}",
        my_asn=my_asn,
        asn=asn,
        address=_ip(raw["peer-address"], "peer address"),
        source_address=_ip(raw["source-address"], "source address") if raw.get("source-address") else "",
        port=int(raw.get("peer-port") or 179),
        hold_time=hold,
        keepalive_time=keepalive,
        router_id=_ip(raw["router-id"], "router id") if raw.get("router-id") else "",
        # No selector selects every node; the order of selectors has no meaning.
        node_selectors=tuple(sorted(selectors, key=lambda s: s.canonical())),
        password=raw.get("password") or "",
        bfd_profile=bfd_names[bfd] if bfd else "",
        ebgp_multihop=multihop,
    )


def _bfd_profile(raw: Mapping[str, Any]) -> BFDProfileConfig:
    limits = {
        "detect-multiplier": (2, 255),
        "receive-interval": (10, 60000),
        "transmit-interval": (10, 60000),
        "minimum-ttl": (1, 254),
        "echo-interval": (10, 60000),
    }
    for key, (lo, hi) in limits.items():
        value = raw.get(key)
        if value is not None and not lo <= value <= hi:
            raise OracleError(f"bfd {key} {value} out of range")
    return BFDProfileConfig(
        name=k8s_name(raw["name"]),
        receive_interval=raw.get("receive-interval"),
        transmit_interval=raw.get("transmit-interval"),
        detect_multiplier=raw.get("detect-multiplier"),
        echo_interval=raw.get("echo-interval"),
        echo_mode=bool(raw.get("echo-mode", False)),
        passive_mode=bool(raw.get("passive-mode", False)),
        minimum_ttl=raw.get("minimum-ttl"),
    )


def _advertisements(
    raw_ads: list[Mapping[str, Any]], entries: tuple[AddressEntry, ...], aliases: Mapping[str, Community]
) -> tuple[BGPAdvertisementConfig, ...]:
    """v0.12 ``parseBGPAdvertisements``: one default advertisement when there are none."""
    if not raw_ads:
        return (BGPAdvertisementConfig(name="default"),)
    out: list[BGPAdvertisementConfig] = []
    for raw in raw_ads:
        agg4 = raw.get("aggregation-length")
        agg6 = raw.get("aggregation-length-v6")
        agg4 = 32 if agg4 is None else agg4
        agg6 = 128 if agg6 is None else agg6
        if agg4 > 32 or agg6 > 128:
            raise OracleError("aggregation length too long")
        for entry in entries:
            lowest = min(c.prefixlen for c in entry.cidrs)
            if (agg4 if entry.family == 4 else agg6) < lowest:
                raise OracleError("aggregation length shorter than a pool prefix")
        names = list(raw.get("communities") or ())
        if len(set(names)) != len(names):
            raise OracleError("duplicate community")
        communities = frozenset(aliases[c] if c in aliases else parse_community(c) for c in names)
        localpref = raw.get("localpref")
        out.append(
            BGPAdvertisementConfig(
                name="adv",
                aggregation_length=agg4,
                aggregation_length_v6=agg6,
                local_pref=0 if localpref is None else localpref,
                communities=communities,
            )
        )
    return tuple(out)


def _pool(raw: Mapping[str, Any], aliases: Mapping[str, Community]) -> Pool:
    if not raw.get("name"):
        raise OracleError("missing pool name")
    addresses = list(raw.get("addresses") or ())
    if not addresses:
        raise OracleError("pool has no prefixes defined")
    entries = tuple(parse_entry(a) for a in addresses)
    protocol = raw.get("protocol")
    ads = raw.get("bgp-advertisements") or []
    name = k8s_name(raw["name"])
    l2: tuple[L2AdvertisementConfig, ...] = ()
    bgp: tuple[BGPAdvertisementConfig, ...] = ()
    if protocol == "layer2":
        if ads:
            raise OracleError("bgp-advertisements in a layer2 pool")
        # Layer 2 in v0.12: announced from every node, on every interface.
        l2 = (L2AdvertisementConfig(name="l2"),)
    elif protocol == "bgp":
        bgp = _advertisements(ads, entries, aliases)
    else:
        raise OracleError(f"protocol {protocol!r}")
    auto_assign = raw.get("auto-assign")
    return Pool(
        name=name,
        entries=entries,
        auto_assign=True if auto_assign is None else auto_assign,
        avoid_buggy_ips=bool(raw.get("avoid-buggy-ips", False)),
        l2_advertisements=l2,
        bgp_advertisements=bgp,
    )


def _check_overlaps(pools: list[Pool]) -> None:
    seen: list[tuple[int, int, int]] = []
    for pool in pools:
        for entry in pool.entries:
            for cidr in entry.cidrs:
                for fam, first, last in seen:
                    if fam == cidr.family and first <= cidr.last and cidr.first <= last:
                        raise OracleError(f"{cidr} in pool {pool.name} overlaps")
                seen.append((cidr.family, cidr.first, cidr.last))


def oracle_config(raw: Mapping[str, Any] | None) -> Config:
    """The Config that the legacy config ``raw`` (the parsed YAML of ``data.config``) means."""
    raw = raw or {}
    bfd: dict[str, BFDProfileConfig] = {}
    bfd_names: dict[str, str] = {}
    for prof in raw.get("bfd-profiles") or ():
        parsed = _bfd_profile(prof)
        if parsed.name in bfd:
            raise OracleError(f"duplicate bfd profile {parsed.name}")
        bfd[parsed.name] = parsed
        bfd_names[prof["name"]] = parsed.name

    peers = [_peer(i, p, bfd_names) for i, p in enumerate(raw.get("peers") or ())]
    for i, peer in enumerate(peers):
        if any(replace(peer, name="") == replace(other, name="") for other in peers[:i]):
            raise OracleError(f"peer #{i + 1} already exists")

    aliases = {name: parse_community(value) for name, value in (raw.get("bgp-communities") or {}).items()}

    pools = [_pool(p, aliases) for p in raw.get("address-pools") or ()]
    if len({p.name for p in pools}) != len(pools):
        raise OracleError("duplicate pool name")
    _check_overlaps(pools)

    return normalise(
        Config(
            pools={p.name: p for p in pools},
            peers={p.name: p for p in peers},
            bfd_profiles=bfd,
            communities=aliases,
        )
    )


def _ad_key(ad: BGPAdvertisementConfig) -> tuple[Any, ...]:
    return (
        ad.aggregation_length,
        ad.aggregation_length_v6,
        ad.local_pref,
        sorted(c.sort_key for c in ad.communities),
        [s.canonical() for s in ad.node_selectors],
        ad.peers,
    )


def normalise(config: Config) -> Config:
    """``config`` with mappings in name order and each pool's advertisements in a canonical order.

    The order of a pool's BGP advertisements carries no meaning (v0.12 kept the list order, the CR
    parser attaches them in object-name order, where ``bgpadvertisement10`` sorts before
    ``bgpadvertisement9``), so both sides are compared as sorted by value.
    """
    return Config(
        pools={
            name: replace(p, bgp_advertisements=tuple(sorted(p.bgp_advertisements, key=_ad_key)))
            for name, p in sorted(config.pools.items())
        },
        peers=dict(sorted(config.peers.items())),
        bfd_profiles=dict(sorted(config.bfd_profiles.items())),
        communities=dict(sorted(config.communities.items())),
    )
