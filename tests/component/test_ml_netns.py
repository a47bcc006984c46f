"""The failure detector over real UDP between network namespaces: crash, graceful leave, sustained packet loss,
a partition and its healing, a busy main thread, and hostile datagrams (tests/component/ml_node.py per member).

Waits have generous bounds (they only keep a broken run from hanging); detection speed is measured by
``bench/bench_membership.py``, not asserted here.
"""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from netlab import Host, Lab, missing_requirements

NODE = str(Path(__file__).with_name("ml_node.py"))
PORT = 7946


class Member:
    """A running ml_node.py process and the JSON lines it printed."""

    def __init__(
        self, host: Host, peers: dict[str, str], key_file: str, hog: float = 0.0, hog_kind: str = "--hog"
    ) -> None:
        self.host = host
        args = [sys.executable, NODE, host.name, host.ip4, json.dumps(peers), key_file]
        if hog:
            args += [hog_kind, str(hog)]
        self.proc = host.popen(args, stdout=subprocess.PIPE)
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        self.changes: list[dict[str, Any]] = []
        threading.Thread(target=self._read, daemon=True).start()
        self.expect(lambda e: e["event"] == "ready", 20)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            self.lines.put(json.loads(raw))

    def expect(self, pred: Any, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{self.host.name}: expected event not seen; changes so far {self.changes}")
            try:
                e = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if e["event"] == "change":
                self.changes.append(e)
            if pred(e):
                return e

    def wait_alive(self, alive: set[str], timeout: float = 10) -> None:
        if self.changes and set(self.changes[-1]["alive"]) == alive:
            return
        self.expect(lambda e: e["event"] == "change" and set(e["alive"]) == alive, timeout)

    def drain(self) -> list[dict[str, Any]]:
        """Change events printed since the last look."""
        seen = len(self.changes)
        while True:
            try:
                e = self.lines.get_nowait()
            except queue.Empty:
                return self.changes[seen:]
            if e["event"] == "change":
                self.changes.append(e)

    def stats(self) -> dict[str, Any]:
        self.proc.send_signal(signal.SIGUSR1)
        stats: dict[str, Any] = self.expect(lambda e: e["event"] == "stats", 10)["stats"]
        return stats

    def terminate(self) -> dict[str, Any]:
        self.proc.send_signal(signal.SIGTERM)
        return self.expect(lambda e: e["event"] == "left", 10)


def settle(members: list[Member], alive: set[str], quiet: float = 1.5, timeout: float = 30) -> None:
    """Wait until every member reports ``alive`` and nobody changed for ``quiet`` seconds (members start one
    after another, and the first ones rightly declare the not-yet-started ones dead meanwhile)."""
    deadline = time.monotonic() + timeout
    last_change = time.monotonic()
    while time.monotonic() < deadline:
        if any(m.drain() for m in members):
            last_change = time.monotonic()
        settled = all(m.changes and set(m.changes[-1]["alive"]) == alive for m in members)
        if settled and time.monotonic() - last_change >= quiet:
            return
        time.sleep(0.1)
    raise AssertionError(f"membership did not settle on {sorted(alive)}: {[m.changes[-3:] for m in members]}")


@pytest.fixture
def key_file(tmp_path: Path) -> str:
    d = tmp_path / "memberlist"
    d.mkdir()
    (d / "secretkey").write_text("c2VjcmV0LWtleS1mb3ItdGVzdHM\n")
    return str(d)


@pytest.fixture
def trio(lab: Lab, key_file: str) -> Iterator[dict[str, Member]]:
    if why := missing_requirements("nft"):
        pytest.skip(why)
    hosts = [lab.add_host(f"n{i}", v4=f"198.51.100.{11 + i}/24") for i in range(3)]
    peers = {h.name: h.ip4 for h in hosts}
    members = {h.name: Member(h, peers, key_file) for h in hosts}
    settle(list(members.values()), set(peers))
    yield members


ALL = {"n0", "n1", "n2"}


def test_a_killed_member_is_reported_gone_by_the_others(trio: dict[str, Member]) -> None:
    trio["n2"].proc.send_signal(signal.SIGKILL)
    for n in ("n0", "n1"):
        trio[n].wait_alive({"n0", "n1"}, timeout=5)
        assert trio[n].changes[-1]["departed"] == ["n2"]


def test_a_terminated_member_leaves_at_once_and_its_leave_is_acknowledged(trio: dict[str, Member]) -> None:
    left = trio["n1"].terminate()
    assert left["acked"] is True
    for n in ("n0", "n2"):
        trio[n].wait_alive({"n0", "n2"}, timeout=5)


LOSS = """
table inet mlloss {
    chain input {
        type filter hook input priority 0; policy accept;
        udp dport 7946 numgen random mod 100 < 5 counter drop
    }
}
"""


def test_five_percent_loss_for_a_minute_causes_no_change(trio: dict[str, Member]) -> None:
    for m in trio.values():
        m.host.nft(LOSS)
    before = {n: m.stats() for n, m in trio.items()}
    time.sleep(60)
    for n, m in trio.items():
        assert m.drain() == [], f"{n} saw membership changes under 5% loss"
        assert m.stats()["declared_dead"] == before[n]["declared_dead"]
    dropped = trio["n0"].host.run("nft", "list", "table", "inet", "mlloss").stdout
    assert "packets 0 " not in dropped  # the rule really dropped datagrams


def partition(host: Host, others: list[Host]) -> None:
    addrs = ", ".join(o.ip4 for o in others)
    host.nft(
        f"""
table inet mlcut {{
    chain input {{
        type filter hook input priority 0; policy accept;
        ip saddr {{ {addrs} }} udp dport 7946 drop
    }}
    chain output {{
        type filter hook output priority 0; policy accept;
        ip daddr {{ {addrs} }} udp dport 7946 drop
    }}
}}
"""
    )


def test_a_partition_is_detected_on_both_sides_and_healing_restores_everyone(trio: dict[str, Member]) -> None:
    n0, n1, n2 = (trio[n].host for n in ("n0", "n1", "n2"))
    partition(n0, [n1, n2])
    trio["n0"].wait_alive({"n0"})
    trio["n1"].wait_alive({"n1", "n2"})
    trio["n2"].wait_alive({"n1", "n2"})
    n0.run("nft", "delete", "table", "inet", "mlcut")
    for m in trio.values():
        m.wait_alive(ALL)


@pytest.mark.parametrize("hog_kind", ["--hog", "--hog-json"], ids=["python-spin", "json-pages"])
def test_a_busy_main_thread_does_not_make_anyone_look_dead(lab: Lab, key_file: str, hog_kind: str) -> None:
    hosts = [lab.add_host(f"h{i}", v4=f"198.51.100.{21 + i}/24") for i in range(3)]
    peers = {h.name: h.ip4 for h in hosts}
    # h0's main thread runs an asyncio loop that never yields for 2 s at a time, competing for the GIL.
    members = [
        Member(hosts[0], peers, key_file, hog=2.0, hog_kind=hog_kind),
        Member(hosts[1], peers, key_file),
        Member(hosts[2], peers, key_file),
    ]
    settle(members, set(peers))
    before = [m.stats() for m in members]
    time.sleep(20)
    for m in members:
        assert m.drain() == [], f"{m.host.name} saw membership changes"
    after = [m.stats() for m in members]
    for b, a in zip(before, after, strict=True):
        assert a["declared_dead"] == b["declared_dead"]
        assert a["probes"] > b["probes"]


def test_wrong_key_and_garbage_datagrams_change_nothing_and_are_counted(
    trio: dict[str, Member], lab: Lab, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "secretkey").write_text("bm90LXRoZS1jbHVzdGVyLWtleQ\n")
    intruder_host = lab.add_host("evil", v4="198.51.100.66/24")
    peers = {"evil": intruder_host.ip4, **{n: m.host.ip4 for n, m in trio.items()}}
    Member(intruder_host, peers, str(other))  # knows everyone, speaks under the wrong key
    garbage = (
        "import socket,os\n"
        "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
        "for i in range(300): s.sendto(os.urandom(i % 90), ('198.51.100.11', 7946))\n"
    )
    intruder_host.run(sys.executable, "-c", garbage)
    time.sleep(2)
    assert trio["n0"].drain() == []
    stats = trio["n0"].stats()
    assert stats["dropped"].get("auth_failed", 0) > 0
    assert stats["dropped"].get("truncated", 0) + stats["dropped"].get("bad_version", 0) > 0
    assert set(trio["n0"].changes[-1]["alive"]) == ALL
