"""``pymetallb webhook``: the admission and conversion webhook as a program on the shared program shell.

Registered under the ``pymetallb.commands`` entry-point group (``register(sub)``). Wiring only: watches feed the
``ClusterState``, a certificate loop keeps TLS and the CA bundle right, and the shell's one HTTP server answers
reviews over TLS (plus plain ``--health-port`` probes when asked). SIGTERM and SIGINT stop it cleanly (exit 0).
"""

from __future__ import annotations

import argparse
import datetime
import logging
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from crds.config import parse_go_duration
from reconciler.runtime.program import EXIT_USAGE, Program, add_common_flags, run_program

from .admission import MAX_BODY_BYTES
from .cabundle import CaBundleInjector
from .certs import CertPolicy
from .registration import ServiceRef
from .rotation import SECRET_NAME, FileCerts, SelfManagedCerts
from .server import add_webhook_routes
from .state import ClusterState, WebhookSettings
from .tls import CertFiles, ServingContext
from .watch import watched

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
    add_common_flags(p, port=9443, port_help="HTTPS port of the reviews and probes (MetalLB's)")
    p.add_argument("--cert-dir", type=Path, default=None, help="serve tls.crt/tls.key from DIR (cert-manager)")
    p.add_argument(
        "--register-url",
        default=None,
        metavar="URL",
        help="out of cluster: register the webhooks and the BGPPeer conversion to call URL (e.g. https://127.0.0.1:9443)",
    )
    p.add_argument("--bgp-mode", choices=("native", "frr", "frr-k8s"), default="native", help="default %(default)s")
    p.add_argument("--health-port", type=int, default=None, help="also serve /healthz /readyz /metrics over HTTP")
    p.add_argument("--service-name", default="metallb-webhook-service", help="the webhook Service (certificate name)")
    p.add_argument("--secret-name", default=SECRET_NAME, help="Secret of the self-managed certificates")
    p.add_argument("--cert-validity", type=_duration, default=CertPolicy.cert_validity, help="serving cert lifetime")
    p.add_argument("--ca-validity", type=_duration, default=CertPolicy.ca_validity, help="CA lifetime")
    p.add_argument("--ca-grace", type=_duration, default=CertPolicy.ca_grace, help="a new CA's wait before signing")
    p.add_argument("--cert-poll", type=float, default=10.0, help="seconds between certificate/bundle checks")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.register_url and not urlsplit(args.register_url).hostname:
        sys.stderr.write(f"pymetallb webhook: --register-url {args.register_url!r} has no host\n")
        return EXIT_USAGE
    return run_program(args, wire_webhook, name="webhook")


async def wire_webhook(program: Program) -> None:
    """Watches into ``ClusterState``, certificates, and the review routes on the shell's server over TLS."""
    args = program.args
    settings = WebhookSettings(namespace=args.namespace, lb_class=args.lb_class, bgp_mode=args.bgp_mode)
    kinds = watched(args.namespace)
    state = ClusterState(settings, program.store, require_synced=[res for res, _, _ in kinds])
    api = program.client
    serving = ServingContext()
    for res, namespace, transform in kinds:
        program.reflect(res, namespace=namespace, transform=transform)

    certs: SelfManagedCerts | FileCerts
    if args.cert_dir is not None:
        certs = FileCerts(CertFiles(args.cert_dir), serving, clock=program.clock)
        certs.step()
    else:
        svc = ServiceRef(name=args.service_name, namespace=args.namespace)
        hosts = [f"{svc.name}.{svc.namespace}.svc", f"{svc.name}.{svc.namespace}.svc.cluster.local"]
        if args.register_url:
            host = urlsplit(args.register_url).hostname
            if host:
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
            clock=program.clock,
        )
        await certs.step()  # serve something before listening; retried by run() if this pass failed
    program.add_root("certificates", certs.run())
    program.http.add_readiness_check("certificates and CA bundle in place", lambda: certs.ready)
    program.http.ssl_context = serving.context
    program.http.client_max_size = MAX_BODY_BYTES
    add_webhook_routes(program.http, state, _log, registry=program.registry)
    if args.health_port is not None:
        program.http.add_site(args.host, args.health_port)

    async def close_tls() -> None:
        serving.close()

    program.on_stop("close TLS", close_tls)
    _log.info(
        "webhook serving on %s:%d",
        args.host,
        args.port,
        extra={"op": "webhook", "event": "started", "mode": "files" if args.cert_dir else "self-managed"},
    )
