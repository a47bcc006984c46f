"""How problems are gathered: ``Collector`` keeps every error and warning of one parse, in order, once each."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TypeVar

from ..errors import ConfigError, ConfigWarning, TransientConfigError
from ..text import go_quote
from ..types import BFDProfile, BGPAdvertisement, BGPPeer, IPAddressPool, L2Advertisement
from ..types import Community as CommunityCR


class Collector:
    """The errors and warnings of one parse, in the order found; an error found twice is kept once."""

    def __init__(self) -> None:
        self.errors: list[ConfigError] = []
        self.warnings: list[ConfigWarning] = []
        self._seen: set[ConfigError] = set()

    def error(self, kind: str, name: str, what: str, *, transient: bool = False) -> None:
        cls = TransientConfigError if transient else ConfigError
        err = cls(f"{kind}/{name}" if kind else "", what, kind=kind, name=name)
        if err not in self._seen:
            self._seen.add(err)
            self.errors.append(err)

    def warn(self, warnings: Iterable[ConfigWarning]) -> None:
        """Add ready-made warnings (they may be shared between parses: they are frozen)."""
        self.warnings.extend(warnings)


_T = TypeVar("_T", IPAddressPool, BGPPeer, BFDProfile, BGPAdvertisement, L2Advertisement, CommunityCR)


def by_name(items: Iterable[_T], last: tuple[str, str] | None = None) -> list[_T]:
    return sorted(items, key=lambda o: ((o.api.kind, o.name) == last, o.metadata.name or ""))


def dup_string(values: Sequence[str] | None, what: str) -> str | None:
    seen: set[str] = set()
    for v in values or ():
        if v in seen:
            return f"duplicate definition of {what} {go_quote(v)}"
        seen.add(v)
    return None


class Reject(Exception):
    """One object's problem, raised inside its own parse step and reported by the loop over that kind.

    Deliberately not a ``ValueError``: a ``ValueError`` (or anything else) escaping our own code or a library
    is a bug and must surface as one, never reach a user dressed as a configuration error. Private to the
    parser: callers see ``ConfigError`` values in the ``ParseResult``. ``transient`` marks a reference to an
    object that may be created later (it becomes a ``TransientConfigError``).
    """

    def __init__(self, what: str, *, transient: bool = False) -> None:
        super().__init__(what)
        self.what = what
        self.transient = transient
