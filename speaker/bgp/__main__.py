"""A small BGP speaker process over ``BgpSession``, for the component tests and benchmarks (not the product).

    python -m speaker.bgp --peer 198.51.100.2 --my-asn 64512 --peer-asn 64513 [--route 203.0.113.10/32] ...

Writes one JSON object per line to stdout for each ``SessionEvent`` (``kind``, ``state``, ``reason``,
``notification``, ``sent``) and ``{"kind": "synced", ...}`` each time the peer has every desired route. Reads
commands from stdin, one JSON object per line: ``{"routes": {"<prefix>": {"communities": ["64512:100"],
"large": ["64512:1:2"], "local_pref": 200, "prepend": 1}}}`` replaces the desired routes; ``{"close": true}``
(``"keep_routes": true`` for a graceful-restart drop) closes the session and exits.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import json
import signal
import sys
from typing import Any

from reconciler.runtime.tasks import create_guarded_task
from speaker.bgp.routes import Prefix, RouteAttrs
from speaker.bgp.session import BgpSession, SessionEvent
from speaker.bgp.settings import PeerSettings


def _community(text: str) -> int:
    hi, lo = text.split(":")
    return int(hi) << 16 | int(lo)


def _large(text: str) -> tuple[int, int, int]:
    a, b, c = (int(x) for x in text.split(":"))
    return (a, b, c)


def parse_routes(spec: dict[str, Any]) -> dict[Prefix, RouteAttrs]:
    out: dict[Prefix, RouteAttrs] = {}
    for prefix, attrs in spec.items():
        attrs = attrs or {}
        out[ipaddress.ip_network(prefix)] = RouteAttrs(
            communities=frozenset(_community(c) for c in attrs.get("communities", ())),
            large_communities=frozenset(_large(c) for c in attrs.get("large", ())),
            local_pref=attrs.get("local_pref"),
            as_path_prepend=int(attrs.get("prepend", 0)),
        )
    return out


def _out(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def _on_event(event: SessionEvent) -> None:
    n = event.notification
    _out(
        {
            "kind": str(event.kind),
            "state": str(event.state),
            "reason": event.reason,
            "notification": [n.code, n.subcode] if n else None,
            "sent": event.notification_sent,
        }
    )


async def _stdin_lines() -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    return reader


async def main_async(args: argparse.Namespace) -> int:
    settings = PeerSettings(
        peer_address=ipaddress.ip_address(args.peer),
        peer_port=args.port,
        my_asn=args.my_asn,
        peer_asn=args.peer_asn,
        source_address=ipaddress.ip_address(args.source) if args.source else None,
        router_id=ipaddress.IPv4Address(args.router_id) if args.router_id else None,
        hold_time=args.hold_time,
        keepalive_time=args.keepalive_time,
        connect_time=args.connect_time,
        ebgp_multihop=args.ebgp_multihop,
        password=args.password,
        passive=args.passive,
        listen_port=args.listen_port,
        graceful_restart=args.graceful_restart,
        restart_time=args.restart_time,
        next_hop=ipaddress.IPv4Address(args.next_hop) if args.next_hop else None,
    )
    routes = parse_routes({r: {} for r in args.route})
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    keep = False
    async with BgpSession(settings, on_event=_on_event) as session:
        session.set_desired(routes)

        async def report_synced() -> None:
            # Polled, not awaited: a change can be sent between two looks, and each new state is reported once.
            last: tuple[int, int] | None = None
            while True:
                await session.wait_synced()
                now = (session.stats.announced, session.stats.updates_sent)
                if now != last:
                    last = now
                    _out({"kind": "synced", "announced": now[0], "updates": now[1]})
                await asyncio.sleep(0.01)

        async def commands() -> None:
            nonlocal keep
            if args.no_stdin:
                await asyncio.Event().wait()
            reader = await _stdin_lines()
            while line := await reader.readline():
                cmd = json.loads(line)
                if "routes" in cmd:
                    session.set_desired(parse_routes(cmd["routes"]))
                if cmd.get("close"):
                    keep = bool(cmd.get("keep_routes"))
                    break
            stop.set()

        tasks = [
            create_guarded_task(report_synced(), name="bgp-runner-synced"),
            create_guarded_task(commands(), name="bgp-runner-commands"),
        ]
        await stop.wait()
        for t in tasks:
            t.cancel()
        await session.close(keep_routes=keep)
    with contextlib.suppress(Exception):
        _out({"kind": "exited"})
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m speaker.bgp", description=__doc__.split("\n")[0] if __doc__ else "")
    p.add_argument("--peer", required=True)
    p.add_argument("--port", type=int, default=179)
    p.add_argument("--my-asn", type=int, required=True)
    p.add_argument("--peer-asn", type=int, required=True)
    p.add_argument("--source")
    p.add_argument("--router-id")
    p.add_argument("--hold-time", type=float, default=90.0)
    p.add_argument("--keepalive-time", type=float)
    p.add_argument("--connect-time", type=float, default=10.0)
    p.add_argument("--ebgp-multihop", action="store_true")
    p.add_argument("--password")
    p.add_argument("--passive", action="store_true")
    p.add_argument("--listen-port", type=int, default=179)
    p.add_argument("--graceful-restart", action="store_true")
    p.add_argument("--restart-time", type=int, default=120)
    p.add_argument("--next-hop")
    p.add_argument("--route", action="append", default=[])
    p.add_argument("--no-stdin", action="store_true", help="ignore stdin (run until SIGTERM)")
    args = p.parse_args(argv)
    try:
        return asyncio.run(main_async(args))
    except ValueError as exc:
        sys.stderr.write(f"speaker.bgp: {exc}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
