"""The BFD Control packet codec: exact wire bytes, round trips, and every §6.8.6 rejection; hostile bytes only
ever decode or raise BfdDecodeError."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from speaker.bfd.packet import Auth, BfdDecodeError, ControlPacket, DecodeReason, Diag, State, diag_name

U32 = st.integers(0, 2**32 - 1)


@st.composite
def packets(draw: st.DrawFn) -> ControlPacket:
    state = draw(st.sampled_from(State))
    your = draw(U32 if state in (State.DOWN, State.ADMIN_DOWN) else st.integers(1, 2**32 - 1))
    auth = draw(st.none() | st.builds(Auth, st.integers(0, 255), st.binary(max_size=253)))
    return ControlPacket(
        state=state,
        my_discriminator=draw(st.integers(1, 2**32 - 1)),
        your_discriminator=your,
        diag=draw(st.integers(0, 31)),
        detect_mult=draw(st.integers(1, 255)),
        desired_min_tx_us=draw(U32),
        required_min_rx_us=draw(U32),
        required_min_echo_rx_us=draw(U32),
        poll=draw(st.booleans()),
        final=draw(st.booleans()),
        control_plane_independent=draw(st.booleans()),
        demand=draw(st.booleans()),
        auth=auth,
    )


def test_encode_gives_the_rfc_5880_layout() -> None:
    pkt = ControlPacket(
        state=State.UP,
        diag=Diag.NEIGHBOR_SIGNALED_SESSION_DOWN,
        my_discriminator=0x01020304,
        your_discriminator=0x0A0B0C0D,
        detect_mult=3,
        desired_min_tx_us=300_000,
        required_min_rx_us=200_000,
        poll=True,
    )
    wire = pkt.encode()
    assert wire[0] == (1 << 5) | 3  # version 1, diag 3
    assert wire[1] == (3 << 6) | 0x20  # Up, P
    assert wire[2:4] == bytes((3, 24))
    assert struct.unpack("!IIIII", wire[4:]) == (0x01020304, 0x0A0B0C0D, 300_000, 200_000, 0)


def test_a_packet_captured_from_frr_bfdd_decodes() -> None:
    # Captured with tcpdump from FRR 8.4.4 bfdd to a silent peer: Down, slow timers (1 s both ways), echo 50 ms.
    wire = bytes.fromhex("204003189f62a4cf00000000000f4240000f42400000c350")
    pkt = ControlPacket.decode(wire)
    assert (pkt.state, pkt.my_discriminator, pkt.your_discriminator) == (State.DOWN, 0x9F62A4CF, 0)
    assert (pkt.desired_min_tx_us, pkt.required_min_rx_us, pkt.detect_mult) == (1_000_000, 1_000_000, 3)
    assert pkt.required_min_echo_rx_us == 50_000
    assert pkt.encode() == wire


@given(packets())
def test_decode_inverts_encode(pkt: ControlPacket) -> None:
    assert ControlPacket.decode(pkt.encode()) == pkt


@given(packets())
def test_every_truncation_is_rejected(pkt: ControlPacket) -> None:
    wire = pkt.encode()
    for n in range(len(wire)):
        with pytest.raises(BfdDecodeError):
            ControlPacket.decode(wire[:n])


@pytest.mark.parametrize("n", range(0, 24))
def test_short_input_is_too_short(n: int) -> None:
    with pytest.raises(BfdDecodeError) as err:
        ControlPacket.decode(bytes([0x20]) * n)
    assert err.value.reason is DecodeReason.TOO_SHORT


GOOD = ControlPacket(state=State.UP, my_discriminator=7, your_discriminator=9)


def _patch(offset: int, value: int) -> bytes:
    wire = bytearray(GOOD.encode())
    wire[offset] = value
    return bytes(wire)


@pytest.mark.parametrize(
    ("wire", "reason"),
    [
        pytest.param(_patch(0, 0x00), DecodeReason.BAD_VERSION, id="version-0"),
        pytest.param(_patch(0, 0x40), DecodeReason.BAD_VERSION, id="version-2"),
        pytest.param(_patch(3, 23), DecodeReason.LENGTH_TOO_SMALL, id="length-under-24"),
        pytest.param(_patch(3, 25), DecodeReason.LENGTH_MISMATCH, id="length-over-payload"),
        pytest.param(GOOD.encode() + b"\0", DecodeReason.LENGTH_MISMATCH, id="trailing-byte"),
        pytest.param(_patch(2, 0), DecodeReason.ZERO_DETECT_MULT, id="detect-mult-0"),
        pytest.param(_patch(1, 0xC1), DecodeReason.MULTIPOINT, id="multipoint"),
        pytest.param(
            ControlPacket(state=State.UP, my_discriminator=0, your_discriminator=9).encode(),
            DecodeReason.ZERO_MY_DISCRIMINATOR,
            id="my-discriminator-0",
        ),
        pytest.param(
            ControlPacket(state=State.INIT, my_discriminator=7).encode(),
            DecodeReason.ZERO_YOUR_DISCRIMINATOR,
            id="your-discriminator-0-in-init",
        ),
        pytest.param(
            ControlPacket(state=State.UP, my_discriminator=7).encode(),
            DecodeReason.ZERO_YOUR_DISCRIMINATOR,
            id="your-discriminator-0-in-up",
        ),
        pytest.param(
            _patch(1, 0xC4)[:3] + bytes((24,)) + GOOD.encode()[4:], DecodeReason.LENGTH_TOO_SMALL, id="a-bit-no-auth"
        ),
        pytest.param(
            _patch(1, 0xC4)[:3] + bytes((27,)) + GOOD.encode()[4:] + bytes((1, 5, 0)),
            DecodeReason.BAD_AUTH_LENGTH,
            id="auth-len-beyond-packet",
        ),
        pytest.param(
            _patch(1, 0xC4)[:3] + bytes((27,)) + GOOD.encode()[4:] + bytes((1, 1, 0)),
            DecodeReason.BAD_AUTH_LENGTH,
            id="auth-len-under-2",
        ),
    ],
)
def test_reception_rules_reject(wire: bytes, reason: DecodeReason) -> None:
    with pytest.raises(BfdDecodeError) as err:
        ControlPacket.decode(wire)
    assert err.value.reason is reason
    assert reason.value in str(err.value)


def test_your_discriminator_zero_is_allowed_while_down() -> None:
    for state in (State.DOWN, State.ADMIN_DOWN):
        assert ControlPacket.decode(ControlPacket(state=state, my_discriminator=1).encode()).your_discriminator == 0


def test_reserved_diagnostics_decode_and_have_a_name() -> None:
    pkt = ControlPacket.decode(ControlPacket(state=State.DOWN, my_discriminator=1, diag=31).encode())
    assert pkt.diag == 31
    assert diag_name(31) == "reserved-31"
    assert diag_name(1) == "control_detection_time_expired"


@given(st.binary(max_size=300))
def test_fuzz_decode_only_succeeds_or_raises_bfd_decode_error(data: bytes) -> None:
    try:
        pkt = ControlPacket.decode(data)
    except BfdDecodeError:
        return
    assert pkt.encode() == data


@given(packets(), st.data())
def test_fuzz_mutated_packets(pkt: ControlPacket, data: st.DataObject) -> None:
    wire = bytearray(pkt.encode())
    for _ in range(data.draw(st.integers(1, 4))):
        wire[data.draw(st.integers(0, len(wire) - 1))] = data.draw(st.integers(0, 255))
    try:
        decoded = ControlPacket.decode(bytes(wire))
    except BfdDecodeError:
        return
    assert decoded.encode() == bytes(wire)
