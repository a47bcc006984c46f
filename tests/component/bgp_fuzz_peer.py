"""A hostile BGP peer for test_bgp_fuzz.py, run inside the router namespace:

    python bgp_fuzz_peer.py PORT ROUNDS SEED

Each round accepts our speaker's connection, completes the OPEN/KEEPALIVE handshake, sends random bytes (half of
them behind a valid header), then reads what comes back until the speaker closes the connection (or 3 s pass).
Prints one JSON line per round: the type of framed junk sent (0: unframed), the NOTIFICATION code/subcode
received, or null, and whether the connection closed.
"""

from __future__ import annotations

import json
import random
import socket
import struct
import sys

MARKER = b"\xff" * 16


def read_messages(conn: socket.socket, want_keepalive: bool) -> list[tuple[int, bytes]]:
    buf = b""
    out: list[tuple[int, bytes]] = []
    while True:
        try:
            data = conn.recv(65536)
        except (TimeoutError, OSError):
            return out
        if not data:
            out.append((-1, b""))  # closed
            return out
        buf += data
        while len(buf) >= 19:
            length = struct.unpack("!H", buf[16:18])[0]
            if len(buf) < length:
                break
            out.append((buf[18], buf[19:length]))
            buf = buf[length:]
            if want_keepalive and out[-1][0] == 4:
                return out


def main() -> None:
    port, rounds, seed = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    rng = random.Random(seed)
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", port))
    srv.listen(4)
    srv.settimeout(30)
    caps = bytes((1, 4, 0, 1, 0, 1)) + bytes((65, 4)) + struct.pack("!I", 64513)
    params = bytes((2, len(caps))) + caps
    body = struct.pack("!BHHIB", 4, 64513, 9, 0xC6336402, len(params)) + params
    open_msg = MARKER + struct.pack("!HB", 19 + len(body), 1) + body
    keepalive = MARKER + struct.pack("!HB", 19, 4)
    for _ in range(rounds):
        conn, _ = srv.accept()
        conn.settimeout(3)
        conn.sendall(open_msg + keepalive)
        read_messages(conn, want_keepalive=True)
        junk = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
        mtype = 0
        if rng.random() < 0.5:
            mtype = rng.choice([1, 2, 3, 5])
            junk = MARKER + struct.pack("!HB", 19 + len(junk), mtype) + junk
        conn.sendall(junk)
        msgs = read_messages(conn, want_keepalive=False)
        notes = [list(body[:2]) for t, body in msgs if t == 3]
        result = {"sent_type": mtype, "notification": notes[0] if notes else None, "closed": (-1, b"") in msgs}
        print(json.dumps(result), flush=True)
        conn.close()


if __name__ == "__main__":
    main()
