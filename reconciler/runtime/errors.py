"""The runtime's own error hierarchy. Code above ``client.py`` catches only these, never aiohttp errors.

Why our own: the HTTP library may change (it was kr8s); callers must not depend on it. ``client.py`` translates
every library exception into one of these and chains the original as ``__cause__`` (``raise ... from exc``).

    Exception
     ├── ApiError(status, reason, message)   an API call failed
     │    ├── Forbidden      403: RBAC denies it; retrying will not help until the RBAC changes
     │    ├── NotFound       404: the object (or its namespace) does not exist
     │    ├── Conflict       409: stale resourceVersion on update, or AlreadyExists on create
     │    ├── Gone           410: the resourceVersion is too old to watch from: relist
     │    ├── Invalid        422: the server rejected the object (validation, admission)
     │    └── Unavailable    connection failed, timed out, or 5xx (status 0 when there was no HTTP answer)
     ├── TerminalError       a reconcile failure that retrying cannot fix: logged, counted, not requeued
     └── LeadershipLost      the leader elector could not renew within its deadline
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "ApiError",
    "Conflict",
    "Forbidden",
    "Gone",
    "Invalid",
    "LeadershipLost",
    "NotFound",
    "TerminalError",
    "Unavailable",
]


class ApiError(Exception):
    """An API call failed. ``status`` is the HTTP status (0: no answer), ``reason`` the Status reason."""

    STATUS: ClassVar[int] = 0

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}" if status else f"{reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message

    @staticmethod
    def from_status(status: int, body: Any = None) -> ApiError:
        """The most specific error for an HTTP status and a (possibly missing) ``Status`` body."""
        reason, message = "", ""
        if isinstance(body, dict):
            reason = str(body.get("reason") or "")
            message = str(body.get("message") or "")
        elif isinstance(body, str | bytes):
            message = body.decode(errors="replace") if isinstance(body, bytes) else body
            message = message.strip()[:500]
        cls = _BY_STATUS.get(status)
        if cls is None:
            cls = Unavailable if status >= 500 else ApiError
        return cls(status, reason or cls.__name__, message)


class Forbidden(ApiError):
    STATUS = 403


class NotFound(ApiError):
    STATUS = 404


class Conflict(ApiError):
    STATUS = 409


class Gone(ApiError):
    STATUS = 410


class Invalid(ApiError):
    STATUS = 422


class Unavailable(ApiError):
    """No usable answer: connection refused or reset, timeout, or a 5xx."""


_BY_STATUS: dict[int, type[ApiError]] = {c.STATUS: c for c in (Forbidden, NotFound, Conflict, Gone, Invalid)}


class TerminalError(Exception):
    """Raised by a reconcile function when retrying cannot help (bad user input); not requeued."""


class LeadershipLost(Exception):
    """The lease could not be renewed within ``renew_deadline``; the leader's work was cancelled."""
