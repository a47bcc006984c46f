"""The doctor's reaches outside the apiserver: the webhook's ``/readyz`` over HTTPS, and who answers ARP/NDP.

Promises: no probe raises; each returns a value saying what happened (``WebhookProbe``, ``ArpAnswer``), so a check
can report it. The webhook probe trusts only the registration's CA bundle and checks the host name, exactly as
the apiserver would. The ARP/NDP probe runs ``arping`` (IPv4) or ``ndisc6 -m`` (IPv6) on the interface the kernel
routes the IP through (``ip route get``) and collects every distinct MAC that answers: one is right, none means
nobody announces, several mean duplicate announcers. It needs root (raw sockets, CAP_NET_RAW) on a host of the
same LAN segment.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import ssl
import urllib.error
import urllib.request
from collections.abc import Sequence

from reconciler.doctor.checks import ArpAnswer, WebhookProbe

__all__ = ["arp_probe", "parse_macs", "probe_webhook", "route_interface"]

_MAC = re.compile(r"\b([0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5})\b")


def _get_readyz(base: str, bundle: bytes | None, timeout: float) -> WebhookProbe:
    ctx = ssl.create_default_context(cadata=bundle.decode(errors="replace")) if bundle else ssl.create_default_context()
    try:
        with urllib.request.urlopen(f"{base}/readyz", context=ctx, timeout=timeout) as r:
            return WebhookProbe(base, 200 <= r.status < 300, f"HTTP {r.status}")
    except urllib.error.HTTPError as exc:
        return WebhookProbe(base, False, f"HTTP {exc.code}")
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, ssl.SSLCertVerificationError):
            return WebhookProbe(
                base, False, f"TLS verification with the registration's caBundle failed: {reason.verify_message}"
            )
        return WebhookProbe(base, False, f"unreachable: {reason}")
    except (OSError, ssl.SSLError, ValueError) as exc:
        return WebhookProbe(base, False, f"unreachable: {exc}")


async def probe_webhook(base: str, bundle: bytes | None, *, timeout: float = 3.0) -> WebhookProbe:
    """``GET base/readyz`` trusting only ``bundle`` (PEM); never raises."""
    try:
        return await asyncio.to_thread(_get_readyz, base, bundle, timeout)
    except ssl.SSLError as exc:  # a bundle that is not PEM fails when the context is built
        return WebhookProbe(base, False, f"the caBundle is not usable: {exc}")


def parse_macs(output: str, *, skip: Sequence[str] = ()) -> tuple[str, ...]:
    """Distinct MACs (lower case, first-seen order) on reply lines of arping (Habets' or iputils') or ndisc6 -m."""
    seen: list[str] = []
    for line in output.splitlines():
        low = line.lower()
        if not ("from" in low or "link-layer address" in low):
            continue
        for m in _MAC.findall(line):
            mac = m.lower()
            if mac not in seen and mac not in skip:
                seen.append(mac)
    return tuple(seen)


async def _run(*args: str, timeout: float) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(*args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return -1, "timed out"
    return proc.returncode or 0, out.decode(errors="replace")


async def route_interface(ip: str) -> str | None:
    """The interface the kernel sends to ``ip`` through (``ip -j route get``), or None."""
    if shutil.which("ip") is None:
        return None
    code, out = await _run("ip", "-j", "route", "get", ip, timeout=5)
    if code != 0:
        return None
    try:
        routes = json.loads(out)
    except ValueError:
        return None
    return str(routes[0].get("dev")) if routes and routes[0].get("dev") else None


async def arp_probe(ip: str, *, interface: str | None = None, count: int = 3) -> ArpAnswer:
    """Who answers ARP (IPv4) or NDP (IPv6) for ``ip``; see the module docstring. Never raises."""
    iface = interface or await route_interface(ip)
    if iface is None:
        return ArpAnswer(ip, "", error="no route to it from this host (`ip route get` found no interface)")
    if ":" in ip:
        if shutil.which("ndisc6") is None:
            return ArpAnswer(ip, iface, error="ndisc6 is not installed (apt-get install ndisc6)")
        args = ["ndisc6", "-m", "-n", "-r", str(count), "-w", "1000", ip, iface]
    else:
        if shutil.which("arping") is None:
            return ArpAnswer(ip, iface, error="arping is not installed (apt-get install arping)")
        # -c, -w and -I mean the same to Habets' arping and to iputils': count, deadline (s), interface.
        args = ["arping", "-c", str(count), "-w", str(count + 2), "-I", iface, ip]
    try:
        _, out = await _run(*args, timeout=count * 2 + 5)
    except OSError as exc:
        return ArpAnswer(ip, iface, error=f"{args[0]}: {exc}")
    macs = parse_macs(out)
    if not macs and ("permission" in out.lower() or "operation not permitted" in out.lower()):
        return ArpAnswer(ip, iface, error=f"{args[0]} needs root (CAP_NET_RAW): {out.strip()[:200]}")
    return ArpAnswer(ip, iface, macs)
