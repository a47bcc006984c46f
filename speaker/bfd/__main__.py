"""A standalone BFD endpoint for tests, benchmarks and troubleshooting: ``python -m speaker.bfd``.

    python -m speaker.bfd --peer 198.51.100.2 --local 198.51.100.1 --rx 300 --tx 300 --mult 3 [--passive]

It runs a ``BfdManager`` with one session per ``--peer`` (``ADDR`` or ``ADDR,LOCAL``) and writes one JSON
object per line on stdout: ``{"event": "started", ...}`` once the sockets are open, ``{"event": "change",
"peer": <the --peer text>, ...}`` on every state change. Commands on stdin, one per line: ``stats``
answers ``{"event": "stats", ...}``; ``quit`` (or end of input, or SIGTERM) stops with AdminDown and exits 0.
A socket that cannot be opened exits 1 with the reason on stderr.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import signal
import sys
import threading
from typing import Any

from speaker.bfd.manager import BfdChange, BfdError, BfdManager, BfdSessionSpec

_out_lock = threading.Lock()


def _emit(obj: dict[str, Any]) -> None:
    with _out_lock:
        sys.stdout.write(json.dumps(obj, default=str) + "\n")
        sys.stdout.flush()


def _on_change(change: BfdChange[str]) -> None:
    _emit(
        {
            "event": "change",
            "peer": change.key,
            "previous": change.previous.name,
            "state": change.state.name,
            "diag": change.diag_name,
            "remote_state": change.remote_state.name,
            "path_failed": change.path_failed,
            "at": change.at,
        }
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m speaker.bfd", description=__doc__.splitlines()[0])
    ap.add_argument("--peer", action="append", required=True, help="ADDR or ADDR,LOCAL (repeatable)")
    ap.add_argument("--local", help="local address for every --peer without one")
    ap.add_argument("--rx", type=int, default=300, help="receive interval, ms")
    ap.add_argument("--tx", type=int, default=300, help="transmit interval, ms")
    ap.add_argument("--mult", type=int, default=3, help="detect multiplier")
    ap.add_argument("--passive", action="store_true")
    ap.add_argument("--port", type=int, default=3784, help="UDP port to listen on (tests only)")
    ap.add_argument("--peer-port", type=int, default=3784, help="UDP port to send to (tests only)")
    ap.add_argument("--bind-v4", default="0.0.0.0")
    ap.add_argument("--no-v6", action="store_true")
    args = ap.parse_args(argv)
    try:
        desired: dict[str, BfdSessionSpec] = {}
        for item in args.peer:
            addr, _, local = item.partition(",")
            local = local or args.local
            desired[item] = BfdSessionSpec(
                peer_address=ipaddress.ip_address(addr),
                local_address=ipaddress.ip_address(local) if local else None,
                receive_interval_ms=args.rx,
                transmit_interval_ms=args.tx,
                detect_multiplier=args.mult,
                passive=args.passive,
            )
    except ValueError as exc:
        sys.stderr.write(f"python -m speaker.bfd: {exc}\n")
        return 1
    manager: BfdManager[str] = BfdManager(
        on_change=_on_change,
        port=args.port,
        peer_port=args.peer_port,
        bind_v4=args.bind_v4,
        bind_v6=None if args.no_v6 else "::",
    )
    try:
        manager.start()
    except BfdError as exc:
        sys.stderr.write(f"python -m speaker.bfd: {exc}\n")
        return 1
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    manager.set_sessions(desired)
    _emit({"event": "started", "sessions": sorted(desired)})

    def read_commands() -> None:
        for line in sys.stdin:
            cmd = line.strip()
            if cmd == "stats":
                stats = {
                    k: {f: getattr(s, f) for f in s.__slots__} | {"state": s.state.name}
                    for k, s in manager.stats().items()
                }
                _emit({"event": "stats", "sessions": stats, "dropped": dict(manager.dropped)})
            elif cmd == "quit":
                break
        done.set()

    threading.Thread(target=read_commands, name="stdin", daemon=True).start()
    done.wait()
    manager.stop()
    _emit({"event": "stopped"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
