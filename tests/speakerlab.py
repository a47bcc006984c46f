"""A small cluster for speaker tests: node namespaces on one bridge, Node objects on the real test apiserver,
``pymetallb speaker`` in each node namespace, and a client namespace that asks who answers for a VIP.

    sc = SpeakerCluster(apiserver, lab, namespace, tmp_path)
    a, b, c = (sc.add_node(i) for i in (1, 2, 3))
    sc.pool("vips", "198.51.100.100-198.51.100.120"); sc.l2_advertisement("all")
    sc.service("web", "198.51.100.100", endpoints_on=[a.name])
    for n in (a, b, c): sc.start_speaker(n)
    sc.eventually(lambda: sc.answering_macs("198.51.100.100") == {sc.mac_of(sc.l2_owner("web"))})

Nodes are named ``<ns-suffix>-n<i>`` and labelled ``pymetallb.test/lab=<namespace>``; every advertisement
selects only that label, so speakers of other tests (and their Nodes) never take part. Services get their
``status.loadBalancer.ingress`` directly through the status subresource (no controller needed: the speaker
only reads it), and EndpointSlices are written by the test, as the endpoint controller would.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from netlab import Host, Lab

T = TypeVar("T")
PYMETALLB = str(Path(sys.executable).with_name("pymetallb"))
LAB_LABEL = "pymetallb.test/lab"
# Debian's arping (Habets): "42 bytes from 4a:94:..:ae (198.51.100.100): index=0 time=..."; iputils' arping:
# "Unicast reply from 198.51.100.100 [4A:94:..:AE]".
_REPLY = re.compile(r"bytes from ([0-9A-Fa-f:]{17}) \(|reply from \S+ \[([0-9A-Fa-f:]{17})\]")
_NDISC = re.compile(r"Target link-layer address: ([0-9A-Fa-f:]{17})")


def eventually(fn: Callable[[], T], *, timeout: float = 30.0, what: str = "condition", interval: float = 0.2) -> T:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = fn()
            if last:
                return last
        except (AssertionError, subprocess.CalledProcessError, KeyError) as exc:
            last = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}; last: {last!r}")


@dataclass
class Node:
    name: str
    host: Host
    ip4: str
    ip6: str
    speaker: subprocess.Popen[bytes] | None = None
    log: Path | None = None
    starts: int = 0


@dataclass
class SpeakerCluster:
    api: Any  # testenv_server.TestAPIServer
    lab: Lab
    ns: str
    tmp: Path
    nodes: dict[str, Node] = field(default_factory=dict)
    client: Host | None = None
    classed: bool = True
    node_prefix: str = ""
    """Node names are ``<node_prefix>-n<i>``; empty: the last six characters of ``ns`` (unique per test)."""

    def __post_init__(self) -> None:
        self.suffix = self.node_prefix or self.ns[-6:]
        # Speakers watch every Service in the cluster: a class per test keeps earlier tests' Services (their
        # namespaces take seconds to go) out of this test's elections, as two installs of MetalLB are kept apart.
        # The demo and the bench own their apiserver and write their own Services: they run classless.
        self.lb_class: str | None = f"test.pymetallb.io/{self.suffix}" if self.classed else None
        self.key_dir = self.tmp / "ml-secret"
        self.key_dir.mkdir(exist_ok=True)
        (self.key_dir / "secretkey").write_text(secrets.token_urlsafe(16))
        self.client = self.lab.add_host("client", v4="198.51.100.2/24", v6="2001:db8::2/64")

    def close(self, admin: Any) -> None:
        """Kill the speakers and delete this test's Nodes and namespace through ``admin`` (an apiserver handle
        with full rights: a test's own handle may be a restricted ServiceAccount)."""
        for node in self.nodes.values():
            if node.speaker is not None and node.speaker.poll() is None:
                node.speaker.kill()
                node.speaker.wait()
        for node in self.nodes.values():
            admin.kubectl("delete", "node", node.name, "--wait=false", "--ignore-not-found", check=False)
        admin.kubectl("delete", "namespace", self.ns, "--wait=false", "--ignore-not-found", check=False)

    # --- kubectl ---------------------------------------------------------------------------------------------

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        result: subprocess.CompletedProcess[str] = self.api.kubectl(*args, input=input, check=check)
        return result

    def apply(self, obj: dict[str, Any]) -> None:
        self.kubectl("apply", "-f", "-", input=json.dumps(obj))

    def patch_status(self, kind: str, name: str, patch: dict[str, Any], namespaced: bool = True) -> None:
        ns = ["-n", self.ns] if namespaced else []
        self.kubectl("patch", kind, name, *ns, "--subresource=status", "--type=merge", "-p", json.dumps(patch))

    def get(self, kind: str, name: str, namespaced: bool = True) -> dict[str, Any]:
        ns = ["-n", self.ns] if namespaced else []
        out = self.kubectl("get", kind, name, *ns, "-o", "json").stdout
        return json.loads(out)  # type: ignore[no-any-return]

    def items(self, kind: str, *selector: str) -> list[dict[str, Any]]:
        out = self.kubectl("get", kind, "-n", self.ns, *selector, "-o", "json").stdout
        return json.loads(out)["items"]  # type: ignore[no-any-return]

    # --- nodes and speakers ----------------------------------------------------------------------------------

    def add_node(self, index: int) -> Node:
        name = f"{self.suffix}-n{index}"
        ip4, ip6 = f"198.51.100.{10 + index}", f"2001:db8::{10 + index:x}"
        host = self.lab.add_host(f"n{index}", v4=f"{ip4}/24", v6=f"{ip6}/64")
        self.lab.uplink(host)
        self.apply(
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {"name": name, "labels": {LAB_LABEL: self.ns, "kubernetes.io/hostname": name}},
            }
        )
        self.patch_status(
            "node",
            name,
            {
                "status": {
                    "addresses": [{"type": "InternalIP", "address": ip4}, {"type": "Hostname", "address": name}],
                    "conditions": [{"type": "Ready", "status": "True", "reason": "Test", "message": ""}],
                }
            },
            namespaced=False,
        )
        node = Node(name, host, ip4, ip6)
        self.nodes[name] = node
        return node

    def start_speaker(self, node: Node, *extra: str, bgp: bool = False) -> None:
        node.starts += 1
        node.log = self.tmp / f"speaker-{node.name}-{node.starts}.log"
        args = [
            PYMETALLB,
            "speaker",
            "--node-name",
            node.name,
            "--kubeconfig",
            str(self.api.kubeconfig),
            "--namespace",
            self.ns,
            "--ml-bindaddr",
            node.ip4,
            "--ml-secret-key-path",
            str(self.key_dir),
            "--port",
            "7472",
            "--bgp",
            "true" if bgp else "false",
            *(["--lb-class", self.lb_class] if self.lb_class else []),
            *extra,
        ]
        with open(node.log, "wb") as out:
            node.speaker = node.host.popen(
                args, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"}
            )

    def stop_speaker(self, node: Node, sig: signal.Signals = signal.SIGTERM, *, wait: bool = True) -> int | None:
        proc = node.speaker
        if proc is None:
            return None
        # ip netns exec execs the command, so the Popen's pid is the speaker's.
        proc.send_signal(sig)
        if not wait:
            return None
        return proc.wait(timeout=20)

    def events_of(self, node: Node) -> list[dict[str, Any]]:
        out = []
        for path in sorted(self.tmp.glob(f"speaker-{node.name}-*.log")):
            for line in path.read_text().splitlines():
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
        return out

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()[-4000:]}" for p in sorted(self.tmp.glob("speaker-*.log")))

    # --- config and services ---------------------------------------------------------------------------------

    def pool(self, name: str, *addresses: str) -> None:
        self.apply(
            {
                "apiVersion": "metallb.io/v1beta1",
                "kind": "IPAddressPool",
                "metadata": {"name": name, "namespace": self.ns},
                "spec": {"addresses": list(addresses)},
            }
        )

    def l2_advertisement(self, name: str, **spec: Any) -> None:
        selectors = spec.pop("nodeSelectors", None) or [{"matchLabels": {LAB_LABEL: self.ns}}]
        self.apply(
            {
                "apiVersion": "metallb.io/v1beta1",
                "kind": "L2Advertisement",
                "metadata": {"name": name, "namespace": self.ns},
                "spec": {"nodeSelectors": selectors, **spec},
            }
        )

    def service(
        self,
        name: str,
        *ips: str,
        endpoints_on: Iterable[str] = (),
        etp: str = "Cluster",
        annotations: dict[str, str] | None = None,
        port: int = 80,
        policy: str | None = None,
    ) -> None:
        families = ["IPv6" if ":" in ip else "IPv4" for ip in ips]
        spec: dict[str, Any] = {
            "type": "LoadBalancer",
            **({"loadBalancerClass": self.lb_class} if self.lb_class else {}),
            "ports": [{"port": port, "protocol": "TCP"}],
            "selector": {"app": name},
            "externalTrafficPolicy": etp,
        }
        if policy:
            spec["ipFamilyPolicy"] = policy
            spec["ipFamilies"] = families
        self.apply(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": name, "namespace": self.ns, "annotations": annotations or {}},
                "spec": spec,
            }
        )
        self.patch_status("service", name, {"status": {"loadBalancer": {"ingress": [{"ip": ip} for ip in ips]}}})
        self.endpoints(name, list(endpoints_on))

    def endpoints(self, service: str, nodes: list[str]) -> None:
        self.apply(
            {
                "apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice",
                "metadata": {
                    "name": f"{service}-eps",
                    "namespace": self.ns,
                    "labels": {"kubernetes.io/service-name": service},
                },
                "addressType": "IPv4",
                "endpoints": [
                    {"addresses": [f"10.244.{i}.10"], "nodeName": n, "conditions": {"ready": True}}
                    for i, n in enumerate(nodes, 1)
                ],
                "ports": [{"port": 8080, "protocol": "TCP"}],
            }
        )

    def label_node(self, node: Node, key: str, value: str | None) -> None:
        self.kubectl("label", "node", node.name, f"{key}-" if value is None else f"{key}={value}", "--overwrite")

    def set_condition(self, node: Node, type_: str, status: str) -> None:
        conditions = [{"type": "Ready", "status": "True", "reason": "Test", "message": ""}]
        conditions.append({"type": type_, "status": status, "reason": "Test", "message": ""})
        self.patch_status("node", node.name, {"status": {"conditions": conditions}}, namespaced=False)

    # --- what the world sees ---------------------------------------------------------------------------------

    def l2_owner(self, service: str) -> str | None:
        """The node of the (single) ServiceL2Status of a Service, or None; fails on two."""
        found = self.items("servicel2statuses", "-l", f"metallb.io/service-name={service}")
        nodes = {i["status"].get("node") for i in found if i.get("status")}
        assert len(nodes) <= 1, f"two ServiceL2Status nodes for {service}: {nodes}"
        return next(iter(nodes), None)

    def mac_of(self, node_name: str | None) -> str:
        assert node_name is not None
        return self.nodes[node_name].host.mac().lower()

    def answering_macs(self, ip: str, count: int = 3) -> set[str]:
        """MACs that answer ARP (IPv4) or NDP (IPv6) for ``ip`` from the client, lower case."""
        assert self.client is not None
        if ":" in ip:
            out = self.client.run("ndisc6", "-n", "-r", "2", "-w", "500", ip, "eth0", check=False).stdout
            return {m.lower() for m in _NDISC.findall(out)}
        out = self.client.run("arping", "-c", str(count), "-w", str(count + 1), "-I", "eth0", ip, check=False).stdout
        if "bytes from" not in out and "reply from" not in out and "unanswered" not in out and "Received" not in out:
            raise AssertionError(f"arping printed nothing this harness can read: {out!r}")
        return {(a or b).lower() for a, b in _REPLY.findall(out)}

    def who(self, mac: str) -> str | None:
        for node in self.nodes.values():
            if node.host.mac().lower() == mac:
                return node.name
        return None
