#!/usr/bin/env python3
"""`make cluster`: run the test apiserver in the foreground with pymetallb's CRDs applied.

Prints exactly one line `KUBECONFIG=<path>` on stdout when the server is ready and the CRDs
(crds/*.yaml, if any) are Established; everything else goes to stderr. Ctrl-C or SIGTERM
stops the server cleanly. The data dir is wiped at start unless --keep is given.
--bind-address (default 127.0.0.1) is where the server listens and what the kubeconfig
names; it must be an address of this host (e.g. 192.0.2.1 added to `lo`, which network
namespaces uplinked by tests/netlab.py reach).
"""

from __future__ import annotations

import argparse
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from testenv_server import DEFAULT_BIND_ADDRESS, TestAPIServer, TestEnvError


class _Stop(Exception):
    pass


def _raise_stop(signum: int, _frame: object) -> None:
    raise _Stop(signal.Signals(signum).name)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bin-dir", default=".testenv/bin")
    p.add_argument("--data-dir", default=".testenv/cluster")
    p.add_argument("--crds", default="crds", help="directory whose *.yaml are applied")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--bind-address", default=DEFAULT_BIND_ADDRESS, help="IP to serve on (default %(default)s)")
    p.add_argument("--keep", action="store_true", help="keep the data of a previous run")
    args = p.parse_args()

    data_dir = Path(args.data_dir).resolve()
    if data_dir.exists() and not args.keep:
        shutil.rmtree(data_dir)
    server = TestAPIServer(data_dir=data_dir, bin_dir=args.bin_dir, port=args.port, bind_address=args.bind_address)

    signal.signal(signal.SIGINT, _raise_stop)
    signal.signal(signal.SIGTERM, _raise_stop)
    try:
        server.start()
        log = f"server {server.server} ready in {server.ready_seconds:.1f}s; log {server.log_path}"
        print(f"cluster: {log}", file=sys.stderr)
        names = server.apply_crds(args.crds)
        print(
            f"cluster: {len(names)} CRDs Established" if names else f"cluster: no {args.crds}/*.yaml to apply",
            file=sys.stderr,
        )
        print(f"KUBECONFIG={server.kubeconfig}", flush=True)
        print("cluster: Ctrl-C stops it", file=sys.stderr)
        while server.pid is not None:
            time.sleep(0.5)
        print(f"cluster: test apiserver exited; log {server.log_path}:\n{server.log_tail()}", file=sys.stderr)
        return 1
    except _Stop as sig:
        print(f"cluster: {sig}, stopping", file=sys.stderr)
        return 0
    except (TestEnvError, OSError, subprocess.SubprocessError) as e:  # incl. KubectlError from a bad CRD
        print(f"cluster: {e}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        rc = server.stop()
        if rc is not None:
            print(f"cluster: test apiserver stopped (exit {rc})", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
