"""A small runner for the layer-2 responder, for tests and manual use (the speaker embeds L2Responder itself).

    python -m speaker.l2 --ip 198.51.100.100 --ip 2001:db8::100 [--interfaces eth0] [--answer-ping]
    python -m speaker.l2 --state-file /tmp/vips   # lines "IP [iface,iface]"; re-read on SIGHUP

Runs until SIGTERM or SIGINT (exit 0). Logs JSON lines on stdout: ``ready`` once answering, ``applied`` after
each desired state (with the IPs whose interfaces are missing), ``duplicateAnnouncer`` warnings, and drops at
debug level. Bad arguments or files exit 1 with ``where: what``; a missing CAP_NET_RAW exits 1 saying so.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from ipaddress import IPv4Address, IPv6Address, ip_address
from pathlib import Path

from reconciler.runtime.logging import setup_logging
from speaker.l2.answers import Answered, Dropped, DuplicateAnnouncer, Event
from speaker.l2.codec import format_mac
from speaker.l2.interfaces import EXCLUDE_FILE, ExclusionError, load_exclusions
from speaker.l2.responder import InterfacesChanged, L2Responder

log = logging.getLogger("speaker.l2")

IPAddress = IPv4Address | IPv6Address
Desired = dict[IPAddress, frozenset[str] | None]


class UsageError(Exception):
    """Bad input from the command line or the state file (message: ``where: what``)."""


def _names(text: str) -> frozenset[str] | None:
    names = frozenset(n for n in text.split(",") if n)
    return names or None


def parse_entry(text: str, default: frozenset[str] | None, where: str) -> tuple[IPAddress, frozenset[str] | None]:
    """``IP`` or ``IP@if1,if2`` (or ``IP if1,if2`` in a state file)."""
    spec = text.replace("@", " ", 1).split()
    if not spec or len(spec) > 2:
        raise UsageError(f"{where}: want `IP` or `IP@iface,iface`, got {text!r}")
    try:
        ip = ip_address(spec[0])
    except ValueError:
        raise UsageError(f"{where}: {spec[0]!r} is not an IP address") from None
    return ip, _names(spec[1]) if len(spec) == 2 else default


def read_state_file(path: Path, default: frozenset[str] | None) -> Desired:
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror}") from None
    desired: Desired = {}
    for number, line in enumerate(lines, 1):
        line = line.split("#", 1)[0].strip()
        if line:
            ip, names = parse_entry(line, default, f"{path}:{number}")
            desired[ip] = names
    return desired


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m speaker.l2", description=__doc__.split("\n\n")[0])
    parser.add_argument("--ip", action="append", default=[], help="an IP to answer for (IP or IP@if1,if2)")
    parser.add_argument("--state-file", type=Path, help="file of `IP [if1,if2]` lines; re-read on SIGHUP")
    parser.add_argument("--interfaces", default="", help="comma-separated interfaces for IPs that name none")
    parser.add_argument("--answer-ping", action="store_true", help="reply to ICMP/ICMPv6 echo for the IPs")
    parser.add_argument("--subnet-only", action="store_true", help="answer only where an address's prefix has the IP")
    parser.add_argument("--exclude-file", type=Path, default=EXCLUDE_FILE, help="announcedInterfacesToExclude YAML")
    parser.add_argument("--log-level", default="info", help="all, debug, info, warn, error, none")
    return parser


def on_event(event: Event | InterfacesChanged) -> None:
    if isinstance(event, DuplicateAnnouncer):
        log.warning(
            "another MAC announces %s",
            event.ip,
            extra={
                "op": "l2",
                "event": "duplicateAnnouncer",
                "ip": str(event.ip),
                "interface": event.interface,
                "mac": format_mac(event.mac),
            },
        )
    elif isinstance(event, InterfacesChanged):
        log.info(
            "answering interfaces changed",
            extra={"op": "l2", "event": "interfacesChanged", "interfaces": sorted(event.interfaces)},
        )
    elif log.isEnabledFor(logging.DEBUG):
        if isinstance(event, Answered):
            log.debug(
                "answered",
                extra={"op": "l2", "event": event.kind.value, "ip": str(event.ip), "interface": event.interface},
            )
        elif isinstance(event, Dropped):
            log.debug(
                "dropped",
                extra={
                    "op": "l2",
                    "event": "dropped",
                    "reason": event.reason.value,
                    "ip": str(event.ip),
                    "interface": event.interface,
                    "detail": event.detail,
                },
            )


def desired_from(args: argparse.Namespace) -> Desired:
    default = _names(args.interfaces)
    desired: Desired = {}
    if args.state_file is not None:
        desired.update(read_state_file(args.state_file, default))
    for text in args.ip:
        ip, names = parse_entry(text, default, "--ip")
        desired[ip] = names
    return desired


def apply(responder: L2Responder, desired: Desired) -> None:
    result = responder.set_desired(desired)
    log.info(
        "desired state applied",
        extra={
            "op": "l2",
            "event": "applied",
            "ips": sorted(str(ip) for ip in desired),
            "missingInterfaces": sorted(str(ip) for ip in result.missing_interfaces),
            "unserved": sorted(str(ip) for ip in result.unserved),
        },
    )


async def run(args: argparse.Namespace) -> int:
    desired = desired_from(args)
    exclude = load_exclusions(args.exclude_file)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with L2Responder(
        exclude=exclude, answer_ping=args.answer_ping, subnet_only=args.subnet_only, on_event=on_event
    ) as responder:

        def reload() -> None:
            try:
                apply(responder, desired_from(args))
            except UsageError as exc:  # keep answering the previous state
                log.error("%s", exc, extra={"op": "l2", "event": "reloadFailed"})

        loop.add_signal_handler(signal.SIGHUP, reload)
        apply(responder, desired)
        log.info("answering", extra={"op": "l2", "event": "ready", "interfaces": sorted(responder.interfaces)})
        await stop.wait()
    log.info("stopped", extra={"op": "l2", "event": "stopped"})
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        setup_logging(args.log_level)
    except ValueError as exc:
        sys.stderr.write(f"--log-level: {exc}\n")
        return 1
    try:
        return asyncio.run(run(args))
    except (UsageError, ExclusionError) as exc:
        sys.stderr.write(f"{exc}\n")
        return 1
    except PermissionError as exc:
        sys.stderr.write(f"packet socket: {exc.strerror}: the responder needs CAP_NET_RAW (run as root)\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
