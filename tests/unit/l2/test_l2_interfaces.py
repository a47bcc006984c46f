"""Interface eligibility (MetalLB's rules), the exclusion file, and the watcher calling back on changes."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Mapping
from dataclasses import replace
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path

import pytest

from speaker.l2.interfaces import (
    DEFAULT_EXCLUDE,
    ExclusionError,
    Ineligible,
    Interface,
    InterfaceWatcher,
    compile_exclusions,
    concerns_us,
    ineligible,
    load_exclusions,
    serves,
)

ETH0 = Interface(
    name="eth0",
    index=2,
    mac=bytes.fromhex("020000000001"),
    up=True,
    broadcast=True,
    noarp=False,
    has_master=False,
    link_local=IPv6Address("fe80::1"),
)
DEFAULTS = compile_exclusions(DEFAULT_EXCLUDE)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        pytest.param({}, None, id="plain-interface-is-eligible"),
        pytest.param({"name": "veth12ab"}, Ineligible.EXCLUDED, id="default-list-excludes-veth"),
        pytest.param({"name": "lo"}, Ineligible.EXCLUDED, id="default-list-excludes-lo"),
        pytest.param({"name": "cali0"}, Ineligible.EXCLUDED, id="default-list-excludes-calico"),
        pytest.param({"name": "lox"}, None, id="lo-is-anchored-so-lox-stays"),
        pytest.param({"up": False}, Ineligible.DOWN, id="down-interface"),
        pytest.param({"has_master": True}, Ineligible.HAS_MASTER, id="bond-or-bridge-member"),
        pytest.param({"noarp": True}, Ineligible.NOARP, id="noarp-interface"),
        pytest.param({"mac": None}, Ineligible.NO_MAC, id="no-hardware-address"),
    ],
)
def test_eligibility_follows_metallb_rules(change: dict[str, object], reason: Ineligible | None) -> None:
    assert ineligible(replace(ETH0, **change), DEFAULTS) is reason  # type: ignore[arg-type]


def test_arp_needs_broadcast_and_ndp_needs_a_link_local_address() -> None:
    v4, v6 = IPv4Address("198.51.100.1"), IPv6Address("2001:db8::1")
    assert serves(ETH0, v4) and serves(ETH0, v6)
    assert not serves(replace(ETH0, broadcast=False), v4)
    assert not serves(replace(ETH0, link_local=None), v6)


def test_exclusion_file_patterns_are_joined_and_searched_anywhere(tmp_path: Path) -> None:
    path = tmp_path / "excludel2.yaml"
    path.write_text("announcedInterfacesToExclude: ['^eth1$', 'mgmt']\n")
    regex = load_exclusions(path)
    assert regex is not None
    assert regex.search("eth1") and regex.search("bond-mgmt0")
    assert not regex.search("eth10")


def test_missing_exclusion_file_means_the_shipped_defaults_and_an_empty_list_means_none(tmp_path: Path) -> None:
    regex = load_exclusions(tmp_path / "absent.yaml")
    assert regex is not None and regex.search("docker0")
    empty = tmp_path / "empty.yaml"
    empty.write_text("announcedInterfacesToExclude: []\n")
    assert load_exclusions(empty) is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("announcedInterfacesToExclude: ['(']\n", "invalid regular expression", id="bad-regex"),
        pytest.param("announcedInterfacesToExclude: eth0\n", "must be a list of strings", id="not-a-list"),
        pytest.param("- eth0\n", "want a mapping", id="not-a-mapping"),
        pytest.param("a: [\n", "not valid YAML", id="bad-yaml"),
    ],
)
def test_a_bad_exclusion_file_is_a_user_facing_error_naming_the_file(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "excludel2.yaml"
    path.write_text(text)
    with pytest.raises(ExclusionError, match=message) as info:
        load_exclusions(path)
    assert str(path) in str(info.value)


def test_the_watcher_calls_back_only_when_the_inventory_changes() -> None:
    inventories = [{"eth0": ETH0}, {"eth0": ETH0}, {"eth0": replace(ETH0, up=False)}]
    seen: list[Mapping[str, Interface]] = []

    async def scanner() -> dict[str, Interface]:
        return inventories.pop(0) if len(inventories) > 1 else inventories[0]

    async def main() -> None:
        async with InterfaceWatcher(seen.append, rescan_every=0.01, scanner=scanner) as watcher:
            assert watcher.current == {"eth0": ETH0}
            while not seen:
                await asyncio.sleep(0.01)
            assert watcher.current["eth0"].up is False

    asyncio.run(asyncio.wait_for(main(), 10))
    assert seen == [{"eth0": replace(ETH0, up=False)}]


def _nlmsg(kind: int, body: bytes) -> bytes:
    length = 16 + len(body)
    return struct.pack("=IHHII", length, kind, 0, 0, 0) + body + b"\0" * (-length % 4)


def _link(kind: int, name: str) -> bytes:
    raw = name.encode() + b"\0"
    attr = struct.pack("=HH", 4 + len(raw), 3) + raw + b"\0" * (-len(raw) % 4)
    return _nlmsg(kind, struct.pack("=BxHiII", 0, 1, 7, 0, 0) + attr)


def _addr(kind: int, index: int) -> bytes:
    return _nlmsg(kind, struct.pack("=BBBBi", 10, 64, 0, 0, index))


@pytest.mark.parametrize(
    ("data", "relevant"),
    [
        pytest.param(_link(16, "veth1a2b"), False, id="new-veth-is-ignored"),
        pytest.param(_link(17, "cali12") + _link(16, "lxc9"), False, id="pod-churn-is-ignored"),
        pytest.param(_link(16, "eth1"), True, id="new-eth1-matters"),
        pytest.param(_link(16, "veth1") + _link(16, "eth1"), True, id="one-relevant-message-is-enough"),
        pytest.param(_addr(20, 9), False, id="address-on-a-known-excluded-interface"),
        pytest.param(_addr(21, 2), True, id="address-on-eth0"),
        pytest.param(_addr(20, 99), True, id="address-on-an-unknown-index"),
        pytest.param(_link(16, "veth1")[:-3], True, id="truncated-counts-as-relevant"),
        pytest.param(b"\x01\x02", True, id="garbage-counts-as-relevant"),
    ],
)
def test_netlink_notifications_about_excluded_interfaces_do_not_trigger_a_scan(data: bytes, relevant: bool) -> None:
    assert concerns_us(data, DEFAULTS, {2: "eth0", 9: "veth9"}) is relevant
