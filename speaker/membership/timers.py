"""The failure detector's timers: one frozen dataclass, a reason for every default, and the CLI flags for them.

Promise: ``Timers()`` detects a crashed speaker on a LAN (round trip well under 1 ms) within 0.5 s in a cluster of
up to 50 speakers, and does not declare a healthy one dead under 5 % random packet loss (see docs/membership.md for
the arithmetic and bench/bench_membership.py for the measurements). ``Timers.validated()`` rejects combinations
under which the protocol cannot work (a probe timeout not shorter than the probe interval, a suspicion window
shorter than a probe round) with a message naming the flag.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["FLAG_PREFIX", "Timers", "add_timer_flags", "parse_duration", "timers_from_args", "timers_from_flags"]

FLAG_PREFIX = "--ml-"


@dataclass(frozen=True, slots=True)
class Timers:
    """Every knob of the detector. Durations are seconds. The defaults target ≤ 0.5 s detection on a LAN."""

    probe_interval: float = 0.05
    """Each member probes one other member per interval (randomised round robin). 50 ms: with N members each one
    is probed by someone about once per interval, so a crash is first noticed within ~0.1 s; costs 20 pings and 20
    acks per second per member (~100 bytes each) whatever the cluster size. memberlist uses 1 s, the main reason
    it needs 4-5 s. In simulation 80 ms gave a p99 of 0.5 s at 50 members, 50 ms 0.33-0.4 s."""

    probe_timeout: float = 0.02
    """How long a direct ping waits for its ack before indirect probes start. 20 ms is 20x a LAN round trip plus a
    few Python thread switches; the rest of the interval (30 ms) is for the indirect round trip through helpers,
    and a late direct ack still counts until the interval ends."""

    indirect_checks: int = 3
    """Members asked to ping the target on our behalf when the direct ping fails (SWIM's k). 3, as memberlist:
    under 5 % loss a probe then fails falsely with probability ~0.5 % instead of ~10 %."""

    suspicion_min: float = 0.15
    """The shortest time a member stays suspect before it is declared dead (reached once ``suspicion_confirmations``
    other members independently suspect it too, which is what a crash looks like). 150 ms is 7 gossip rounds for a
    live member to hear the suspicion and refute it, and keeps crash detection (first probe + one interval + this)
    under 0.5 s."""

    suspicion_max_mult: float = 6.0
    """Lifeguard's dynamic suspicion: a suspicion nobody confirms lasts ``suspicion_min x suspicion_max_mult``
    (0.9 s), shrinking logarithmically toward ``suspicion_min`` with each independent confirmation. A lone false
    suspicion (packet loss, one slow prober) thus has over a second to be refuted. 6, as memberlist."""

    suspicion_confirmations: int = 3
    """Independent confirmations after which the suspicion timeout is at its minimum (Lifeguard's K; capped at the
    number of members that could confirm). 3: two unlucky probers under loss rarely coincide, a crash is confirmed
    by every prober within a couple of intervals."""

    gossip_interval: float = 0.02
    """While updates are pending, every 20 ms each member sends them to ``gossip_fanout`` random members (on top of
    piggybacking them on pings and acks). Fast dissemination is what lets the suspicion window be short; with
    nothing to tell, no gossip packet is sent, so the idle rate stays the probe rate."""

    gossip_fanout: int = 3
    """Members each gossip round goes to. 3 (memberlist's GossipNodes): an update reaches 50 members in ~4 rounds."""

    retransmit_mult: int = 4
    """Each update is sent at most ``retransmit_mult x ceil(log10(N + 1))`` times by each member (memberlist's
    RetransmitMult 4): enough for every member to hear it with high probability, bounded so load does not grow."""

    awareness_max: int = 8
    """Lifeguard's local health multiplier ceiling: a member that misses acks and nacks it should have received, or
    has to refute suspicions of itself, scales its own probe interval and timeout by up to (1 + 8), so an
    overloaded member stops accusing healthy ones. 8, as memberlist's AwarenessMaxMultiplier."""

    dead_probe_interval: float = 1.0
    """How often a member pings one random dead (not departed) member, telling it that it is considered dead. A
    member wrongly declared dead (a healed partition) refutes and comes back; costs at most 1 packet per second."""

    leave_retransmit: float = 0.05
    """On graceful leave, the ``left`` message is sent directly to every member and re-sent every 50 ms to those
    that have not acknowledged it, until ``leave(timeout)`` gives up."""

    def validated(self) -> Timers:
        """Return self, or raise ``ValueError`` naming the flag whose value cannot work."""
        problems: list[str] = []
        positive = ("probe_interval", "probe_timeout", "suspicion_min", "gossip_interval", "dead_probe_interval")
        for name in (*positive, "leave_retransmit"):
            if not getattr(self, name) > 0:
                problems.append(f"{_flag(name)}: must be greater than 0")
        for name in ("indirect_checks", "awareness_max", "suspicion_confirmations"):
            if getattr(self, name) < 0:
                problems.append(f"{_flag(name)}: must not be negative")
        for name in ("gossip_fanout", "retransmit_mult"):
            if getattr(self, name) < 1:
                problems.append(f"{_flag(name)}: must be at least 1")
        if self.probe_timeout >= self.probe_interval:
            problems.append(
                f"{_flag('probe_timeout')}: must be shorter than {_flag('probe_interval')} "
                f"({self.probe_timeout}s >= {self.probe_interval}s), or indirect probes never run"
            )
        if self.suspicion_max_mult < 1:
            problems.append(f"{_flag('suspicion_max_mult')}: must be at least 1")
        if problems:
            raise ValueError("; ".join(problems))
        return self


def _flag(field_name: str) -> str:
    return FLAG_PREFIX + field_name.replace("_", "-")


_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s)?\s*$")


def parse_duration(text: str) -> float:
    """``"100ms"``, ``"0.1s"`` or ``"0.1"`` (seconds) -> 0.1. Raises ``ValueError`` with a user-facing message."""
    m = _DURATION.match(text)
    if not m:
        raise ValueError(f"{text!r} is not a duration (examples: 100ms, 0.1s, 0.1)")
    value = float(m.group(1))
    return value / 1000 if m.group(2) == "ms" else value


def timers_from_flags(values: Mapping[str, str | float | int | None]) -> Timers:
    """Build validated ``Timers`` from flag values keyed by field name (``probe_interval``) or flag name
    (``--ml-probe-interval``); ``None`` or missing keeps the default. Durations accept ``100ms``/``0.1s``/``0.1``.
    Raises ``ValueError`` with ``--ml-<flag>: what is wrong``."""
    fields = {f.name: f for f in dataclasses.fields(Timers)}
    kwargs: dict[str, float | int] = {}
    for key, raw in values.items():
        name = key.removeprefix(FLAG_PREFIX).replace("-", "_")
        if name not in fields:
            raise ValueError(f"{key}: not a membership timer (known: {', '.join(_flag(n) for n in fields)})")
        if raw is None:
            continue
        is_int = fields[name].type in ("int", int)
        try:
            if is_int:
                kwargs[name] = int(raw)
            elif isinstance(raw, str) and "mult" not in name:
                kwargs[name] = parse_duration(raw)
            else:
                kwargs[name] = float(raw)
        except ValueError as exc:
            kind = "an integer" if is_int else "a number" if "mult" in name else "a duration"
            raise ValueError(f"{_flag(name)}: {raw!r} is not {kind}") from exc
    return Timers(**kwargs).validated()  # type: ignore[arg-type]


def add_timer_flags(parser: argparse.ArgumentParser) -> None:
    """Add one ``--ml-<field>`` flag per timer (string values; defaults shown from ``Timers()``)."""
    defaults = Timers()
    group = parser.add_argument_group("membership timers (failure detector; see docs/membership.md)")
    for f in dataclasses.fields(Timers):
        group.add_argument(
            _flag(f.name),
            dest=f"ml_{f.name}",
            default=None,
            metavar="N" if "mult" in f.name or f.type in ("int", int) else "DURATION",
            help=f"default {getattr(defaults, f.name)}",
        )


def timers_from_args(args: argparse.Namespace) -> Timers:
    """The ``Timers`` given by flags added with ``add_timer_flags`` (raises ``ValueError`` like
    ``timers_from_flags``)."""
    return timers_from_flags({f.name: getattr(args, f"ml_{f.name}", None) for f in dataclasses.fields(Timers)})
