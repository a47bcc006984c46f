"""``format_ip`` writes and ``ipv4_value``/``parse_entry`` read every address exactly as ``ipaddress`` does
(they handle dotted-quad IPv4 themselves, for speed, and leave everything else to it)."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crds.addresses import EntryError, format_ip, ipv4_value, parse_entry

EDGES = [0, 1, 255, 256, 0x0A000001, 0x7F000001, 0xC0000201, 0xFFFFFFFE, 0xFFFFFFFF]


@given(value=st.one_of(st.sampled_from(EDGES), st.integers(0, 2**32 - 1)))
def test_ipv4_text_is_ipaddress_text(value: int) -> None:
    assert format_ip(4, value) == str(ipaddress.IPv4Address(value))


@given(value=st.integers(0, 2**128 - 1))
def test_ipv6_text_is_ipaddress_text(value: int) -> None:
    assert format_ip(6, value) == str(ipaddress.IPv6Address(value))


@pytest.mark.parametrize("value", [-1, 2**32])
def test_an_ipv4_value_out_of_range_is_refused_as_before(value: int) -> None:
    with pytest.raises(ipaddress.AddressValueError):
        format_ip(4, value)


# --- reading: ipv4_value and parse_entry's fast paths agree with ipaddress ---------------------------------

octet_texts = st.one_of(
    st.integers(0, 300).map(str),
    st.sampled_from(["", "00", "01", "007", "0x1", "+1", "-1", " 1", "1 ", "\u0661", "\u00b2", "256", "1000", "a"]),
)
ipv4_like = st.one_of(
    st.integers(0, 2**32 - 1).map(lambda v: str(ipaddress.IPv4Address(v))),
    st.lists(octet_texts, min_size=1, max_size=5).map(".".join),
    st.sampled_from(["::1", "fc00::", "::ffff:10.0.0.1", "10.0.0.1%eth0", "10.0.0.1/32", ""]),
)


def ipaddress_value(text: str) -> int | None:
    try:
        return int(ipaddress.IPv4Address(text))
    except ValueError:
        return None


@given(text=ipv4_like)
def test_ipv4_value_is_ipaddress_value_or_declines(text: str) -> None:
    value = ipv4_value(text)
    if value is not None:
        assert value == ipaddress_value(text)
    elif "." in text and ":" not in text and "%" not in text and "/" not in text:
        assert ipaddress_value(text) is None, f"{text!r} is an IPv4 address the fast path missed"


def entry_by_ipaddress(text: str) -> tuple[int, int, int, tuple[tuple[int, int, int], ...]] | str:
    """What parse_entry gave before its fast paths, written with ipaddress alone (or the error text)."""
    try:
        if "-" not in text:
            if "/" not in text:
                return "error"
            net = ipaddress.ip_network(text, strict=False)
            first = int(net.network_address)
            return net.version, first, int(net.broadcast_address), ((net.version, first, net.prefixlen),)
        start, end = (ipaddress.ip_address(t.strip()) for t in text.split("-", 1))
    except ValueError:
        return "error"
    if start.version != end.version or int(start) > int(end):
        return "error"
    cidrs = ipaddress.summarize_address_range(start, end)  # type: ignore[type-var]
    return (
        start.version,
        int(start),
        int(end),
        tuple((start.version, int(c.network_address), c.prefixlen) for c in cidrs),
    )


prefixes = st.one_of(st.integers(0, 33).map(str), st.sampled_from(["", "024", "00", "+8", "255.255.255.0", "8/8"]))


@given(
    text=st.one_of(
        st.builds(lambda a, p: f"{a}/{p}", ipv4_like, prefixes),
        st.builds(lambda a, b, sp: f"{a}{sp}-{sp}{b}", ipv4_like, ipv4_like, st.sampled_from(["", " "])),
    )
)
def test_parse_entry_reads_ipv4_as_ipaddress_does(text: str) -> None:
    parse_entry.cache_clear()
    try:
        entry = parse_entry(text)
    except EntryError:
        assert entry_by_ipaddress(text) == "error"
        return
    expected = entry_by_ipaddress(text)
    got = (entry.family, entry.first, entry.last, tuple((c.family, c.network, c.prefixlen) for c in entry.cidrs))
    assert got == expected
