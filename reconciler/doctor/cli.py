"""``pymetallb doctor``: read the cluster, run every check, print a table or JSON, exit 0 (ok/warn) or 1 (fail).

Registered through the ``pymetallb.commands`` entry point. Exit 2 for usage errors. An apiserver that cannot be
reached (or a kubeconfig that does not load) is one line on stderr and exit 1, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import sys
from typing import Any

from reconciler.doctor import checks
from reconciler.doctor.probes import arp_probe, probe_webhook
from reconciler.doctor.report import Check, Report
from reconciler.doctor.snapshot import read_snapshot
from reconciler.runtime.client import ApiClient
from reconciler.runtime.errors import ApiError

__all__ = ["diagnose", "register"]


async def diagnose(
    client: ApiClient,
    *,
    namespace: str = "metallb-system",
    services: set[str] | None = None,
    arp: bool = False,
    lb_class: str | None = None,
    now: datetime.datetime | None = None,
) -> Report:
    """Every check, in the order an operator reads them: install, control plane, nodes, config, Services, ARP."""
    snap = await read_snapshot(client, namespace, sorted(checks.expected_crds()))
    now = now or datetime.datetime.now(datetime.UTC)
    probes = await asyncio.gather(*(probe_webhook(url, bundle) for url, bundle in checks.webhook_urls(snap).items()))
    config, errors, warnings, denied = checks.parse_live_config(snap)
    found: list[Check] = []
    found += checks.crd_checks(snap)
    found += checks.webhook_checks(snap, probes, now)
    found.append(checks.lease_check(snap, now))
    found += checks.speaker_checks(snap)
    found += checks.config_checks(snap, errors, warnings, denied)
    found.append(checks.memberlist_check(snap))
    found.append(checks.kube_proxy_check(snap))
    found += checks.service_checks(snap, config, selected=services, lb_class=lb_class)
    if arp:
        answers = await asyncio.gather(*(arp_probe(ip) for ip in checks.l2_ips(snap, config, services, lb_class)))
        found += checks.arp_checks(answers)
    return Report(tuple(found))


async def _run(args: argparse.Namespace) -> Report:
    async with await ApiClient.connect(args.kubeconfig, request_timeout=args.timeout) as client:
        return await diagnose(
            client,
            namespace=args.namespace,
            services=set(args.service) if args.service else None,
            arp=args.arp,
            lb_class=args.lb_class,
        )


def _main(args: argparse.Namespace) -> int:
    bad = [s for s in args.service or () if s.count("/") != 1 or not all(s.split("/"))]
    if bad:
        print(f"pymetallb doctor: error: --service takes namespace/name, got {bad[0]!r}", file=sys.stderr)
        return 2
    try:
        report = asyncio.run(_run(args))
    except ApiError as exc:
        print(f"pymetallb doctor: cannot talk to the apiserver: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(report.to_json() if args.output == "json" else report.to_table())
    return report.exit_code


def register(sub: Any) -> None:
    """Entry point (``pymetallb.commands``): add the ``doctor`` subcommand."""
    p = sub.add_parser("doctor", help="why can't I reach my Service? check the install, the config and each Service")
    p.add_argument("--kubeconfig", metavar="PATH", help="kubeconfig (default: $KUBECONFIG, ~/.kube/config, in-cluster)")
    p.add_argument("-n", "--namespace", default="metallb-system", help="the MetalLB namespace (default %(default)s)")
    p.add_argument("-o", "--output", choices=("table", "json"), default="table", help="output format")
    p.add_argument(
        "--arp",
        action="store_true",
        help="also ask the LAN who answers ARP/NDP for each L2 IP (root, on a host of the same segment)",
    )
    p.add_argument(
        "--service", action="extend", nargs="+", metavar="NS/NAME", help="check only these Services (repeatable)"
    )
    p.add_argument("--lb-class", default=None, help="the loadBalancerClass pymetallb runs with (default: none)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per API call (default %(default)s)")
    p.set_defaults(handler=_main, short_lived=True)
