"""The lab itself: hosts on one bridge reach each other over IPv4 and IPv6, and close() leaves nothing behind."""

from __future__ import annotations

import subprocess

from netlab import Lab


def test_hosts_on_the_bridge_reach_each_other_and_close_removes_the_namespaces(lab: Lab) -> None:
    a = lab.add_host("a", v4="198.51.100.1/24", v6="2001:db8::1/64")
    b = lab.add_host("b", v4="198.51.100.2/24", v6="2001:db8::2/64")
    assert a.run("ping", "-c", "1", "-W", "2", b.ip4, check=False).returncode == 0
    assert a.run("ping", "-6", "-c", "1", "-W", "2", b.ip6, check=False).returncode == 0
    names = [a.netns, b.netns, lab.bridge_ns]
    lab.close()
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert not any(n in listed for n in names)
