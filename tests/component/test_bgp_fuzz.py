"""Hostile bytes from a fake peer in the router namespace only ever end a session with a NOTIFICATION (or are a
valid message that changes nothing); the speaker process survives every round and reconnects."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bgp_peers import Speaker
from netlab import Lab


def test_fuzzed_bytes_only_ever_cause_a_notification(lab: Lab) -> None:
    router = lab.add_host("router", v4="198.51.100.2/24")
    node = lab.add_host("node", v4="198.51.100.11/24")
    rounds = 20
    fake = router.popen(
        [sys.executable, str(Path(__file__).parent / "bgp_fuzz_peer.py"), "179", str(rounds), "7"],
        stdout=subprocess.PIPE,
    )
    spk = Speaker(node, "--peer", "198.51.100.2", "--my-asn", "64512", "--peer-asn", "64513", "--hold-time", "9")
    assert fake.stdout is not None
    results = [json.loads(fake.stdout.readline()) for _ in range(rounds)]
    assert spk.proc.poll() is None, "the speaker survived every round"
    ended = [r for r in results if r["closed"]]
    assert ended, "some junk must have ended a session"
    for r in ended:
        if r["sent_type"] == 3 and r["notification"] is None:
            continue  # the junk was a (well-formed) NOTIFICATION: one is never answered with another (RFC 4271 §6.4)
        assert r["notification"] is not None, f"a session ended without a NOTIFICATION: {results}"
        assert 1 <= r["notification"][0] <= 7  # an error code of RFC 4271 §4.5 or RFC 7313
    assert len(results) == rounds, "the speaker reconnected after every round"
