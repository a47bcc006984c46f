"""``pymetallb doctor --arp``'s probe on real packets: a client namespace asks who answers ARP/NDP for a VIP that
``python -m speaker.l2`` answers from node namespaces; one responder is one MAC, two are a duplicate, none is none."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from netlab import Host, Lab, missing_requirements

from reconciler.doctor.checks import ArpAnswer, arp_checks

VIP4 = "198.51.100.100"
VIP6 = "2001:db8::100"

PROBE = """
import asyncio, dataclasses, json, sys
from reconciler.doctor.probes import arp_probe
print(json.dumps(dataclasses.asdict(asyncio.run(arp_probe(sys.argv[1], count=2)))))
"""


@pytest.fixture(autouse=True)
def _tools() -> None:
    why = missing_requirements("arping", "ndisc6")
    if why:
        pytest.skip(why)


def _start(host: Host, tmp_path: Path, *args: str) -> subprocess.Popen[bytes]:
    out = tmp_path / f"{host.name}.log"
    proc = host.popen([sys.executable, "-m", "speaker.l2", *args], stdout=out.open("wb"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while '"event": "ready"' not in out.read_text() and proc.poll() is None:
        if time.monotonic() > deadline:
            pytest.fail(f"{host.name}: responder not ready: {out.read_text()}")
        time.sleep(0.1)
    assert proc.poll() is None, out.read_text()
    return proc


def _probe(client: Host, ip: str) -> ArpAnswer:
    out = client.run(sys.executable, "-c", PROBE, ip).stdout
    return ArpAnswer(**{k: tuple(v) if isinstance(v, list) else v for k, v in json.loads(out).items()})


@pytest.fixture
def hosts(lab: Lab) -> Iterator[tuple[Host, Host, Host]]:
    a = lab.add_host("nodea", v4="198.51.100.11/24", v6="2001:db8::11/64")
    b = lab.add_host("nodeb", v4="198.51.100.12/24", v6="2001:db8::12/64")
    client = lab.add_host("client", v4="198.51.100.2/24", v6="2001:db8::2/64")
    yield a, b, client


@pytest.mark.parametrize("vip", [VIP4, VIP6], ids=["arp", "ndp"])
def test_one_responder_is_one_mac_and_ok(hosts: tuple[Host, Host, Host], tmp_path: Path, vip: str) -> None:
    a, _, client = hosts
    _start(a, tmp_path, "--ip", vip)
    answer = _probe(client, vip)
    assert answer == ArpAnswer(vip, "eth0", (a.mac(),))
    [check] = arp_checks([answer])
    assert (check.status.value, check.subject) == ("ok", vip)


@pytest.mark.parametrize("vip", [VIP4, VIP6], ids=["arp", "ndp"])
def test_two_responders_are_a_duplicate_and_fail(hosts: tuple[Host, Host, Host], tmp_path: Path, vip: str) -> None:
    a, b, client = hosts
    _start(a, tmp_path, "--ip", vip)
    _start(b, tmp_path, "--ip", vip)
    answer = _probe(client, vip)
    assert sorted(answer.macs) == sorted([a.mac(), b.mac()])
    [check] = arp_checks([answer])
    assert check.status.value == "fail"
    assert "duplicate announcers" in check.details
    assert a.mac() in check.details and b.mac() in check.details


def test_nobody_answering_fails(hosts: tuple[Host, Host, Host]) -> None:
    _, _, client = hosts
    answer = _probe(client, VIP4)
    assert answer == ArpAnswer(VIP4, "eth0", ())
    [check] = arp_checks([answer])
    assert check.status.value == "fail"
    assert check.details == "nobody answers ARP on eth0"
