"""The HTTPS server: MetalLB's webhook paths, ``/convert``, ``/healthz`` and ``/readyz`` on one aiohttp app.

Every POST goes to ``webhooks.review.handle``, which never raises; this module adds only I/O: read the body, log
one line per review (``op=review``, ``event`` = ``allowed``/``denied``/``badRequest``/``converted``, with the
kind, name, uid, milliseconds and the denial), answer JSON. A body over the size limit is answered 413 by aiohttp
before it is read. ``/readyz`` is 503 until ``is_ready()`` (every watch synced and the CA bundle in place).

``WebhookServer`` is an async context manager with an explicit lifecycle: it refuses to start twice.
"""

from __future__ import annotations

import enum
import logging
import ssl
import time
from collections.abc import Callable

from aiohttp import web

from .admission import MAX_BODY_BYTES
from .review import CONVERT_PATH, VALIDATING_PATHS, handle
from .state import ClusterState

__all__ = ["WebhookServer", "build_app"]

_log = logging.getLogger(__name__)


class _State(enum.Enum):
    UNSTARTED = "unstarted"
    RUNNING = "running"
    STOPPED = "stopped"


def build_app(
    state: ClusterState, is_ready: Callable[[], bool], logger: logging.Logger | None = None
) -> web.Application:
    """The aiohttp application (tests drive it without TLS through aiohttp's test client)."""
    log = logger or _log

    async def review(request: web.Request) -> web.Response:
        start = time.perf_counter()
        body = await request.read()
        reply = handle(request.path, body, state)
        ms = round((time.perf_counter() - start) * 1000, 3)
        fields: dict[str, object] = {"op": "review", "path": request.path, "ms": ms, "status": reply.status}
        if reply.status != 200:
            fields.update(event="badRequest", error=reply.body.get("error"))
            log.warning("bad request on %s: %s", request.path, reply.body.get("error"), extra=fields)
        elif request.path == CONVERT_PATH:
            result = reply.body.get("response", {}).get("result", {})
            fields.update(event="converted", result=result.get("status"), error=result.get("message"))
            log.info("conversion %s", result.get("status"), extra=fields)
        elif reply.decision is not None:
            resp = reply.body["response"]
            fields.update(
                event="allowed" if reply.decision.allowed else "denied",
                uid=resp.get("uid"),
                reason=reply.decision.message or None,
                warnings=list(reply.decision.warnings) or None,
            )
            log.info("%s %s", fields["event"], request.path, extra=fields)
        if reply.internal_error is not None:
            log.error(
                "rule failed on %s", request.path, exc_info=reply.internal_error, extra={"op": "review", "event": "bug"}
            )
        return web.json_response(reply.body, status=reply.status)

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def readyz(request: web.Request) -> web.Response:
        try:
            ready = is_ready()
        except Exception:  # a check that raises counts as not ready
            ready = False
        return web.Response(text="ok" if ready else "not ready", status=200 if ready else 503)

    app = web.Application(client_max_size=MAX_BODY_BYTES)
    for path in [*VALIDATING_PATHS, CONVERT_PATH]:
        app.router.add_post(path, review)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app


class WebhookServer:
    """Serves ``build_app`` over TLS on ``host:port`` (``port`` 0 picks a free one; ``port`` is updated)."""

    def __init__(
        self,
        state: ClusterState,
        context: ssl.SSLContext,
        *,
        is_ready: Callable[[], bool],
        host: str = "0.0.0.0",
        port: int = 9443,
        logger: logging.Logger | None = None,
    ) -> None:
        self.app = build_app(state, is_ready, logger)
        self.context = context
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None
        self._state = _State.UNSTARTED

    async def start(self) -> None:
        if self._state is not _State.UNSTARTED:
            raise RuntimeError(f"WebhookServer is {self._state.value}; it starts once")
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, ssl_context=self.context)
        await site.start()
        server = site._server  # aiohttp keeps the asyncio server here; the bound port is only known from it
        sockets = getattr(server, "sockets", None) or []
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        self._state = _State.RUNNING

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._state = _State.STOPPED

    async def __aenter__(self) -> WebhookServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
