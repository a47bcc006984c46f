"""The process's small HTTP server: ``/healthz`` (alive), ``/readyz`` (ready) and ``/metrics`` (Prometheus).

Promises:

* ``/healthz`` answers 200 ``ok`` while the event loop runs (and every liveness check is true).
* ``/readyz`` answers 200 only when every registered readiness check is true (e.g. each reflector synced, or this
  replica can serve); otherwise 503 listing the failing checks. A check that raises counts as false.
* ``/metrics`` serves the prometheus_client registry followed by the exact-name MetalLB counters (metrics.py), in
  the text format 0.0.4.
* A program adds its own routes (``add_route``, before ``start``), e.g. the webhook's reviews, and may serve
  the same routes over TLS (``ssl_context``) and on more listeners (``add_site``, e.g. a plain health port
  beside the webhook's HTTPS port): one server per process.
* ``start()``/``stop()`` (or ``async with``) bind and release the ports; ``port`` is the bound port of the main
  listener and ``ports`` of every listener (pass 0 in tests for a free one).
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest

from reconciler.runtime.metrics import ExactCounters

__all__ = ["HttpServer"]

Check = Callable[[], bool]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

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
        ssl_context: ssl.SSLContext | None = None,
        client_max_size: int = 1024**2,
    ) -> None:
        """Port 7472 is MetalLB's default metrics port for the controller and speaker."""
        self.host = host
        self.port = port
        self.ssl_context = ssl_context
        self.client_max_size = client_max_size
        self.ports: list[int] = []
        self._sites: list[tuple[str, int, ssl.SSLContext | None]] = []
        self._routes: list[tuple[str, str, Handler]] = []
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

    def add_route(self, method: str, path: str, handler: Handler) -> None:
        """Serve ``handler`` at ``path`` on every listener (before ``start``)."""
        if self._runner is not None:
            raise RuntimeError("HttpServer: routes are added before start()")
        self._routes.append((method, path, handler))

    def add_site(self, host: str, port: int, ssl_context: ssl.SSLContext | None = None) -> None:
        """Listen on one more address (before ``start``), e.g. plain HTTP for probes beside HTTPS."""
        if self._runner is not None:
            raise RuntimeError("HttpServer: sites are added before start()")
        self._sites.append((host, port, ssl_context))

    async def start(self) -> None:
        if self._runner is not None:
            raise RuntimeError("HttpServer already started")
        app = web.Application(client_max_size=self.client_max_size)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", self._metrics)
        for method, path, handler in self._routes:
            app.router.add_route(method, path, handler)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        self._runner = runner
        self.ports = []
        try:
            for host, port, context in [(self.host, self.port, self.ssl_context), *self._sites]:
                site = web.TCPSite(runner, host, port, ssl_context=context)
                await site.start()
                server = getattr(site, "_server", None)  # aiohttp keeps the bound sockets only here
                sockets = getattr(server, "sockets", None) or []
                self.ports.append(int(sockets[0].getsockname()[1]) if sockets else port)
                self._log.info(
                    "serving on %s:%d (%s)",
                    host,
                    self.ports[-1],
                    "https" if context is not None else "http",
                    extra={"op": "http", "event": "listening", "port": self.ports[-1]},
                )
        except BaseException:
            await self.stop()
            raise
        self.port = self.ports[0]

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
