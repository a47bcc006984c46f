"""Membership codec, framing and replay guard: round trips, and hostile bytes that must be dropped and counted."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from speaker.membership.seal import BOOT_SILENCE, Dropped, DropReason, ReplayGuard, Sealer
from speaker.membership.simulation import SimNet
from speaker.membership.wire import MAX_NAME, DecodeError, Message, MsgType, State, Update, decode, encode

KEY = b"c2VjcmV0LWtleS1mb3ItdGVzdHM"

node_names = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x2FF), min_size=1, max_size=40).filter(
    lambda s: len(s.encode()) <= MAX_NAME
)
u64 = st.integers(0, (1 << 64) - 1)


@st.composite
def updates(draw: st.DrawFn) -> Update:
    state = draw(st.sampled_from(State))
    accuser = draw(node_names) if state is State.SUSPECT else ""
    return Update(draw(node_names), draw(u64), state, accuser)


@st.composite
def messages(draw: st.DrawFn) -> Message:
    mtype = draw(st.sampled_from(MsgType))
    return Message(
        sender=draw(node_names),
        boot_ms=draw(u64),
        incarnation=draw(u64),
        dest=draw(node_names),
        type=mtype,
        probe=draw(st.integers(0, (1 << 32) - 1)),
        target=draw(node_names) if mtype is MsgType.PING_REQ else "",
        updates=tuple(draw(st.lists(updates(), max_size=5))),
    )


@given(messages())
def test_every_message_decodes_to_itself(m: Message) -> None:
    assert decode(encode(m)) == m


@given(messages(), st.data())
def test_a_truncated_or_extended_message_is_a_decode_error(m: Message, data: st.DataObject) -> None:
    raw = encode(m)
    cut = data.draw(st.integers(0, len(raw) - 1))
    with pytest.raises(DecodeError):
        decode(raw[:cut])
    with pytest.raises(DecodeError):
        decode(raw + b"\0")


@given(st.binary(max_size=300))
def test_arbitrary_bytes_decode_or_raise_only_decode_error(raw: bytes) -> None:
    try:
        m = decode(raw)
    except DecodeError:
        return
    assert encode(m) == raw


@pytest.mark.parametrize("raw", [b"", b"\x00", b"\x01a", b"\x01a" + b"\0" * 16 + b"\x01b\x09"], ids=str)
def test_one_byte_and_short_inputs_are_decode_errors(raw: bytes) -> None:
    with pytest.raises(DecodeError):
        decode(raw)


@given(st.binary(max_size=200), st.booleans())
def test_opening_arbitrary_bytes_raises_only_dropped(raw: bytes, keyed: bool) -> None:
    sealer = Sealer(KEY if keyed else None, b"\x01" * 8)
    try:
        sealer.open(raw)
    except Dropped:
        return
    assert not keyed  # without a key, only a correct CRC-32 gets through (validated, not authenticated)


@given(st.binary(max_size=100))
def test_sealed_payloads_open_with_the_same_key_only(payload: bytes) -> None:
    sender = Sealer(KEY, b"\x02" * 8)
    frame = sender.seal(payload)
    assert Sealer(KEY, b"\x03" * 8).open(frame).payload == payload
    with pytest.raises(Dropped) as exc:
        Sealer(b"another-key", b"\x03" * 8).open(frame)
    assert exc.value.reason is DropReason.AUTH_FAILED
    with pytest.raises(Dropped) as exc:
        Sealer(None, b"\x03" * 8).open(frame)
    assert exc.value.reason is DropReason.NO_KEY
    plain = Sealer(None, b"\x02" * 8).seal(payload)
    with pytest.raises(Dropped) as exc:
        Sealer(KEY, b"\x03" * 8).open(plain)
    assert exc.value.reason is DropReason.UNENCRYPTED


@given(st.binary(min_size=1, max_size=60), st.data())
def test_any_flipped_bit_fails_authentication(payload: bytes, data: st.DataObject) -> None:
    frame = bytearray(Sealer(KEY, b"\x04" * 8).seal(payload))
    i = data.draw(st.integers(2, len(frame) - 1))  # past version and flags, which are rejected as bad_version
    frame[i] ^= 1 << data.draw(st.integers(0, 7))
    with pytest.raises(Dropped) as exc:
        Sealer(KEY, b"\x05" * 8).open(bytes(frame))
    assert exc.value.reason is DropReason.AUTH_FAILED


def test_the_replay_guard_accepts_each_sequence_number_once_and_rejects_older_boots() -> None:
    g = ReplayGuard()
    boot = b"\x01" * 8
    assert g.check("a", 100, boot, 5, 0.0) is None
    assert g.check("a", 100, boot, 5, 0.0) is DropReason.REPLAY
    assert g.check("a", 100, boot, 3, 0.0) is None  # reordered, not seen yet
    assert g.check("a", 100, boot, 3, 0.0) is DropReason.REPLAY
    assert g.check("a", 100, boot, 2000, 0.0) is None
    assert g.check("a", 100, boot, 900, 0.0) is DropReason.REPLAY  # older than the 1024-packet window
    assert g.check("a", 200, b"\x02" * 8, 1, 0.0) is None  # a restart: new boot, fresh window
    assert g.check("a", 100, boot, 2001, 1.0) is DropReason.STALE_BOOT
    assert g.check("a", 200, b"\x02" * 8, 2, 2.0) is None
    assert g.check("b", 100, boot, 5, 2.0) is None  # windows are per sender
    # The newest boot went silent: a boot that looks older (its clock went backwards) is accepted after a while.
    assert g.check("a", 150, b"\x03" * 8, 1, 2.0 + BOOT_SILENCE - 0.1) is DropReason.STALE_BOOT
    assert g.check("a", 150, b"\x03" * 8, 1, 2.0 + BOOT_SILENCE) is None
    assert g.check("a", 200, b"\x02" * 8, 3, 2.0 + BOOT_SILENCE) is None  # and the newer one still wins


# ---------------------------------------------------------------------------------------- hostile datagrams


def cluster() -> SimNet:
    net = SimNet(seed=5)
    net.start(["a", "b", "c"])
    net.run(1.0)
    return net


def state_of(net: SimNet) -> dict[str, object]:
    return {n: (net.alive(n), net.members[n].core.incarnation) for n in net.running()}  # type: ignore[union-attr]


def cluster_with(odd: str, *, key: bytes | None) -> SimNet:
    """a, b, c share the key; ``odd`` is in everyone's peer list but boots with ``key`` (None: no key)."""
    net = SimNet(seed=8)
    net.add(["a", "b", "c", odd])
    for n in ("a", "b", "c"):
        net.boot(n)
    net.boot(odd, key=key, use_key=key is not None)
    return net


def test_a_member_with_the_wrong_key_is_never_trusted_and_disturbs_nobody_else() -> None:
    net = cluster_with("intruder", key=b"not-the-cluster-key")
    net.run(3.0)
    for n in ("a", "b", "c"):
        assert net.dropped(n)["auth_failed"] > 0
        assert net.alive(n) == frozenset({"a", "b", "c"})  # the intruder's pings never count as life
    assert [o for o in net.deaths() if o.transition.node != "intruder" and o.observer != "intruder"] == []


def test_unencrypted_datagrams_are_refused_by_keyed_members_and_the_other_way_round() -> None:
    net = cluster_with("plain", key=None)
    net.run(3.0)
    assert net.dropped("a")["unencrypted"] > 0
    assert net.dropped("plain")["no_key"] > 0
    assert net.alive("a") == frozenset({"a", "b", "c"})
    net.run(15.0)  # cut off from everyone, its local health multiplier stretches its suspicions to the maximum
    assert net.alive("plain") == frozenset({"plain"})


@given(st.binary(max_size=400))
def test_garbage_and_truncated_datagrams_change_nothing_and_are_counted(raw: bytes) -> None:
    net = cluster()
    before = state_of(net)
    core = net.members["a"].core
    assert core is not None
    accepted = core.counters["accepted"]
    dropped = sum(core.dropped.values())
    net.inject("a", ("198.51.100.99", 7946), raw)
    assert core.counters["accepted"] == accepted
    assert sum(core.dropped.values()) == dropped + 1
    assert state_of(net) == before


def test_a_replayed_datagram_is_dropped_and_counted() -> None:
    net = cluster()
    captured: list[tuple[tuple[str, int], bytes]] = []
    b = net.members["b"]
    original = net._apply

    def tap(m, fx):  # type: ignore[no-untyped-def]
        if m.name == "b":
            captured.extend((addr, data) for addr, data in fx.packets if addr == net.members["a"].addr)
        original(m, fx)

    net._apply = tap  # type: ignore[method-assign]
    net.run(0.5)
    net._apply = original  # type: ignore[method-assign]
    net.run(0.01)  # everything captured has been delivered once
    assert len(captured) >= 5
    core = net.members["a"].core
    assert core is not None
    before = state_of(net)
    for _, data in captured:
        net.inject("a", b.addr, data)
    assert core.dropped == {"replay": len(captured)}
    assert state_of(net) == before


def test_members_without_a_key_talk_in_checksummed_frames() -> None:
    net = SimNet(seed=6, key=None)
    net.start(["a", "b", "c"])
    net.run(2.0)
    assert net.alive("a") == frozenset({"a", "b", "c"})
    net.crash("c")
    net.run(1.0)
    assert net.alive("a") == frozenset({"a", "b"})


@given(st.binary(max_size=300))
def test_authenticated_frames_with_arbitrary_payloads_are_counted_as_malformed_or_handled(payload: bytes) -> None:
    net = cluster()
    core = net.members["a"].core
    assert core is not None
    before = sum(core.dropped.values()) + core.counters["accepted"]
    net.inject("a", ("198.51.100.99", 7946), Sealer(net.key, b"\x09" * 8).seal(payload))
    assert sum(core.dropped.values()) + core.counters["accepted"] == before + 1
    assert "a" in core.alive()


@given(messages())
def test_any_authenticated_message_addressed_to_a_member_is_handled_without_error(m: Message) -> None:
    net = cluster()
    core = net.members["a"].core
    assert core is not None
    msg = Message(
        m.sender if m.sender != "a" else "z", m.boot_ms, m.incarnation, "a", m.type, m.probe, m.target, m.updates
    )
    net.inject("a", ("198.51.100.99", 7946), Sealer(net.key, b"\x0a" * 8).seal(encode(msg)))
    net.run(0.5)
    assert "a" in core.alive()
