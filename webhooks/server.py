"""The webhook's routes on the program shell's HTTP server: MetalLB's webhook paths and ``/convert``.

Every POST goes to ``webhooks.review.handle``, which never raises; this module adds only I/O: read the body, log
one line per review (``op=review``, ``event`` = ``allowed``/``denied``/``badRequest``/``converted``, with the
kind, name, uid, milliseconds and the denial), count it in ``pymetallb_webhook_reviews_total{path, result}`` (ours;
``result`` is that same event word), answer JSON. A body over the size limit is answered 413 by aiohttp
before it is read. ``/healthz``, ``/readyz`` and ``/metrics`` are the shell's (one server per process);
``webhook_server`` builds that server over TLS with these routes, ``/readyz`` false until ``is_ready()``.
"""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Callable

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter

from reconciler.runtime.httpserver import HttpServer

from .admission import MAX_BODY_BYTES
from .review import CONVERT_PATH, VALIDATING_PATHS, handle
from .state import ClusterState

__all__ = ["add_webhook_routes", "webhook_server"]

_log = logging.getLogger(__name__)


def add_webhook_routes(
    http: HttpServer,
    state: ClusterState,
    logger: logging.Logger | None = None,
    *,
    registry: CollectorRegistry | None = None,
) -> None:
    """Serve the validating paths and ``/convert`` from ``state`` on ``http``; count reviews in ``registry``."""
    log = logger or _log
    reviews = Counter(
        "pymetallb_webhook_reviews",
        "Admission and conversion reviews answered, by path and result (allowed, denied, badRequest, converted)",
        ["path", "result"],
        # A private registry when none is given: never the process-global one (servers built twice in a process).
        registry=registry if registry is not None else CollectorRegistry(),
    )

    async def review(request: web.Request) -> web.Response:
        start = time.perf_counter()
        body = await request.read()
        reply = handle(request.path, body, state)
        ms = round((time.perf_counter() - start) * 1000, 3)
        fields: dict[str, object] = {"op": "review", "path": request.path, "ms": ms, "status": reply.status}
        if reply.status != 200:
            fields.update(event="badRequest", error=reply.body.get("error"))
            reviews.labels(request.path, "badRequest").inc()
            log.warning("bad request on %s: %s", request.path, reply.body.get("error"), extra=fields)
        elif request.path == CONVERT_PATH:
            result = reply.body.get("response", {}).get("result", {})
            fields.update(event="converted", result=result.get("status"), error=result.get("message"))
            reviews.labels(request.path, "converted").inc()
            log.info("conversion %s", result.get("status"), extra=fields)
        elif reply.decision is not None:
            resp = reply.body["response"]
            fields.update(
                event="allowed" if reply.decision.allowed else "denied",
                uid=resp.get("uid"),
                reason=reply.decision.message or None,
                warnings=list(reply.decision.warnings) or None,
            )
            reviews.labels(request.path, str(fields["event"])).inc()
            log.info("%s %s", fields["event"], request.path, extra=fields)
        if reply.internal_error is not None:
            log.error(
                "rule failed on %s", request.path, exc_info=reply.internal_error, extra={"op": "review", "event": "bug"}
            )
        return web.json_response(reply.body, status=reply.status)

    for path in [*VALIDATING_PATHS, CONVERT_PATH]:
        http.add_route("POST", path, review)


def webhook_server(
    state: ClusterState,
    context: ssl.SSLContext,
    *,
    is_ready: Callable[[], bool],
    host: str = "0.0.0.0",
    port: int = 9443,
    logger: logging.Logger | None = None,
    registry: CollectorRegistry | None = None,
) -> HttpServer:
    """An HTTPS server with the webhook routes, the shell's probes and ``is_ready`` as readiness (tests, tools)."""
    http = HttpServer(host=host, port=port, ssl_context=context, client_max_size=MAX_BODY_BYTES, logger=logger)
    http.add_readiness_check("webhook", is_ready)
    add_webhook_routes(http, state, logger, registry=registry)
    return http
