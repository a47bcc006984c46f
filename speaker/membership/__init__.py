"""Failure detection between speakers: who is alive now (SWIM + Lifeguard over authenticated UDP).

The API decides which nodes *may* announce; this package only says which speakers are alive, within a few hundred
milliseconds and without flapping. ``core`` is the pure protocol (driven by ``tick``/``receive`` on any clock);
``runtime.Membership`` runs it in its own threads with its own UDP socket. docs/membership.md explains the design.
"""

from speaker.membership.core import Core, Effects, Transition
from speaker.membership.timers import Timers, add_timer_flags, parse_duration, timers_from_args, timers_from_flags
from speaker.membership.wire import State

__all__ = [
    "Core",
    "Effects",
    "State",
    "Timers",
    "Transition",
    "add_timer_flags",
    "parse_duration",
    "timers_from_args",
    "timers_from_flags",
]
