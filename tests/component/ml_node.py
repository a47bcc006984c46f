"""One membership member as a process, for the component tests (run inside a lab namespace).

    python ml_node.py NODE BIND_IP PEERS_JSON KEY_FILE [--hog SECONDS | --hog-json SECONDS]

Prints one JSON object per line: ``{"event": "change", "alive": [...], "departed": [...], "t": ...}`` for each
alive-set change, ``{"event": "ready"}`` once started, and on SIGTERM leaves gracefully, prints
``{"event": "left", "acked": bool, "stats": {...}}`` and exits 0; SIGUSR1 prints ``{"event": "stats", ...}``.
``--hog`` keeps the main thread's asyncio loop
busy with pure-Python work in chunks of SECONDS without yielding (a reconcile of many objects); ``--hog-json`` parses
500-item JSON pages instead (a paged full resync).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import signal
import sys
import threading
import time

from speaker.membership.runtime import DEFAULT_PORT, Membership, MembershipChange, load_secret_key


def emit(obj: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def service_page(n: int) -> str:
    """A list page of ``n`` small Services, as the runtime's paged ``list()`` parses during a full resync (each
    ``json.loads`` is one C call holding the GIL for a few milliseconds)."""
    port = {"port": 80, "targetPort": 8080, "protocol": "TCP"}
    items = [{"metadata": {"name": f"svc-{i}", "labels": {"app": "x"}}, "spec": {"ports": [port]}} for i in range(n)]
    return json.dumps({"items": items})


def main() -> int:
    node, bind, peers_json, key_file = sys.argv[1:5]
    hog = float(sys.argv[6]) if len(sys.argv) > 6 and sys.argv[5] in ("--hog", "--hog-json") else 0.0
    page = service_page(500) if len(sys.argv) > 6 and sys.argv[5] == "--hog-json" else ""
    peers = {name: (ip, DEFAULT_PORT) for name, ip in json.loads(peers_json).items()}
    done = threading.Event()

    def on_change(c: MembershipChange) -> None:
        emit({"event": "change", "alive": sorted(c.alive), "departed": sorted(c.departed), "t": c.at})

    m = Membership(
        node=node, bind=(bind, DEFAULT_PORT), key=load_secret_key(key_file) if key_file else None, on_change=on_change
    )
    m.start()
    m.set_peers(peers)
    emit({"event": "ready"})
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGUSR1, lambda *_: emit({"event": "stats", "stats": dataclasses.asdict(m.stats)}))

    async def busy() -> None:
        while not done.is_set():
            end = time.monotonic() + hog
            x = 0
            while time.monotonic() < end:  # never awaits: the event loop is blocked, the GIL contended
                if page:
                    x += len(json.loads(page)["items"])
                else:
                    x = (x * 31 + 7) % 1000003
            await asyncio.sleep(0)

    if hog:
        asyncio.run(busy())
    else:
        done.wait()
    acked = m.leave(1.0)
    emit({"event": "left", "acked": acked, "stats": dataclasses.asdict(m.stats)})
    m.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
