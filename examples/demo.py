"""`make demo`: the whole of pymetallb on one machine, with real parts, then everything removed again.

As root it starts, in this order:

- the test kube-apiserver (built from source by `make testenv`) on APISERVER_V4 (203.0.113.254, a /32 on the root
  namespace's ``lo``), with the CRDs applied;
- ``pymetallb webhook`` in the root namespace, serving on that address and registering itself with the apiserver
  (``--register-url``), so every ``kubectl apply`` below passes through it;
- ``pymetallb controller`` in the root namespace, which gives the Services their IPs;
- a LAN (198.51.100.0/24, one bridge) of network namespaces: three nodes ``demo-n1..3`` each running
  ``pymetallb speaker`` (uplinked to the apiserver through a veth the speaker never announces on), a router
  running BIRD 2 (AS 64513) that installs the BGP routes in its kernel and forwards, and a client;
- ``examples/demo/`` applied: an L2 pool, a BGP pool with a BGPPeer to the router, two Services.

Then it prints who got which IP and who announces it, curls both VIPs from the client (the BGP one through the
router), shows BIRD's routes, SIGKILLs the speaker that answers ARP for the L2 VIP and measures the failover the
way a client sees it (an ARP request every 10 ms: last reply from the old MAC to the first from the new one),
runs ``pymetallb doctor`` when this checkout has it, and removes every namespace and process: also on Ctrl-C or
SIGTERM, and on failure.

How a node accepts traffic for a VIP it does not own as an address: an nftables DNAT of the pools' addresses on
port 80 to the node's own address, as kube-proxy does for a LoadBalancer IP. The VIP is never an address of the
node, so the node's kernel never answers ARP for it: the only ARP answers are our speaker's. (Putting the VIP on
``lo`` would make every node's kernel answer ARP for it unless ``arp_ignore``/``arp_announce`` are tuned, and
would need the IP known before the controller has chosen it.)

Without root it says why and runs the offline part (``examples/demo.sh``: migrate, validate, plan).

    python examples/demo.py [--non-interactive]

Exit status 0 when every step worked, 1 when one failed (the reason is printed), 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from types import FrameType
from typing import IO, TypeVar

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests"), str(REPO / "tests" / "testenv")]

from bgp_peers import Bird  # noqa: E402
from netlab import APISERVER_V4, Host, Lab, ensure_apiserver_address, missing_requirements  # noqa: E402
from speakerlab import Node, SpeakerCluster  # noqa: E402
from testenv_server import DEFAULT_BIN_DIR, TestAPIServer, TestEnvError, missing_binaries  # noqa: E402

T = TypeVar("T")
PYMETALLB = str(Path(sys.executable).with_name("pymetallb"))
EXAMPLES = REPO / "examples" / "demo"
NS = "metallb-system"
APP_NS = "demo"
ROUTER = "198.51.100.1"
MY_ASN, ROUTER_ASN = 64512, 64513
L2_POOL = "198.51.100.100-198.51.100.109"
BGP_POOL = "198.51.100.200/29"
PROBE_INTERVAL = 0.010
"""Seconds between the failover prober's ARP requests (the figure's resolution)."""

# The failover prober runs in the client namespace: one ARP request for the VIP every PROBE_INTERVAL, and one JSON
# line per reply (monotonic time, sender MAC). It stops when its stdin closes.
PROBER = r"""
import json, select, socket, sys, time
from ipaddress import IPv4Address
from speaker.l2.codec import BROADCAST, Arp, ArpOp, Ethernet, EtherType
vip, me_ip, interval = IPv4Address(sys.argv[1]), IPv4Address(sys.argv[2]), float(sys.argv[3])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0806))
s.bind(("eth0", 0x0806))
me = s.getsockname()[4]
frame = Ethernet(BROADCAST, me, EtherType.ARP, Arp(ArpOp.REQUEST, me, me_ip, bytes(6), vip).encode()).encode()
want = vip.packed
print(json.dumps({"started": time.monotonic()}), flush=True)
next_send = time.monotonic()
while True:
    now = time.monotonic()
    if now >= next_send:
        s.send(frame)
        next_send = now + interval
    ready = select.select([s, sys.stdin], [], [], max(0.0, next_send - time.monotonic()))[0]
    if sys.stdin in ready:
        break
    if s in ready:
        d = s.recv(65535)
        if len(d) >= 42 and d[12:14] == b"\x08\x06" and d[20:22] == b"\x00\x02" and d[28:32] == want:
            print(json.dumps({"t": time.monotonic(), "mac": d[22:28].hex(":")}), flush=True)
"""


class DemoError(Exception):
    """A step of the demo failed; the message says which and why."""


class Stopped(Exception):
    """SIGTERM arrived: clean up and exit like Ctrl-C."""


def say(text: str = "") -> None:
    print(text, flush=True)  # noqa: T201 - this program's output is the demo


def step(title: str) -> None:
    say(f"\n== {title}")


def wait_for(fn: Callable[[], T | None], *, what: str, timeout: float = 120.0, interval: float = 0.3) -> T:
    """Poll ``fn`` until it returns something truthy; ``DemoError`` naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            value = fn()
            if value:
                return value
            last = value
        except (subprocess.CalledProcessError, KeyError, AssertionError, OSError) as exc:
            last = exc
        time.sleep(interval)
    raise DemoError(f"timed out after {timeout:g}s waiting for {what} (last: {last!r})")


def pause(interactive: bool, prompt: str) -> None:
    if interactive:
        input(f"\n>> {prompt} [Enter] ")


class Demo:
    """Owns every process and namespace the demo starts; ``close()`` removes them all."""

    def __init__(self, stack: ExitStack, tmp: Path, *, interactive: bool) -> None:
        self.stack = stack
        self.tmp = tmp
        self.interactive = interactive

    # --- the control plane: apiserver, webhook, controller ------------------------------------------------------

    def start_apiserver(self) -> TestAPIServer:
        ensure_apiserver_address()
        api = TestAPIServer(data_dir=self.tmp / "apiserver", bin_dir=DEFAULT_BIN_DIR, bind_address=APISERVER_V4)
        api.start()
        self.stack.callback(api.stop)
        api.apply_crds(REPO / "crds")
        api.kubectl("create", "namespace", NS)
        say(f"test kube-apiserver ready at {api.server} ({api.ready_seconds:.1f} s), CRDs applied")
        return api

    def start_program(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = self.tmp / f"{name}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen([PYMETALLB, *args], stdout=out, stderr=subprocess.STDOUT)
        self.stack.callback(_stop, proc)
        return proc

    def start_webhook(self, api: TestAPIServer) -> None:
        with socket.socket() as s:
            s.bind((APISERVER_V4, 0))
            port = int(s.getsockname()[1])
        url = f"https://{APISERVER_V4}:{port}"
        proc = self.start_program(
            "webhook",
            "webhook",
            f"--kubeconfig={api.kubeconfig}",
            f"--namespace={NS}",
            f"--host={APISERVER_V4}",
            f"--port={port}",
            f"--register-url={url}",
        )
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE  # readiness only; the apiserver checks the certificate against the CA bundle

        def ready() -> bool:
            if proc.poll() is not None:
                raise DemoError(f"webhook exited {proc.returncode}: {self.tail('webhook')}")
            with urllib.request.urlopen(f"{url}/readyz", context=ctx, timeout=2) as r:
                return int(r.status) == 200

        wait_for(ready, what="the webhook's /readyz")
        hooks = api.kubectl("get", "validatingwebhookconfigurations", "-o", "name").stdout.split()
        say(f"webhook serving on {url}, registered with the apiserver: {', '.join(hooks)}")

    def start_controller(self, api: TestAPIServer) -> None:
        self.start_program(
            "controller",
            "controller",
            f"--kubeconfig={api.kubeconfig}",
            f"--namespace={NS}",
            "--port=0",
            "--leader-elect=false",
        )
        say("controller started (root namespace, same apiserver)")

    def tail(self, name: str, chars: int = 3000) -> str:
        path = self.tmp / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    # --- the LAN: nodes with speakers and responders, router, client --------------------------------------------

    def build_lan(self, api: TestAPIServer) -> tuple[Lab, SpeakerCluster, Bird]:
        lab = Lab("demo")
        lab.__enter__()
        self.stack.callback(lab.close)
        say(f"namespaces {lab.base}-*: bridge, client, demo-n1..3, router")
        sc = SpeakerCluster(api, lab, NS, self.tmp, node_prefix="demo", classed=False)
        nodes = [sc.add_node(i) for i in (1, 2, 3)]
        router = lab.add_host("router", v4=f"{ROUTER}/24")
        # The router forwards the client's packets for BGP VIPs to a node on the same LAN: no ICMP redirects, or
        # the client would learn to bypass it.
        router.run("sysctl", "-qw", "net.ipv4.ip_forward=1")
        router.run("sysctl", "-qw", "net.ipv4.conf.all.send_redirects=0", "net.ipv4.conf.eth0.send_redirects=0")
        bird = Bird(
            router,
            asn=ROUTER_ASN,
            neighbors=[(n.name.replace("-", "_"), n.ip4, MY_ASN, "hold time 9;") for n in nodes],
            extra="protocol kernel { ipv4 { export all; }; merge paths on; }",
        )
        self.stack.callback(shutil.rmtree, bird.dir, True)
        assert sc.client is not None
        # The BGP pool lies inside the LAN's /24; this more specific route sends it through the router instead.
        sc.client.run("ip", "route", "add", BGP_POOL, "via", ROUTER)
        for node in nodes:
            self.serve_http(node)
            sc.start_speaker(node, bgp=True)
        say(f"speakers started in {', '.join(n.name for n in nodes)}; BIRD (AS {ROUTER_ASN}) in the router")
        return lab, sc, bird

    def serve_http(self, node: Node) -> None:
        """An HTTP responder on the node's own address, and the DNAT that brings VIP:80 to it (module docstring)."""
        root = self.tmp / f"www-{node.name}"
        root.mkdir()
        (root / "index.html").write_text(f"hello from {node.name}\n")
        node.host.nft(
            textwrap.dedent(
                f"""\
                table ip demo {{
                  chain prerouting {{
                    type nat hook prerouting priority dstnat;
                    ip daddr {{ {L2_POOL}, {BGP_POOL} }} tcp dport 80 dnat to {node.ip4}:80
                  }}
                }}
                """
            )
        )
        node.host.popen(
            [sys.executable, "-m", "http.server", "80", "--bind", node.ip4, "--directory", str(root)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    # --- what the world sees ------------------------------------------------------------------------------------

    def apply_examples(self, api: TestAPIServer) -> None:
        for name in ("config.yaml", "services.yaml"):
            out = api.kubectl("apply", "-f", str(EXAMPLES / name)).stdout
            say(textwrap.indent(out.rstrip(), "  "))
        denied = api.kubectl("apply", "-f", str(EXAMPLES / "rejected-pool.yaml"), check=False)
        if denied.returncode == 0:
            raise DemoError("the webhook admitted a pool that overlaps demo-l2")
        say(f"  and one the webhook rejects (examples/demo/rejected-pool.yaml):\n  {denied.stderr.strip()}")

    def assignments(self, api: TestAPIServer) -> dict[str, str]:
        def ips() -> dict[str, str] | None:
            items = json.loads(api.kubectl("get", "services", "-n", APP_NS, "-o", "json").stdout)["items"]
            found = {}
            for svc in items:
                ingress = (svc.get("status", {}).get("loadBalancer", {}).get("ingress")) or []
                if ingress:
                    found[svc["metadata"]["name"]] = ingress[0]["ip"]
            return found if set(found) == {"web-l2", "web-bgp"} else None

        try:
            return wait_for(ips, what="the controller to assign both Services an IP")
        except DemoError as exc:
            raise DemoError(f"{exc}\ncontroller log:\n{self.tail('controller')}") from None


def l2_owner(sc: SpeakerCluster) -> str | None:
    found = sc.items("servicel2statuses", "-l", "metallb.io/service-name=web-l2")
    nodes = {i["status"].get("node") for i in found if i.get("status")}
    return next(iter(nodes)) if len(nodes) == 1 else None


def bgp_announcers(sc: SpeakerCluster) -> dict[str, list[str]] | None:
    found = sc.items("servicebgpstatuses", "-l", "metallb.io/service-name=web-bgp")
    out = {i["status"]["node"]: i["status"].get("peers", []) for i in found if i.get("status")}
    return out if len(out) == 3 else None


def curl(client: Host, ip: str) -> str:
    res = client.run("curl", "-sS", "--max-time", "3", f"http://{ip}/", check=False)
    if res.returncode != 0:
        raise AssertionError(res.stderr.strip())
    return res.stdout.strip()


@contextmanager
def prober(client: Host, vip: str) -> Iterator[list[tuple[float, str]]]:
    """ARP for ``vip`` every PROBE_INTERVAL from the client; yields the list of replies (monotonic time, MAC),
    which a reader thread fills as they come (the prober's clock is this machine's monotonic clock too)."""
    proc = client.popen(
        [sys.executable, "-c", PROBER, vip, client.ip4, str(PROBE_INTERVAL)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=str(REPO),
    )
    assert proc.stdin is not None and proc.stdout is not None
    if not proc.stdout.readline():
        raise DemoError(f"the ARP prober did not start: {proc.stderr.read().decode() if proc.stderr else ''}")
    replies: list[tuple[float, str]] = []

    def read(stdout: IO[bytes]) -> None:
        for line in stdout:
            rec = json.loads(line)
            replies.append((rec["t"], rec["mac"]))

    reader = threading.Thread(target=read, args=(proc.stdout,), name="arp-prober-reader", daemon=True)
    reader.start()
    try:
        yield replies
    finally:
        proc.stdin.close()  # the prober's signal to stop
        proc.wait(timeout=10)
        reader.join(timeout=10)


def measure_failover(sc: SpeakerCluster, vip: str, owner: str) -> tuple[str, float]:
    """SIGKILL ``owner``'s speaker while the client ARPs for ``vip``; the new owner and the client-side gap."""
    assert sc.client is not None
    old_mac = sc.mac_of(owner)
    victim = sc.nodes[owner]
    with prober(sc.client, vip) as replies:
        time.sleep(1.0)  # replies from the old owner before the kill
        killed_at = time.monotonic()
        sc.stop_speaker(victim, signal.SIGKILL)
        say(f"  SIGKILLed the speaker of {owner} ({old_mac})")

        def moved() -> str | None:
            macs = sc.answering_macs(vip, count=1)
            return next((m for m in macs if m != old_mac), None)

        wait_for(moved, what="another node to answer ARP for the VIP", timeout=90, interval=0.5)
        time.sleep(0.5)
    old = [t for t, m in replies if m == old_mac]
    new = [(t, m) for t, m in replies if m != old_mac and t > (old[-1] if old else killed_at)]
    if not old or not new:
        raise DemoError(f"the prober saw no handover (replies from old MAC: {len(old)}, new: {len(new)})")
    new_owner = sc.who(new[0][1]) or new[0][1]
    return new_owner, new[0][0] - old[-1]


def run(args: argparse.Namespace, stack: ExitStack, tmp: Path) -> int:
    demo = Demo(stack, tmp, interactive=args.interactive)
    say(f"work dir {tmp} (every program's log; removed at the end, kept when a step fails)")

    step("control plane: test kube-apiserver, webhook, controller")
    api = demo.start_apiserver()
    demo.start_webhook(api)
    demo.start_controller(api)

    step("the LAN: three nodes with a speaker each, a BIRD router, a client")
    _lab, sc, bird = demo.build_lan(api)
    client = sc.client
    assert client is not None

    step("kubectl apply -f examples/demo/ (through the webhook)")
    demo.apply_examples(api)

    step("assignments (the controller)")
    ips = demo.assignments(api)
    for svc, ip in sorted(ips.items()):
        say(f"  {APP_NS}/{svc:8} -> {ip}")

    step("announcements (the speakers: ServiceL2Status, ServiceBGPStatus)")
    owner = wait_for(lambda: l2_owner(sc), what="a ServiceL2Status for web-l2")
    say(f"  {APP_NS}/web-l2   {ips['web-l2']}: layer 2, answered by {owner} ({sc.mac_of(owner)})")
    peers = wait_for(lambda: bgp_announcers(sc), what="a ServiceBGPStatus from each node for web-bgp", timeout=90)
    for node, node_peers in sorted(peers.items()):
        say(f"  {APP_NS}/web-bgp  {ips['web-bgp']}: BGP from {node} to {', '.join(node_peers)}")

    step("BIRD's routes (router namespace) and its kernel table")
    prefix = f"{ips['web-bgp']}/32"
    wait_for(lambda: len(re.findall(r"\bvia ", bird.routes().get(prefix, ""))) == 3, what="three paths at BIRD")
    kernel = wait_for(
        lambda: bird.host.run("ip", "route", "show", prefix).stdout.strip(), what="the route in the router's kernel"
    )
    say(textwrap.indent(bird.cli("show", "route").rstrip(), "  "))
    say(f"  kernel: {kernel}")

    step("curl from the client namespace")
    for svc, how in (("web-l2", "L2, answered by ARP"), ("web-bgp", "BGP, routed by the router")):
        body = wait_for(functools.partial(curl, client, ips[svc]), what=f"curl of {svc}", timeout=30)
        say(f"  curl http://{ips[svc]}/  ({how}) -> {body}")
    say(f"  try it yourself: ip netns exec {client.netns} curl http://{ips['web-l2']}/")

    pause(args.interactive, f"next: SIGKILL the speaker of {owner} and measure the failover")
    step("failover: SIGKILL the announcing node's speaker")
    new_owner, gap = measure_failover(sc, ips["web-l2"], owner)
    say(
        f"  failover: {owner} -> {new_owner} in {gap:.2f} s "
        f"(client side: last ARP reply from the old MAC to the first from the new one, probing every "
        f"{PROBE_INTERVAL * 1000:.0f} ms)"
    )
    body = wait_for(lambda: curl(client, ips["web-l2"]), what="curl of web-l2 after the failover", timeout=30)
    say(f"  curl http://{ips['web-l2']}/ after the failover -> {body}")
    owner_after = wait_for(
        lambda: (o := l2_owner(sc)) != owner and o, what="the ServiceL2Status to name the new node", timeout=60
    )
    say(f"  ServiceL2Status now names {owner_after}")

    step("pymetallb doctor")
    has_doctor = subprocess.run([PYMETALLB, "doctor", "--help"], capture_output=True).returncode == 0
    if has_doctor:
        res = subprocess.run(
            [PYMETALLB, "doctor", f"--kubeconfig={api.kubeconfig}", f"--namespace={NS}"], capture_output=True, text=True
        )
        say(textwrap.indent((res.stdout + res.stderr).rstrip(), "  "))
        say(f"  (doctor exit status {res.returncode}: the killed speaker is expected to show)")
    else:
        say("  skipped: this checkout has no `pymetallb doctor` yet (issue 11)")

    pause(args.interactive, "next: clean up")
    return 0


def offline(reason: str) -> int:
    say(f"make demo: {reason}; the live demo (namespaces, apiserver, speakers, BIRD) needs root.")
    say("Running the offline part instead (no cluster needed):\n")
    return subprocess.run(["bash", str(REPO / "examples" / "demo.sh")]).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--non-interactive", dest="interactive", action="store_false", help="never wait for Enter (CI)")
    args = parser.parse_args(argv)
    args.interactive = args.interactive and sys.stdin.isatty()
    if os.geteuid() != 0:
        return offline("not running as root")
    why = missing_requirements("bird", "birdc", "curl", "nft")
    if why:
        say(f"make demo: {why}")
        return 1
    missing = missing_binaries(DEFAULT_BIN_DIR)
    if missing:
        say(f"make demo: {', '.join(missing)} not built in {DEFAULT_BIN_DIR}: run `make testenv`")
        return 1

    def on_term(_sig: int, _frame: FrameType | None) -> None:
        raise Stopped

    signal.signal(signal.SIGTERM, on_term)
    # Ctrl-C must clean up even when this was started with SIGINT ignored (a shell's background job).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    status = 1
    tmp = Path(tempfile.mkdtemp(prefix="pymetallb-demo-"))

    def remove_workdir() -> None:
        if status == 1:
            say(f"  logs kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    # Everything the demo starts registers its own undo on this stack as it starts (namespaces, processes, the
    # apiserver, files), so leaving it undoes exactly what was done, in reverse order, however it is left.
    with ExitStack() as stack:
        stack.callback(remove_workdir)
        try:
            status = run(args, stack, tmp)
        except KeyboardInterrupt:
            say("\ninterrupted: cleaning up")
            status = 130
        except Stopped:
            say("\nSIGTERM: cleaning up")
            status = 143
        except (DemoError, subprocess.CalledProcessError, TestEnvError, RuntimeError) as exc:
            detail = getattr(exc, "stderr", None)
            say(f"\nmake demo failed: {exc}{': ' + detail.strip() if isinstance(detail, str) else ''}")
            status = 1
        finally:
            # A second Ctrl-C must not cut the cleanup short and leave namespaces behind.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            step("cleanup")
    leftover = [n for n in _netns() if n.startswith(f"pml-demo-{os.getpid()}-")]
    running = _processes_using(tmp)
    say(f"  namespaces left: {', '.join(leftover) or 'none'}; processes left: {', '.join(running) or 'none'}")
    return status if not leftover and not running else 1


def _processes_using(workdir: Path) -> list[str]:
    """Processes whose command line names ``workdir``: every program the demo starts does (log, kubeconfig,
    data or web root)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with suppress(OSError):
            if str(workdir).encode() in cmdline.read_bytes():
                found.append(cmdline.parent.name)
    return found


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _netns() -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.split()]


if __name__ == "__main__":
    with suppress(BrokenPipeError):
        sys.exit(main())
