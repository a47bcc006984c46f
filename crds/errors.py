"""Every error pymetallb reports to a user, in one tree.

    PymetallbError                  base; ``where`` (what it is about) and ``what`` (what is wrong)
    ├── ConfigError                 a configuration the parser rejects; ``str()`` is MetalLB's exact text
    │   └── TransientConfigError    a reference to an object that may not exist yet (wait, then retry)
    ├── ManifestError               a file or document that is not a readable Kubernetes object
    ├── LegacyConfigError           a legacy MetalLB ConfigMap that cannot be converted
    └── InternalInvariantError      a bug: an invariant of our own code does not hold

Each surface maps these in one place: the CLI prints ``where: what`` and exits 1, the webhook denies with
``str(err)``, the controller records an Event and a status condition. Warnings are not errors: they are
``ConfigWarning`` values returned next to the result.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ConfigError",
    "ConfigWarning",
    "InternalInvariantError",
    "LegacyConfigError",
    "ManifestError",
    "PymetallbError",
    "TransientConfigError",
]


class PymetallbError(Exception):
    """Base of all user-facing errors: ``where`` names the object or location, ``what`` the problem."""

    def __init__(self, where: str, what: str) -> None:
        super().__init__(what)
        self.where = where
        self.what = what

    def __str__(self) -> str:
        return self.what

    def line(self) -> str:
        """One line for a terminal: ``where: what`` with MetalLB's multi-line joins flattened."""
        what = "; ".join(part for part in self.what.split("\n") if part)
        return f"{self.where}: {what}" if self.where else what


class ConfigError(PymetallbError):
    """The parser rejects the configuration. ``where`` is ``Kind/name`` (or empty for global rules)."""

    def __init__(self, where: str, what: str, *, kind: str = "", name: str = "") -> None:
        super().__init__(where, what)
        self.kind = kind
        self.name = name

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.where!r}, {self.what!r})"

    def __eq__(self, other: object) -> bool:
        if type(self) is not type(other) or not isinstance(other, ConfigError):
            return False
        return (self.where, self.what) == (other.where, other.what)

    def __hash__(self) -> int:
        return hash((type(self), self.where, self.what))


class TransientConfigError(ConfigError):
    """A reference to an object that may appear later (BFD profile, Secret, Community alias).

    The webhook does not deny these (``kubectl apply`` order must not matter); the controller and the
    speaker report them and retry when the referenced object appears.
    """


class ManifestError(PymetallbError):
    """A file or document that cannot be read as a Kubernetes object. ``where`` is ``file[:doc N]``."""


class LegacyConfigError(PymetallbError):
    """A legacy ConfigMap that cannot be converted. ``where`` is a path like ``address-pools[2].protocol``."""


class InternalInvariantError(RuntimeError):
    """An invariant of pymetallb's own code was broken: a bug, never a user error."""


@dataclass(frozen=True)
class ConfigWarning:
    """Something accepted but probably not meant (upstream accepts it silently)."""

    where: str
    what: str

    def line(self) -> str:
        return f"{self.where}: {self.what}" if self.where else self.what
