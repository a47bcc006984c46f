"""The reconcile runtime shared by the controller, the speaker and the webhook (see docs/runtime.md).

clock (time as a parameter) · resources (API identity, paths) · errors (our hierarchy) · client (the one API
client) · store (latest objects) · reflector (list+watch into the store) · workqueue (keys, client-go promises) ·
controller (the work loop) · leader (Lease election) · events (Kubernetes Events) · tasks (guarded tasks) ·
httpserver (healthz/readyz/metrics) · metrics (exact MetalLB counter names) · logging (JSON lines) · backoff.
"""

from reconciler.runtime.client import ApiClient, WatchEvent
from reconciler.runtime.clock import Clock, FakeClock, RealClock
from reconciler.runtime.controller import run_workers
from reconciler.runtime.errors import (
    ApiError,
    Conflict,
    Forbidden,
    Gone,
    Invalid,
    LeadershipLost,
    NotFound,
    TerminalError,
    Unavailable,
)
from reconciler.runtime.events import EventRecorder
from reconciler.runtime.leader import LeaderElector
from reconciler.runtime.reflector import Reflector
from reconciler.runtime.resources import ObjectKey, ResourceType, object_key
from reconciler.runtime.store import Store
from reconciler.runtime.workqueue import ShutDown, WorkQueue

__all__ = [
    "ApiClient",
    "ApiError",
    "Clock",
    "Conflict",
    "EventRecorder",
    "FakeClock",
    "Forbidden",
    "Gone",
    "Invalid",
    "LeaderElector",
    "LeadershipLost",
    "NotFound",
    "ObjectKey",
    "RealClock",
    "Reflector",
    "ResourceType",
    "ShutDown",
    "Store",
    "TerminalError",
    "Unavailable",
    "WatchEvent",
    "WorkQueue",
    "object_key",
    "run_workers",
]
