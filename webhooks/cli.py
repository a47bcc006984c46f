"""``pymetallb webhook``: the admission and conversion webhook as a program.

Registered under the ``pymetallb.commands`` entry-point group (``register(sub)``). Wiring only: watches feed the
``ClusterState``, a certificate loop keeps TLS and the CA bundle right, the HTTPS server answers reviews, and all
of them are root tasks that live and die together (``run_until_first_exits``). SIGTERM stops it cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import logging
import signal
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from crds.config import parse_go_duration
from reconciler.runtime.client import ApiClient
from reconciler.runtime.errors import ApiError
from reconciler.runtime.httpserver import HttpServer
from reconciler.runtime.logging import setup_logging
from reconciler.runtime.store import Store
from reconciler.runtime.tasks import run_until_first_exits

from .cabundle import CaBundleInjector
from .certs import CertPolicy
from .registration import ServiceRef
from .rotation import SECRET_NAME, FileCerts, SelfManagedCerts
from .server import WebhookServer
from .state import ClusterState, WebhookSettings
from .tls import CertFiles, ServingContext
from .watch import connect, reflectors

__all__ = ["register", "run"]

_log = logging.getLogger("webhooks")


def _duration(text: str) -> datetime.timedelta:
    try:
        seconds = parse_go_duration(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 8760h, 90s)") from None
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return datetime.timedelta(seconds=seconds)


def register(sub: Any) -> None:
    """Entry point (``pymetallb.commands``): add the ``webhook`` subcommand."""
    p = sub.add_parser("webhook", help="serve the admission and conversion webhook (HTTPS)")
    p.add_argument("--kubeconfig", default=None, help="kubeconfig path (default: $KUBECONFIG, then in-cluster)")
    p.add_argument("-n", "--namespace", default="metallb-system", help="the MetalLB namespace (default %(default)s)")
    p.add_argument("--host", default="0.0.0.0", help="address to listen on (default %(default)s)")
    p.add_argument("--port", type=int, default=9443, help="HTTPS port (default %(default)s, MetalLB's)")
    p.add_argument("--cert-dir", type=Path, default=None, help="serve tls.crt/tls.key from DIR (cert-manager)")
    p.add_argument(
        "--register-url",
        default=None,
        metavar="URL",
        help="out of cluster: register the webhooks and the BGPPeer conversion to call URL (e.g. https://127.0.0.1:9443)",
    )
    p.add_argument("--lb-class", default=None, help="the loadBalancerClass pymetallb serves (default: none)")
    p.add_argument("--bgp-mode", choices=("native", "frr", "frr-k8s"), default="native", help="default %(default)s")
    p.add_argument("--log-level", default="info", help="all, debug, info, warn, error, none (default %(default)s)")
    p.add_argument("--health-port", type=int, default=None, help="also serve /healthz /readyz /metrics over HTTP")
    p.add_argument("--service-name", default="metallb-webhook-service", help="the webhook Service (certificate name)")
    p.add_argument("--secret-name", default=SECRET_NAME, help="Secret of the self-managed certificates")
    p.add_argument("--cert-validity", type=_duration, default=CertPolicy.cert_validity, help="serving cert lifetime")
    p.add_argument("--ca-validity", type=_duration, default=CertPolicy.ca_validity, help="CA lifetime")
    p.add_argument("--ca-grace", type=_duration, default=CertPolicy.ca_grace, help="a new CA's wait before signing")
    p.add_argument("--cert-poll", type=float, default=10.0, help="seconds between certificate/bundle checks")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        setup_logging(args.log_level)
    except ValueError as exc:
        sys.stderr.write(f"pymetallb webhook: {exc}\n")
        return 2
    if args.register_url and not urlsplit(args.register_url).hostname:
        sys.stderr.write(f"pymetallb webhook: --register-url {args.register_url!r} has no host\n")
        return 2
    try:
        asyncio.run(_main(args))
    except KeyboardInterrupt:
        return 130
    except ApiError as exc:
        _log.error("cannot reach the apiserver: %s", exc, extra={"op": "webhook", "event": "fatal"})
        return 1
    return 0


async def _main(args: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    if main is not None:
        loop.add_signal_handler(signal.SIGTERM, main.cancel)
    settings = WebhookSettings(namespace=args.namespace, lb_class=args.lb_class, bgp_mode=args.bgp_mode)
    state = ClusterState(settings)
    api = await ApiClient.connect(args.kubeconfig)
    serving = ServingContext()
    try:
        store = Store()
        connect(store, state)
        watchers = reflectors(api, store, args.namespace)
        roots: dict[str, Any] = {f"reflector {r.name}": r.run() for r in watchers}

        certs: SelfManagedCerts | FileCerts
        if args.cert_dir is not None:
            certs = FileCerts(CertFiles(args.cert_dir), serving)
            certs.step()
        else:
            svc = ServiceRef(name=args.service_name, namespace=args.namespace)
            hosts = [f"{svc.name}.{svc.namespace}.svc", f"{svc.name}.{svc.namespace}.svc.cluster.local"]
            if args.register_url:
                host = urlsplit(args.register_url).hostname
                assert host is not None
                hosts.insert(0, host)
            policy = CertPolicy(cert_validity=args.cert_validity, ca_validity=args.ca_validity, ca_grace=args.ca_grace)
            injector = CaBundleInjector(api, base_url=args.register_url, service=svc)
            certs = SelfManagedCerts(
                api,
                serving,
                injector,
                namespace=args.namespace,
                hosts=hosts,
                policy=policy,
                poll_interval=args.cert_poll,
            )
            await certs.step()  # serve something before listening; retried by run() if this pass failed
        roots["certificates"] = certs.run()

        def ready() -> bool:
            return certs.ready and all(r.synced for r in watchers)

        server = WebhookServer(state, serving.context, is_ready=ready, host=args.host, port=args.port)
        await server.start()
        _log.info(
            "webhook serving on %s:%d",
            args.host,
            server.port,
            extra={"op": "webhook", "event": "started", "mode": "files" if args.cert_dir else "self-managed"},
        )
        health: HttpServer | None = None
        if args.health_port is not None:
            health = HttpServer(port=args.health_port)
            health.add_readiness_check("webhook", ready)
            await health.start()
        try:
            await run_until_first_exits(roots)
        finally:
            await server.stop()
            if health is not None:
                await health.stop()
    finally:
        serving.close()
        await api.close()
