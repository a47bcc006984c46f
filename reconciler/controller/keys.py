"""The controller's work keys: typed, hashable, one kind per reconciler (no string prefixes).

A key names what to look at, never what happened (level-triggered): the reconciler reads the Store.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "CONFIG",
    "MEMBERLIST",
    "POOL_STATUS",
    "STATE",
    "ConfigKey",
    "Key",
    "MemberlistKey",
    "PoolStatusKey",
    "ServiceKey",
    "StateKey",
]


@dataclass(frozen=True, slots=True)
class ConfigKey:
    """Parse the pools, communities and namespaces again."""


@dataclass(frozen=True, slots=True)
class ServiceKey:
    """Converge one Service, ``namespace/name``."""

    name: str


@dataclass(frozen=True, slots=True)
class PoolStatusKey:
    """Write every pool's status counters (and the allocator gauges)."""


@dataclass(frozen=True, slots=True)
class StateKey:
    """Make ConfigurationState ``controller`` say what the last parse found."""


@dataclass(frozen=True, slots=True)
class MemberlistKey:
    """Make sure the memberlist Secret exists."""


CONFIG = ConfigKey()
MEMBERLIST = MemberlistKey()
POOL_STATUS = PoolStatusKey()
STATE = StateKey()

Key = ConfigKey | ServiceKey | PoolStatusKey | StateKey | MemberlistKey
