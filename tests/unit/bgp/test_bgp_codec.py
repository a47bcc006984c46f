"""BGP wire codec: every message, capability and attribute survives encode -> decode unchanged, and hostile
bytes (one octet, truncations, fuzz, a replayed corpus) end in ``BgpDecodeError`` with the NOTIFICATION the RFCs
ask for, never in another exception."""

from __future__ import annotations

import contextlib
import ipaddress
import struct
from pathlib import Path

import pytest
from bgp_strategies import attributes, capabilities, notifications, opens, route_refreshes, updates
from hypothesis import given
from hypothesis import strategies as st

from speaker.bgp.attributes import (
    AsPath,
    Communities,
    LargeCommunities,
    MpReach,
    MpUnreach,
    NextHop,
    OriginAttr,
    decode_attribute,
)
from speaker.bgp.codes import ErrorCode, HeaderSubcode, OpenSubcode, UpdateSubcode
from speaker.bgp.constants import Afi, AttrType, Safi
from speaker.bgp.errors import BgpDecodeError, ErrorHandling
from speaker.bgp.header import Framer, Header
from speaker.bgp.keepalive import Keepalive
from speaker.bgp.message import decode_message, encode_message
from speaker.bgp.notification import Notification
from speaker.bgp.open import Open, decode_capability
from speaker.bgp.route_refresh import RouteRefresh
from speaker.bgp.update import Update

CORPUS = Path(__file__).parent / "corpus"


def _attr_value(encoded: bytes) -> tuple[int, int, bytes]:
    flags, tcode = encoded[0], encoded[1]
    if flags & 0x10:
        return flags, tcode, encoded[4:]
    return flags, tcode, encoded[3:]


# Round trips -------------------------------------------------------------------------------------------------


@given(opens)
def test_open_round_trips(msg: Open) -> None:
    assert decode_message(encode_message(msg)) == msg


@given(updates, st.booleans())
def test_update_round_trips(msg: Update, as4: bool) -> None:
    if not as4:
        # 2-octet AS paths cannot carry 4-octet numbers; keep the generated path within range.
        msg = Update(msg.withdrawn, tuple(a for a in msg.attributes if not isinstance(a, AsPath)), msg.nlri)
    decoded = decode_message(encode_message(msg, as4=as4, max_length=65535), as4=as4, max_length=65535)
    assert decoded == msg


@given(notifications)
def test_notification_round_trips(msg: Notification) -> None:
    assert decode_message(encode_message(msg)) == msg


@given(route_refreshes)
def test_route_refresh_round_trips(msg: RouteRefresh) -> None:
    assert decode_message(encode_message(msg)) == msg


def test_keepalive_is_the_bare_header() -> None:
    frame = encode_message(Keepalive())
    assert frame == b"\xff" * 16 + b"\x00\x13\x04"
    assert decode_message(frame) == Keepalive()


@given(capabilities)
def test_capability_round_trips(cap: object) -> None:
    encoded = cap.encode()  # type: ignore[attr-defined]
    assert encoded[1] == len(encoded) - 2
    assert decode_capability(encoded[0], encoded[2:]) == cap


@given(attributes)
def test_attribute_round_trips(attr: object) -> None:
    encoded = attr.encode(as4=True)  # type: ignore[attr-defined]
    flags, tcode, value = _attr_value(encoded)
    assert bool(flags & 0x10) == (len(value) > 255), "extended length exactly when the value needs it"
    assert decode_attribute(flags, tcode, value, as4=True) == attr


# Known frames, byte for byte ---------------------------------------------------------------------------------


def test_update_ipv4_wire_format() -> None:
    msg = Update(
        attributes=(
            OriginAttr(),
            AsPath.sequence((64512,)),
            NextHop(ipaddress.IPv4Address("192.0.2.1")),
            Communities((64512 << 16 | 100,)),
        ),
        nlri=(ipaddress.IPv4Network("203.0.113.10/32"), ipaddress.IPv4Network("198.51.100.0/24")),
    )
    body = msg.encode()
    assert (
        body.hex()
        == (
            "0000"  # no withdrawn routes
            "001b"  # 27 octets of attributes
            "40010100"  # ORIGIN IGP
            "4002060201" + "0000fc00"  # AS_PATH: one AS_SEQUENCE of one 4-octet ASN
            "400304c0000201"  # NEXT_HOP 192.0.2.1
            "c00804fc000064"  # COMMUNITIES 64512:100
            "20cb00710a"  # 203.0.113.10/32
            "18c63364"  # 198.51.100.0/24
        )
    )


def test_ipv6_end_of_rib_is_an_empty_mp_unreach() -> None:
    eor = Update.end_of_rib(Afi.IPV6)
    assert eor.encode().hex() == "0000" + "0006" + "800f03000201"
    assert Update.decode(eor.encode()).end_of_rib_afi == Afi.IPV6
    assert Update.decode(Update.end_of_rib(Afi.IPV4).encode()).end_of_rib_afi == Afi.IPV4


def test_notification_text_is_readable() -> None:
    assert Notification(4, 0).text == "Hold Timer Expired"
    assert Notification(2, 2).text == "OPEN Message / Bad Peer AS"
    assert Notification.cease(2, "maintenance").text == "Cease / Administrative Shutdown: maintenance"
    assert Notification(6, 4).text == "Cease / Administrative Reset"
    assert Notification(42, 1).text == "unknown error code 42 (subcode 1)"


# Hostile input: every decoder fails with BgpDecodeError and the right NOTIFICATION ----------------------------

BODY_DECODERS = {
    "open": Open.decode,
    "update": Update.decode,
    "notification": Notification.decode,
    "route-refresh": RouteRefresh.decode,
}


@pytest.mark.parametrize("name", list(BODY_DECODERS))
def test_one_byte_body_is_rejected(name: str) -> None:
    with pytest.raises(BgpDecodeError):
        BODY_DECODERS[name](b"\x01")


def test_one_byte_message_is_a_bad_length() -> None:
    with pytest.raises(BgpDecodeError) as err:
        decode_message(b"\xff")
    assert (err.value.code, err.value.subcode) == (ErrorCode.MESSAGE_HEADER, HeaderSubcode.BAD_MESSAGE_LENGTH)


@given(opens)
def test_truncated_open_is_rejected(msg: Open) -> None:
    frame = encode_message(msg)
    for cut in range(19, len(frame)):
        with pytest.raises(BgpDecodeError):
            decode_message(frame[:cut])


@given(updates)
def test_truncated_update_body_fails_or_is_contained(msg: Update) -> None:
    body = msg.encode()
    for cut in range(len(body)):
        with contextlib.suppress(BgpDecodeError):
            Update.decode(body[:cut])


def test_bad_marker_is_connection_not_synchronized() -> None:
    frame = bytearray(encode_message(Keepalive()))
    frame[3] = 0
    with pytest.raises(BgpDecodeError) as err:
        decode_message(bytes(frame))
    assert err.value.subcode == HeaderSubcode.CONNECTION_NOT_SYNCHRONIZED


def test_oversized_length_carries_the_length_field() -> None:
    frame = b"\xff" * 16 + struct.pack("!HB", 4097, 2) + b"\0" * 4078
    with pytest.raises(BgpDecodeError) as err:
        decode_message(frame)
    assert (err.value.subcode, err.value.data) == (HeaderSubcode.BAD_MESSAGE_LENGTH, b"\x10\x01")
    assert Notification.from_error(err.value).encode() == b"\x01\x02\x10\x01"


def test_bad_type_carries_the_type() -> None:
    with pytest.raises(BgpDecodeError) as err:
        decode_message(b"\xff" * 16 + struct.pack("!HB", 19, 9))
    assert (err.value.subcode, err.value.data) == (HeaderSubcode.BAD_MESSAGE_TYPE, b"\x09")


def test_open_version_3_says_we_speak_4() -> None:
    body = bytearray(Open(64512, 90, ipaddress.IPv4Address("192.0.2.1")).encode())
    body[0] = 3
    with pytest.raises(BgpDecodeError) as err:
        Open.decode(bytes(body))
    assert (err.value.code, err.value.subcode, err.value.data) == (2, OpenSubcode.UNSUPPORTED_VERSION, b"\x00\x04")


def test_open_with_leftover_bytes_is_rejected() -> None:
    body = Open(64512, 90, ipaddress.IPv4Address("192.0.2.1")).encode() + b"\x00"
    with pytest.raises(BgpDecodeError):
        Open.decode(body)


def _update_with(raw_attr: bytes, nlri: bytes = b"\x20\xcb\x00\x71\x0a") -> bytes:
    base = (
        OriginAttr().encode()
        + AsPath.sequence((64513,)).encode()
        + NextHop(ipaddress.IPv4Address("192.0.2.2")).encode()
    )
    attrs = base + raw_attr
    return struct.pack("!HH", 0, len(attrs)) + attrs + nlri


def test_malformed_communities_is_treat_as_withdraw() -> None:
    upd = Update.decode(_update_with(bytes((0xC0, AttrType.COMMUNITIES, 3)) + b"\0\0\0"))
    assert upd.treat_as_withdraw
    assert upd.nlri == (ipaddress.IPv4Network("203.0.113.10/32"),)
    assert upd.errors[0].subcode == UpdateSubcode.ATTRIBUTE_LENGTH_ERROR


def test_malformed_large_community_is_treat_as_withdraw() -> None:
    upd = Update.decode(_update_with(bytes((0xC0, AttrType.LARGE_COMMUNITY, 4)) + b"\0\0\0\1"))
    assert upd.treat_as_withdraw


def test_malformed_atomic_aggregate_is_discarded() -> None:
    upd = Update.decode(_update_with(bytes((0x40, AttrType.ATOMIC_AGGREGATE, 1)) + b"\0"))
    assert not upd.treat_as_withdraw
    assert [e.handling for e in upd.errors] == [ErrorHandling.ATTRIBUTE_DISCARD]
    assert len(upd.attributes) == 3


def test_origin_with_optional_flag_is_a_flags_error_treated_as_withdraw() -> None:
    attrs = bytes((0xC0, AttrType.ORIGIN, 1, 0))
    body = struct.pack("!HH", 0, len(attrs)) + attrs + b"\x18\xc6\x33\x64"
    upd = Update.decode(body)
    assert upd.treat_as_withdraw
    assert UpdateSubcode.ATTRIBUTE_FLAGS_ERROR in [e.subcode for e in upd.errors]


def test_missing_next_hop_is_treat_as_withdraw() -> None:
    attrs = OriginAttr().encode() + AsPath().encode()
    upd = Update.decode(struct.pack("!HH", 0, len(attrs)) + attrs + b"\x18\xc6\x33\x64")
    assert upd.treat_as_withdraw
    assert upd.errors[0].data == bytes((AttrType.NEXT_HOP,))


def test_repeated_mp_reach_resets_the_session() -> None:
    mp = MpReach(Afi.IPV6, Safi.UNICAST, b"\x20\x01\x0d\xb8" + b"\0" * 12, (ipaddress.IPv6Network("2001:db8::/64"),))
    with pytest.raises(BgpDecodeError) as err:
        Update.decode(_update_with(mp.encode() + mp.encode(), nlri=b""))
    assert err.value.handling == ErrorHandling.SESSION_RESET


def test_unrecognized_well_known_attribute_resets_with_the_attribute() -> None:
    raw = bytes((0x40, 99, 1, 7))
    with pytest.raises(BgpDecodeError) as err:
        Update.decode(_update_with(raw))
    assert (err.value.subcode, err.value.data) == (UpdateSubcode.UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE, raw)


def test_nlri_longer_than_32_bits_is_invalid_network_field() -> None:
    with pytest.raises(BgpDecodeError) as err:
        Update.decode(_update_with(b"", nlri=b"\x21" + b"\0" * 5))
    assert err.value.subcode == UpdateSubcode.INVALID_NETWORK_FIELD


def test_as_path_two_octet_mode() -> None:
    path = AsPath.sequence((64512, 23456))
    flags, tcode, value = _attr_value(path.encode(as4=False))
    assert value == b"\x02\x02\xfc\x00\x5b\xa0"
    assert decode_attribute(flags, tcode, value, as4=False) == path


def test_mp_unreach_for_another_family_is_kept_verbatim() -> None:
    attr = MpUnreach(25, 65, (), b"\x01\x02")
    flags, tcode, value = _attr_value(attr.encode())
    assert decode_attribute(flags, tcode, value, as4=True) == attr


def test_large_communities_keep_all_three_parts() -> None:
    attr = LargeCommunities(((4200000000, 1, 2),))
    flags, tcode, value = _attr_value(attr.encode())
    assert decode_attribute(flags, tcode, value, as4=True) == attr


# Framing -----------------------------------------------------------------------------------------------------


@given(st.lists(st.one_of(opens, updates, notifications, route_refreshes), max_size=6), st.integers(1, 50))
def test_framer_reassembles_any_split(msgs: list[object], chunk: int) -> None:
    stream = b"".join(encode_message(m, max_length=65535) for m in msgs)  # type: ignore[arg-type]
    framer = Framer(max_length=65535)
    out = []
    for i in range(0, len(stream), chunk):
        framer.feed(stream[i : i + chunk])
        out.extend(framer.frames())
    assert [h.length for h, _ in out] == [len(encode_message(m, max_length=65535)) for m in msgs]  # type: ignore[arg-type]


def test_framer_rejects_a_bad_header_before_the_body_arrives() -> None:
    framer = Framer()
    framer.feed(b"\xff" * 16 + struct.pack("!HB", 60000, 2))
    with pytest.raises(BgpDecodeError):
        framer.frames()


def test_header_round_trips() -> None:
    assert Header.decode(Header(29, 1).encode()) == Header(29, 1)  # type: ignore[arg-type]


# Fuzz and corpus ---------------------------------------------------------------------------------------------


def _decode_or_notify(frame: bytes) -> None:
    """The only two outcomes allowed for any bytes: a message that re-encodes to an equal message, or the error."""
    try:
        msg = decode_message(frame, max_length=65535)
    except BgpDecodeError as err:
        assert 1 <= err.code <= 7
        Notification.from_error(err).encode()
        return
    assert decode_message(encode_message(msg, max_length=65535), max_length=65535) == msg


@given(st.binary(max_size=200))
def test_fuzz_raw_bytes(data: bytes) -> None:
    _decode_or_notify(data)


@given(st.sampled_from([1, 2, 3, 4, 5]), st.binary(max_size=300))
def test_fuzz_valid_header_hostile_body(mtype: int, body: bytes) -> None:
    _decode_or_notify(b"\xff" * 16 + struct.pack("!HB", 19 + len(body), mtype) + body)


@given(updates, st.data())
def test_fuzz_mutated_updates(msg: Update, data: st.DataObject) -> None:
    frame = bytearray(encode_message(msg, max_length=65535))
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(19, max(19, len(frame) - 1)))
        if pos < len(frame):
            frame[pos] = data.draw(st.integers(0, 255))
    _decode_or_notify(bytes(frame))


def test_corpus_frames_decode_or_fail_cleanly() -> None:
    files = sorted(CORPUS.glob("*.bin"))
    assert len(files) >= 5, f"corpus in {CORPUS} is missing"
    for path in files:
        _decode_or_notify(path.read_bytes())


def test_mp_reach_next_hops_view() -> None:
    ll = ipaddress.IPv6Address("fe80::1")
    glob = ipaddress.IPv6Address("2001:db8::1")
    attr = MpReach(Afi.IPV6, Safi.UNICAST, glob.packed + ll.packed, ())
    assert attr.next_hops == (glob, ll)
