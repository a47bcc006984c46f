"""``pymetallb controller``: the program around ``ServiceController`` (reflectors, work loop, leader election,
health and metrics). Registered with the ``pymetallb`` command through the ``pymetallb.commands`` entry point.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
import uuid
from collections.abc import Coroutine
from typing import Any

from prometheus_client import CollectorRegistry

from reconciler.controller.service_controller import COMMUNITIES, POOLS, STATES, ControllerSettings, ServiceController
from reconciler.runtime.client import ApiClient
from reconciler.runtime.compact import compact_service, strip_bookkeeping
from reconciler.runtime.controller import run_workers
from reconciler.runtime.errors import ApiError
from reconciler.runtime.events import EventRecorder
from reconciler.runtime.httpserver import HttpServer
from reconciler.runtime.leader import LeaderElector
from reconciler.runtime.logging import setup_logging
from reconciler.runtime.metrics import ExactCounters
from reconciler.runtime.reflector import Reflector
from reconciler.runtime.resources import NAMESPACES, SERVICES
from reconciler.runtime.store import Store
from reconciler.runtime.tasks import run_until_first_exits
from reconciler.runtime.workqueue import WorkQueue

__all__ = ["register", "run_controller"]

log = logging.getLogger("pymetallb.controller")


def _identity() -> str:
    """The Lease holder identity: the pod name in a cluster, else host plus a random suffix."""
    return os.environ.get("POD_NAME") or f"{socket.gethostname()}-{uuid.uuid4().hex[:6]}"


async def run_controller(args: argparse.Namespace) -> None:
    client = await ApiClient.connect(args.kubeconfig)
    store = Store()
    queue: WorkQueue[str] = WorkQueue(name="controller")
    registry = CollectorRegistry()
    exact = ExactCounters()
    recorder = EventRecorder(client, "metallb-controller")
    settings = ControllerSettings(namespace=args.namespace, lb_class=args.lb_class)
    ctl = ServiceController(client, store, queue, recorder, settings=settings, registry=registry, exact=exact)
    store.subscribe(ctl.on_store_change)

    ns = args.namespace
    slim = strip_bookkeeping
    reflectors = [
        Reflector(client, store, SERVICES, transform=compact_service),
        Reflector(client, store, NAMESPACES, transform=slim),
        Reflector(client, store, POOLS, namespace=ns, transform=slim),
        Reflector(client, store, COMMUNITIES, namespace=ns, transform=slim),
        Reflector(client, store, STATES, namespace=ns, transform=slim),
    ]
    http = HttpServer(host=args.metrics_host, port=args.metrics_port, registry=registry, exact=exact)
    http.add_readiness_check("caches synced", ctl.synced)
    health = None
    if args.health_port and args.health_port != args.metrics_port:
        health = HttpServer(host=args.metrics_host, port=args.health_port, registry=CollectorRegistry())
        health.add_readiness_check("caches synced", ctl.synced)

    async def serve(server: HttpServer) -> None:
        async with server:
            log.info("serving", extra={"op": "http", "event": "listening", "port": server.port})
            await asyncio.Event().wait()

    async def work() -> None:
        log.info("leading: starting the work loop", extra={"op": "leader", "event": "startedLeading"})
        await store.wait_synced(SERVICES, NAMESPACES, POOLS, COMMUNITIES)
        queue.add("config")
        queue.add("state")
        await run_workers(queue, ctl.reconcile, workers=1, name="controller", logger=log)

    roots: dict[str, Coroutine[Any, Any, Any]] = {f"reflector {r.name}": r.run() for r in reflectors}
    roots["http"] = serve(http)
    if health is not None:
        roots["health"] = serve(health)
    if args.leader_elect:
        elector = LeaderElector(
            client,
            namespace=ns,
            name="pymetallb-controller",
            identity=args.identity or _identity(),
            lease_duration=args.lease_duration,
            renew_deadline=args.lease_duration * 2 / 3,
            retry_period=max(0.5, args.lease_duration / 7.5),
        )
        roots["leader"] = elector.run(work)
    else:
        roots["work"] = work()
    try:
        await run_until_first_exits(roots)
    finally:
        queue.shutdown()
        await client.close()


def _main(args: argparse.Namespace) -> int:
    setup_logging(args.log_level)

    async def guarded() -> None:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            if task is not None:
                loop.add_signal_handler(sig, task.cancel)
        await run_controller(args)

    try:
        asyncio.run(guarded())
    except (asyncio.CancelledError, KeyboardInterrupt):
        log.info("stopped", extra={"op": "main", "event": "stopped"})
        return 0
    except ApiError as exc:
        log.error("cannot reach the apiserver: %s", exc, extra={"op": "main", "event": "apiError"})
        return 1
    return 0


def _bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _lease_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 second (the Lease stores whole seconds), got {text}")
    return value


def register(sub: Any) -> None:
    """Entry point (``pymetallb.commands``): add the ``controller`` subcommand."""
    p = sub.add_parser("controller", help="run the controller: allocate IPs to LoadBalancer Services")
    p.add_argument("--kubeconfig", default=None, help="kubeconfig path (default: $KUBECONFIG, else in-cluster)")
    p.add_argument(
        "-n",
        "--namespace",
        default=os.environ.get("METALLB_NAMESPACE", "metallb-system"),
        help="the MetalLB namespace (default %(default)s)",
    )
    p.add_argument("--lb-class", default=None, help="serve only Services with this spec.loadBalancerClass")
    p.add_argument(
        "--leader-elect",
        type=_bool,
        default=True,
        nargs="?",
        const=True,
        help="elect a leader among replicas through a Lease (default true)",
    )
    p.add_argument("--identity", default=None, help="Lease holder identity (default: $POD_NAME or hostname)")
    p.add_argument(
        "--lease-duration",
        type=_lease_seconds,
        default=15.0,
        help="seconds a standby waits for a leader that died without releasing the Lease (default 15; "
        "renew deadline 2/3 of it, retry period 1/7.5 of it)",
    )
    p.add_argument("--metrics-port", type=int, default=7472, help="/metrics, /healthz, /readyz port (default 7472)")
    p.add_argument("--metrics-host", default="0.0.0.0", help="address to bind (default %(default)s)")
    p.add_argument("--health-port", type=int, default=None, help="serve /healthz and /readyz on this port too")
    p.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    p.set_defaults(handler=_main)
