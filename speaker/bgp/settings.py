"""Per-peer settings of a BGP session (``PeerSettings``), checked when built, with each default's reason.

The fields map one to one onto a MetalLB ``BGPPeer`` as the speaker resolves it for this node (password read from
its Secret, next hop chosen); the speaker's BGP controller builds them, this package only uses them.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from speaker.bgp.constants import BGP_PORT

__all__ = ["IPAddress", "PeerSettings"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, slots=True)
class PeerSettings:
    """One peer, as this node speaks to it. Invalid combinations raise ``ValueError`` with the field's name.

    * ``peer_address``/``peer_port``: where the router listens (IPv4 or IPv6; MetalLB native is IPv4 only).
    * ``source_address``: bind the TCP connection here (``sourceAddress``); it must exist on this host.
    * ``my_asn``/``peer_asn``: 1-4294967295; the peer's OPEN must carry exactly ``peer_asn`` (as in MetalLB).
    * ``router_id``: BGP Identifier; None takes the local IPv4 address of the connection, or for an IPv6
      connection the little-endian CRC32 of ``node_name`` (MetalLB's rule).
    * ``hold_time``: seconds, 0 or 3-65535; default 90 s as MetalLB. The session uses min(ours, the peer's).
    * ``keepalive_time``: None means hold/3 (RFC 4271 §10); a configured value is capped at hold/3 so it can
      never let the peer's hold timer expire.
    * ``connect_time``: seconds a TCP connect may take (MetalLB's dial timeout is 10 s).
    * ``ebgp_multihop``: TTL 255 instead of 1 for eBGP; iBGP always uses 255.
    * ``password``: TCP MD5 (RFC 2385) key, at most 80 octets.
    * ``passive``: wait for the router to connect (on ``listen_port``) instead of connecting.
    * ``graceful_restart``/``restart_time``: advertise RFC 4724 as the restarting side, forwarding preserved,
      so routers keep our routes while the speaker restarts (``restart_time`` 0-4095 s; 120 s as FRR).
    * ``next_hop``/``next_hop_v6``: NEXT_HOP for IPv4 / IPv6 routes; None takes the connection's local address
      of that family (for IPv6 routes over an IPv4 session: the IPv4-mapped local address).
    * ``extended_message``: advertise RFC 8654 (UPDATEs up to 65535 octets when the peer agrees too).
    """

    peer_address: IPAddress
    my_asn: int
    peer_asn: int
    peer_port: int = BGP_PORT
    source_address: IPAddress | None = None
    router_id: ipaddress.IPv4Address | None = None
    hold_time: float = 90.0
    keepalive_time: float | None = None
    connect_time: float = 10.0
    ebgp_multihop: bool = False
    password: str | None = None
    passive: bool = False
    listen_port: int = BGP_PORT
    graceful_restart: bool = False
    restart_time: int = 120
    next_hop: ipaddress.IPv4Address | None = None
    next_hop_v6: ipaddress.IPv6Address | None = None
    node_name: str = ""
    extended_message: bool = True

    def __post_init__(self) -> None:
        for name in ("my_asn", "peer_asn"):
            if not 1 <= getattr(self, name) <= 0xFFFFFFFF:
                raise ValueError(f"{name} must be 1-4294967295, not {getattr(self, name)}")
        for name in ("peer_port", "listen_port"):
            if not 0 <= getattr(self, name) <= 0xFFFF:
                raise ValueError(f"{name} must be 0-65535, not {getattr(self, name)}")
        if self.hold_time != 0 and not 3 <= self.hold_time <= 0xFFFF:
            raise ValueError(f'invalid hold time "{self.hold_time}", must be 0 or >=3s')
        if self.keepalive_time is not None and self.keepalive_time <= 0:
            raise ValueError(f"keepalive_time must be positive, not {self.keepalive_time}")
        if self.connect_time <= 0:
            raise ValueError(f"connect_time must be positive, not {self.connect_time}")
        if not 0 <= self.restart_time <= 4095:
            raise ValueError(f"restart_time must be 0-4095 s, not {self.restart_time}")
        if self.password is not None and len(self.password.encode()) > 80:
            raise ValueError("password must be at most 80 octets (TCP MD5 key)")
        if self.source_address is not None and self.source_address.version != self.peer_address.version:
            raise ValueError(f"source_address {self.source_address} is not of the family of {self.peer_address}")

    @property
    def ibgp(self) -> bool:
        return self.my_asn == self.peer_asn

    @property
    def ttl(self) -> int:
        return 255 if self.ebgp_multihop or self.ibgp else 1

    @property
    def peer_label(self) -> str:
        """``addr:port``, the ``peer`` label of MetalLB's BGP metrics."""
        host = f"[{self.peer_address}]" if self.peer_address.version == 6 else str(self.peer_address)
        return f"{host}:{self.peer_port}"
