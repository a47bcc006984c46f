"""``format_ip`` writes every address exactly as ``ipaddress`` does (it formats IPv4 itself, for speed)."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crds.addresses import format_ip

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
