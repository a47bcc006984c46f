"""``pymetallb controller``: ``Controller`` on the program shell (reflectors, work loop, leader election,
health and metrics). Registered with the ``pymetallb`` command through the ``pymetallb.commands`` entry point.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
from typing import Any

from reconciler.controller.controller import Controller
from reconciler.controller.keys import CONFIG, MEMBERLIST, STATE, Key
from reconciler.controller.resources import COMMUNITIES, POOLS, STATES
from reconciler.controller.state import ControllerSettings
from reconciler.runtime.compact import compact_service, strip_bookkeeping
from reconciler.runtime.controller import run_workers
from reconciler.runtime.events import EventRecorder
from reconciler.runtime.program import LeaderSettings, Program, add_common_flags, add_leader_flags, run_program
from reconciler.runtime.resources import NAMESPACES, SERVICES
from reconciler.runtime.workqueue import WorkQueue

__all__ = ["register", "wire_controller"]

log = logging.getLogger("pymetallb.controller")

LEASE_NAME = "pymetallb-controller"
EVENT_FLUSH_SECONDS = 5.0  # on stop, how long queued Events may take to go out


async def wire_controller(program: Program) -> None:
    """Reflectors, the controller and its work loop (under the Lease when ``--leader-elect``)."""
    args = program.args
    queue: WorkQueue[Key] = WorkQueue(name="controller", clock=program.clock)
    recorder = EventRecorder(program.client, "metallb-controller", clock=program.clock)
    settings = ControllerSettings(namespace=args.namespace, lb_class=args.lb_class)
    ctl = Controller(
        program.client,
        program.store,
        queue,
        recorder,
        settings=settings,
        registry=program.registry,
        exact=program.exact,
        clock=program.clock,
        memberlist_secret=args.ml_secret_name,
    )
    program.store.subscribe(ctl.on_store_change)
    ns = args.namespace
    program.reflect(SERVICES, transform=compact_service)
    program.reflect(NAMESPACES, transform=strip_bookkeeping)
    program.reflect(POOLS, namespace=ns, transform=strip_bookkeeping)
    program.reflect(COMMUNITIES, namespace=ns, transform=strip_bookkeeping)
    program.reflect(STATES, namespace=ns, transform=strip_bookkeeping)
    if args.health_port and args.health_port != args.port:
        program.http.add_site(args.host, args.health_port)

    async def work() -> None:
        log.info("leading: starting the work loop", extra={"op": "leader", "event": "startedLeading"})
        await program.store.wait_synced(SERVICES, NAMESPACES, POOLS, COMMUNITIES)
        queue.add(CONFIG)
        queue.add(STATE)
        queue.add(MEMBERLIST)
        await run_workers(queue, ctl.reconcile, workers=1, name="controller", logger=log)

    async def finish_in_flight() -> None:
        queue.shutdown()  # no new keys; the worker finishes the key in hand
        await queue.drain()
        try:
            await asyncio.wait_for(recorder.flush(), EVENT_FLUSH_SECONDS)
        except TimeoutError:
            log.warning("stopping with Events not sent", extra={"op": "events", "event": "eventsDropped"})

    program.on_stop("finish in-flight reconciles", finish_in_flight)
    program.lead(LeaderSettings.from_args(LEASE_NAME, args), work)


def _main(args: argparse.Namespace) -> int:
    return run_program(args, wire_controller, name="controller")


def register(sub: Any) -> None:
    """Entry point (``pymetallb.commands``): add the ``controller`` subcommand."""
    p = sub.add_parser("controller", help="run the controller: allocate IPs to LoadBalancer Services")
    add_common_flags(p, port=7472, port_help="/metrics, /healthz, /readyz port")
    # Earlier spellings of --port and --host, kept so existing manifests keep working.
    p.add_argument("--metrics-port", dest="port", type=int, default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    p.add_argument("--metrics-host", dest="host", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    p.add_argument(
        "--health-port", type=int, default=None, help="serve /healthz, /readyz and /metrics on this port too"
    )
    p.add_argument(
        "--ml-secret-name",
        default=os.environ.get("METALLB_ML_SECRET_NAME") or "memberlist",
        help="the speakers' memberlist Secret, created when missing (env METALLB_ML_SECRET_NAME; default %(default)s)",
    )
    add_leader_flags(p, default=True)
    p.set_defaults(handler=_main)
