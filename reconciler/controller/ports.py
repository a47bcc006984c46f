"""The narrow parts of the API client and the event recorder each reconciler uses (tests pass fakes)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from reconciler.controller.keys import Key
from reconciler.runtime.events import EventType
from reconciler.runtime.resources import ResourceType

__all__ = ["Enqueue", "ObjectWriter", "Patcher", "Recorder"]

Enqueue = Callable[[Key], None]
"""Mark a key dirty (the work queue's ``add``)."""


class Patcher(Protocol):
    async def patch(
        self,
        res: ResourceType,
        name: str,
        body: dict[str, Any],
        namespace: str | None = None,
        *,
        subresource: str | None = None,
        field_manager: str | None = None,
    ) -> dict[str, Any]: ...


class ObjectWriter(Patcher, Protocol):
    async def get(self, res: ResourceType, name: str, namespace: str | None = None) -> dict[str, Any]: ...

    async def create(self, res: ResourceType, obj: dict[str, Any], namespace: str | None = None) -> dict[str, Any]: ...


class Recorder(Protocol):
    def post(self, obj: dict[str, Any], type: EventType, reason: str, message: str) -> None:
        """Queue an Event; it goes out from the recorder's own task, so no reconcile waits for it."""
