"""``pymetallb speaker``: the node agent on the program shell (reflectors, the layer 2 controller, the ARP/NDP
responder, the failure detector). Registered with the ``pymetallb`` command through ``pymetallb.commands``.

Capabilities: ``NET_RAW`` only (raw packet sockets for ARP/NDP/ICMP, multicast membership on them). Nothing here
changes addresses, routes or links, so ``NET_ADMIN`` is not needed.

BGP is built on first need: with ``--bgp=true`` the BGP and BFD modules are imported, the ``BgpAnnouncer`` built
and the BFD thread started only when a BGPPeer first selects this node (``SpeakerController(bgp_factory=...)``);
they stay for the life of the process, and the thread stops once, when the program stops.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconciler.core.speaker_status import LABEL_NODE
from reconciler.runtime.clock import kube_time
from reconciler.runtime.compact import strip_bookkeeping
from reconciler.runtime.controller import run_workers
from reconciler.runtime.events import EventRecorder, EventType
from reconciler.runtime.heap import HeapSettler
from reconciler.runtime.program import (
    EXIT_USAGE,
    Program,
    add_common_flags,
    parse_bool,
    run_program,
)
from reconciler.runtime.resources import ENDPOINTSLICES, NODES, SECRETS, SERVICES
from reconciler.runtime.workqueue import WorkQueue
from speaker.controller import CONFIG, SESSIONS, STATE, Key, SpeakerController, SpeakerSettings, pod_identity
from speaker.l2.answers import DuplicateAnnouncer
from speaker.l2.interfaces import EXCLUDE_FILE, ExclusionError, load_exclusions
from speaker.l2.responder import InterfacesChanged, L2Responder
from speaker.membership_bridge import MembershipBridge, add_membership_flags
from speaker.resources import (
    BGP_STATUSES,
    CONFIG_KINDS,
    L2_STATUSES,
    PEERS,
    STATES,
    compact_node,
    compact_slice,
    compact_speaker_service,
    status_transform,
)

if TYPE_CHECKING:
    from speaker.bfd.manager import BfdChange, BfdManager
    from speaker.bgp_announcer import BgpAnnouncer

__all__ = ["register", "wire_speaker"]

log = logging.getLogger("pymetallb.speaker")
EVENT_FLUSH_SECONDS = 5.0  # on stop, how long queued Events may take to go out


async def wire_speaker(program: Program) -> None:
    args = program.args
    node = args.node_name
    ns = args.namespace
    exclude = load_exclusions(args.excludel2_path)
    loop = asyncio.get_running_loop()
    # No full garbage collections while the initial lists load, then the loaded heap frozen: with 10,000 Services
    # one full collection held the GIL ~95 ms, long enough to stall the failure detector (runtime/heap.py).
    heap = HeapSettler()
    heap.start()
    queue: WorkQueue[Key] = WorkQueue(name="speaker", clock=program.clock)
    # API writes (status objects, ConfigurationState, Events) have their own queue and worker: decisions and the
    # responder never wait behind them.
    writes: WorkQueue[Key] = WorkQueue(name="speaker-writes", clock=program.clock)
    # A smaller Event cache than the controller's: the speaker's Events (nodeAssigned when it starts announcing a
    # Service) rarely repeat, and 4,096 remembered Events were ~1.3 MiB with 10,000 Services. A repeat of an Event
    # older than the last 1,024 makes a new Event object instead of counting on the old one.
    recorder = EventRecorder(program.client, "metallb-speaker", host=node, clock=program.clock, cache_size=1024)
    pod_name, pod_uid = pod_identity()
    holder: list[SpeakerController] = []

    def on_l2_event(event: Any) -> None:
        if not holder:
            return
        if isinstance(event, DuplicateAnnouncer):
            holder[0].duplicate_seen(event.ip, event.interface, event.mac)
        elif isinstance(event, InterfacesChanged):
            holder[0].interfaces_changed()

    responder = L2Responder(
        exclude=exclude,
        answer_ping=args.answer_ping,
        subnet_only=args.l2_subnet_only,
        on_event=on_l2_event,
    )
    membership = MembershipBridge.from_args(args, node=node, loop=loop, logger=log)
    bgp_factory: Callable[[], BgpAnnouncer] | None = None
    # The BfdManager, once the first BGPPeer selecting this node made the controller build BGP; the "bfd" root
    # waits for it, runs its thread and stops it on the way out.
    bfd_built: asyncio.Future[BfdManager[str]] = loop.create_future()
    if args.bgp:

        def build_bgp() -> BgpAnnouncer:
            # Imported only here: a speaker no BGPPeer selects (or --bgp=false) does not carry the BGP and BFD
            # modules (1.6-1.8 MiB idle; docs/benchmarks.md).
            from speaker.bfd.manager import BfdManager
            from speaker.bgp_announcer import BgpAnnouncer

            def report(peer: str, type_: str, reason: str, message: str) -> None:
                obj = program.store.get(PEERS, f"{ns}/{peer}")
                if obj is not None:
                    kind: EventType = "Warning" if type_ == "Warning" else "Normal"
                    recorder.post(obj, kind, reason, message)

            def bfd_changed(change: BfdChange[str]) -> None:  # the BFD thread
                loop.call_soon_threadsafe(bgp.bfd_changed, change)

            bfd = BfdManager(on_change=bfd_changed, logger=log)
            bgp = BgpAnnouncer(
                node=node,
                registry=program.registry,
                exact=program.exact,
                report=report,
                bfd=bfd,
                request_sync=lambda: queue.add(SESSIONS),
            )
            bfd_built.set_result(bfd)
            return bgp

        bgp_factory = build_bgp
    speaker = SpeakerController(
        program.store,
        queue,
        program.client,
        recorder,
        responder,
        settings=SpeakerSettings(
            node=node,
            namespace=ns,
            lb_class=args.lb_class,
            ignore_exclude_lb=args.ignore_exclude_lb,
            pod_name=pod_name,
            pod_uid=pod_uid,
        ),
        registry=program.registry,
        exact=program.exact,
        members=membership.alive if membership is not None else (lambda: None),
        bgp_factory=bgp_factory,
        writes=writes,
        clock=loop.time,
        now=lambda: kube_time(program.clock.now()),
        logger=log,
    )
    holder.append(speaker)
    _export_responder_counters(program, responder)

    store = program.store
    store.subscribe(speaker.on_store_change)
    program.reflect(SERVICES, transform=compact_speaker_service)
    program.reflect(ENDPOINTSLICES, transform=compact_slice)
    program.reflect(NODES, transform=compact_node)
    for res in CONFIG_KINDS:
        program.reflect(res, namespace=ns, transform=strip_bookkeeping)
    program.reflect(SECRETS, namespace=ns, transform=strip_bookkeeping)
    # This node's own status objects only (as MetalLB's speaker): another node's are asked of the API when needed
    # (SpeakerController's sweep and duplicate claims), so no speaker keeps all the cluster's.
    program.reflect(L2_STATUSES, namespace=ns, transform=status_transform(node), label_selector={LABEL_NODE: node})
    program.reflect(BGP_STATUSES, namespace=ns, transform=status_transform(node), label_selector={LABEL_NODE: node})
    program.reflect(STATES, namespace=ns, transform=strip_bookkeeping, field_selector=f"metadata.name=speaker-{node}")

    if membership is not None:
        membership.attach(store, speaker.members_changed)
        program.add_root("membership", membership.run())
        membership.register_metrics(program.registry)

    if args.bgp:

        async def run_bfd() -> None:
            # Cancelled here when no BGPPeer ever selected this node: no thread, nothing to stop.
            bfd = await bfd_built
            bfd.start()  # a BfdError (UDP 3784 taken) ends the program, as it did when BGP started with it
            try:
                await asyncio.Event().wait()
            finally:
                await loop.run_in_executor(None, bfd.stop)

        program.add_root("bfd", run_bfd())

    async def serve_responder() -> None:
        async with responder:
            await asyncio.Event().wait()

    async def work() -> None:
        await store.wait_synced(SERVICES, ENDPOINTSLICES, NODES, SECRETS, *CONFIG_KINDS)
        heap.settle()
        queue.add(CONFIG)
        writes.add(STATE)
        await asyncio.gather(
            run_workers(queue, speaker.reconcile, workers=1, name="speaker", logger=log),
            run_workers(writes, speaker.reconcile, workers=1, name="speaker-writes", logger=log),
        )

    async def hand_over() -> None:
        # Stop answering, then leave: peers take over as soon as they hear the leave (their gratuitous packets
        # re-point the clients). Answering after the leave made a peer that had already taken over hear a
        # duplicate announcer, count this node alive for CLAIM_SECONDS and yield to it: nobody answered
        # (bench/bench_speaker.py, graceful hand-off).
        speaker.stop_answering()
        if membership is not None:
            await membership.leave()
        await speaker.withdraw_all()

    async def finish_in_flight() -> None:
        queue.shutdown()
        writes.shutdown()
        await queue.drain()
        await writes.drain()
        try:
            await asyncio.wait_for(recorder.flush(), EVENT_FLUSH_SECONDS)
        except TimeoutError:
            log.warning("stopping with Events not sent", extra={"op": "events", "event": "eventsDropped"})

    program.on_stop("hand over announcements", hand_over)
    program.on_stop("finish in-flight reconciles", finish_in_flight)
    program.add_root("layer2 responder", serve_responder())
    program.lead(None, work)


def _export_responder_counters(program: Program, responder: L2Responder) -> None:
    """MetalLB's layer 2 counters (exact names, no ``_total``), read from the responder at scrape time."""
    exact = program.exact
    counters = {
        "metallb_layer2_requests_received": ("Number of l2 requests received for owned IPs", "requests_received"),
        "metallb_layer2_responses_sent": ("Number of l2 responses sent for owned IPs", "responses_sent"),
        "metallb_layer2_gratuitous_sent": ("Number of l2 gratuitous packets sent for owned IPs", "gratuitous_sent"),
    }

    def reader(attr: str) -> Callable[[], Mapping[tuple[str, ...], float]]:
        def read() -> Mapping[tuple[str, ...], float]:
            return {(str(ip),): float(v) for ip, v in getattr(responder.stats, attr).items()}

        return read

    for name, (doc, attr) in counters.items():
        exact.collect(name, doc, ["ip"], reader(attr))


def _main(args: argparse.Namespace) -> int:
    if not args.node_name:
        sys.stderr.write("pymetallb speaker: must specify --node-name or METALLB_NODE_NAME\n")
        return EXIT_USAGE
    try:
        load_exclusions(args.excludel2_path)
    except ExclusionError as exc:
        sys.stderr.write(f"pymetallb speaker: {exc}\n")
        return EXIT_USAGE
    return run_program(args, wire_speaker, name="speaker")


def register(sub: Any) -> None:
    """Entry point (``pymetallb.commands``): add the ``speaker`` subcommand."""
    p = sub.add_parser("speaker", help="run the speaker on a node: announce Service IPs (layer 2 and BGP)")
    add_common_flags(p, port=7472, port_help="/metrics, /healthz, /readyz port")
    p.add_argument(
        "--node-name",
        default=os.environ.get("METALLB_NODE_NAME"),
        help="this node's name, as the Node object (env METALLB_NODE_NAME; required)",
    )
    p.add_argument(
        "--ignore-exclude-lb",
        type=parse_bool,
        nargs="?",
        const=True,
        default=False,
        help="announce from nodes labelled node.kubernetes.io/exclude-from-external-load-balancers too",
    )
    p.add_argument(
        "--answer-ping",
        type=parse_bool,
        nargs="?",
        const=True,
        default=False,
        help="answer ICMP and ICMPv6 echo for the announced IPs (ping VIP works without binding it)",
    )
    p.add_argument(
        "--l2-subnet-only",
        type=parse_bool,
        nargs="?",
        const=True,
        default=False,
        help="answer ARP/NDP for an IP only on interfaces with an address in a subnet containing it "
        "(MetalLB answers on every interface, metallb#277)",
    )
    p.add_argument(
        "--excludel2-path",
        type=Path,
        default=EXCLUDE_FILE,
        help="YAML with announcedInterfacesToExclude regexes (default %(default)s; MetalLB's list when absent)",
    )
    p.add_argument(
        "--bgp",
        type=parse_bool,
        nargs="?",
        const=True,
        default=True,
        help="run BGP sessions to the BGPPeers active on this node (default true: BGP loads when a BGPPeer first "
        "selects this node; false: layer 2 only)",
    )
    add_membership_flags(p)
    p.set_defaults(handler=_main)
