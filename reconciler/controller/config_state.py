"""The ConfigurationState writer: object ``controller`` says whether the last parse was valid, and why not.

Level-triggered like everything else: it runs after every parse and whenever the object itself changes or
disappears (an edit or a delete by hand is undone at once, not at the next config change).
"""

from __future__ import annotations

from crds.types import ConfigurationState
from reconciler.controller.keys import STATE, StateKey
from reconciler.controller.ports import ObjectWriter
from reconciler.controller.resources import STATE_NAME, STATES
from reconciler.controller.state import ControllerSettings, ControllerState
from reconciler.core.actuation import configuration_state_status
from reconciler.runtime.clock import Clock, kube_time
from reconciler.runtime.errors import NotFound
from reconciler.runtime.store import Store

__all__ = ["ConfigurationStateWriter"]


class ConfigurationStateWriter:
    def __init__(
        self,
        store: Store,
        state: ControllerState,
        client: ObjectWriter,
        *,
        settings: ControllerSettings,
        clock: Clock,
    ) -> None:
        self.store = store
        self.state = state
        self.client = client
        self.settings = settings
        self.clock = clock  # wall time for the condition

    async def reconcile(self, key: StateKey = STATE) -> float | None:
        ns = self.settings.namespace
        current = self.store.get(STATES, f"{ns}/{STATE_NAME}") if self.store.synced(STATES) else None
        if current is None:
            try:
                current = await self.client.get(STATES, STATE_NAME, ns)
            except NotFound:
                body = {
                    "apiVersion": ConfigurationState.api.api_version,
                    "kind": "ConfigurationState",
                    "metadata": {
                        "name": STATE_NAME,
                        "namespace": ns,
                        "labels": {"metallb.io/component-type": "controller"},
                    },
                }
                current = await self.client.create(STATES, body, ns)
        patch = configuration_state_status(current, list(self.state.config_errors), now=kube_time(self.clock.now()))
        if patch is not None:
            await self.client.patch(STATES, STATE_NAME, patch, ns, subresource="status")
        return None
