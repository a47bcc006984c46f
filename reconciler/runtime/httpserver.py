"""The process's small HTTP server: ``/healthz`` (alive), ``/readyz`` (ready) and ``/metrics`` (Prometheus).

Promises:

* ``/healthz`` answers 200 ``ok`` while the event loop runs (and every liveness check is true).
* ``/readyz`` answers 200 only when every registered readiness check is true (e.g. each reflector synced, or this
  replica can serve); otherwise 503 listing the failing checks. A check that raises counts as false.
* ``/metrics`` serves the prometheus_client registry followed by the exact-name MetalLB counters (metrics.py), in
  the text format 0.0.4.
* ``start()``/``stop()`` (or ``async with``) bind and release the port; ``port`` is the bound port (pass 0 in
  tests for a free one).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiohttp import web
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest

from reconciler.runtime.metrics import ExactCounters

__all__ = ["HttpServer"]

Check = Callable[[], bool]

_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class HttpServer:
    def __init__(
        self,
        *,
        host: str = "0.0.0.0",
        port: int = 7472,
        registry: CollectorRegistry | None = None,
        exact: ExactCounters | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        """Port 7472 is MetalLB's default metrics port for the controller and speaker."""
        self.host = host
        self.port = port
        self.registry = registry if registry is not None else REGISTRY
        self.exact = exact
        self._log = logger or logging.getLogger(__name__)
        self._ready: dict[str, Check] = {}
        self._live: dict[str, Check] = {}
        self._runner: web.AppRunner | None = None

    def add_readiness_check(self, name: str, check: Check) -> None:
        self._ready[name] = check

    def add_liveness_check(self, name: str, check: Check) -> None:
        self._live[name] = check

    async def start(self) -> None:
        if self._runner is not None:
            raise RuntimeError("HttpServer already started")
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", self._metrics)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        self._runner = runner
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        self._log.info(
            "serving /healthz /readyz /metrics on %s:%d",
            self.host,
            self.port,
            extra={"op": "http", "event": "listening"},
        )

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> HttpServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def failing(self, checks: dict[str, Check]) -> list[str]:
        bad = []
        for name, check in sorted(checks.items()):
            try:
                ok = bool(check())
            except Exception:
                self._log.exception("check %s raised", name, extra={"op": "http", "event": "checkFailed"})
                ok = False
            if not ok:
                bad.append(name)
        return bad

    async def _healthz(self, request: web.Request) -> web.Response:
        bad = self.failing(self._live)
        if bad:
            return web.Response(status=503, text="not alive: " + ", ".join(bad) + "\n")
        return web.Response(text="ok\n")

    async def _readyz(self, request: web.Request) -> web.Response:
        bad = self.failing(self._ready)
        if bad:
            return web.Response(status=503, text="not ready: " + ", ".join(bad) + "\n")
        return web.Response(text="ok\n")

    async def _metrics(self, request: web.Request) -> web.Response:
        body = generate_latest(self.registry)
        if self.exact is not None:
            body += self.exact.expose().encode()
        return web.Response(body=body, headers={"Content-Type": _CONTENT_TYPE})
