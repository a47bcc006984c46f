"""The one program shell: what every pymetallb program (controller, speaker, webhook) does the same way.

A program registers its flags with ``add_common_flags`` (MetalLB's names and environment variables) and calls
``run_program(args, body, name=...)``. The shell then:

* sets up JSON logging at ``--log-level`` (MetalLB's level names; a bad level exits 2 with one line on stderr);
* connects the one API client (``--kubeconfig``, else ``$KUBECONFIG``, else in-cluster); an unreachable or
  refused apiserver at start exits 1 with ``pymetallb <name>: <reason>``, never a traceback;
* gives the body a ``Program``: the client, one ``Store``, the Prometheus registry and exact-name counters, one
  HTTP server (``/healthz``, ``/readyz``, ``/metrics`` and any routes the program adds, over TLS where it asks),
  ``reflect()`` to mirror a kind into the Store (its first sync is a readiness check), ``add_root()`` for the
  program's own long-running tasks, ``on_stop()`` for graceful-stop hooks, and ``lead()`` for optional Lease
  leader election;
* runs every root task together (one exits or fails: all stop; a failure exits 1);
* on SIGTERM or SIGINT runs the ``on_stop`` hooks in order (finish in-flight work, announce a leave, ...)
  bounded by ``--grace-period``, then cancels the roots (a leader releases its Lease) and exits 0. A second
  signal skips the rest of the hooks.

Exit codes: 0 stopped by a signal (or the body finished), 1 fatal runtime error, 2 bad command line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import inspect
import logging
import os
import signal
import socket
import sys
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry

from reconciler.runtime.client import ApiClient
from reconciler.runtime.clock import Clock, RealClock
from reconciler.runtime.errors import ApiError
from reconciler.runtime.httpserver import HttpServer
from reconciler.runtime.leader import LeaderElector
from reconciler.runtime.logging import LOG_LEVELS, setup_logging
from reconciler.runtime.metrics import ExactCounters
from reconciler.runtime.reflector import Reflector
from reconciler.runtime.resources import ResourceType
from reconciler.runtime.store import Store
from reconciler.runtime.tasks import run_until_first_exits

__all__ = [
    "EXIT_FATAL",
    "EXIT_OK",
    "EXIT_USAGE",
    "LeaderSettings",
    "Program",
    "add_common_flags",
    "add_leader_flags",
    "parse_bool",
    "run_program",
]

EXIT_OK = 0
EXIT_FATAL = 1
EXIT_USAGE = 2

StopHook = Callable[[], Awaitable[None]]


def parse_bool(text: str) -> bool:
    """A flag value ``true``/``false`` (also 1/0, yes/no, on/off)."""
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _env(name: str, default: str | None) -> str | None:
    return os.environ.get(name) or default


def add_common_flags(parser: argparse.ArgumentParser, *, port: int, port_help: str) -> None:
    """The flags every program has, with MetalLB's names and environment variables.

    ``--port`` differs per program (7472 for the controller's and speaker's metrics, 9443 for the webhook's
    HTTPS), so the caller gives its default and meaning.
    """
    parser.add_argument("--kubeconfig", default=None, help="kubeconfig path (default: $KUBECONFIG, else in-cluster)")
    parser.add_argument(
        "-n",
        "--namespace",
        default=_env("METALLB_NAMESPACE", "metallb-system"),
        help="the MetalLB namespace (env METALLB_NAMESPACE; default %(default)s)",
    )
    parser.add_argument(
        "--log-level",
        default=_env("METALLB_LOG_LEVEL", "info"),
        choices=LOG_LEVELS,
        help="log level: all, debug, info, warn, error, none (env METALLB_LOG_LEVEL; default %(default)s)",
    )
    parser.add_argument(
        "--host",
        default=_env("METALLB_HOST", "0.0.0.0"),
        help="address to serve on (env METALLB_HOST; default %(default)s)",
    )
    parser.add_argument("--port", type=int, default=port, help=f"{port_help} (default %(default)s)")
    parser.add_argument(
        "--lb-class",
        default=_env("METALLB_LB_CLASS", None),
        help="serve only Services with this spec.loadBalancerClass (env METALLB_LB_CLASS; default: none)",
    )
    parser.add_argument(
        "--grace-period",
        type=float,
        default=5.0,
        help="seconds a SIGTERM/SIGINT waits for in-flight work before stopping (default %(default)s)",
    )


def _lease_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 second (the Lease stores whole seconds), got {text}")
    return value


def add_leader_flags(parser: argparse.ArgumentParser, *, default: bool) -> None:
    """``--leader-elect``, ``--identity`` and ``--lease-duration`` for a program that may run replicas."""
    parser.add_argument(
        "--leader-elect",
        type=parse_bool,
        default=default,
        nargs="?",
        const=True,
        help=f"elect a leader among replicas through a Lease (default {str(default).lower()})",
    )
    parser.add_argument("--identity", default=None, help="Lease holder identity (default: $POD_NAME or hostname)")
    parser.add_argument(
        "--lease-duration",
        type=_lease_seconds,
        default=15.0,
        help="seconds a standby waits for a leader that died without releasing the Lease (default 15; "
        "renew deadline 2/3 of it, retry period 1/7.5 of it)",
    )


@dataclass(frozen=True)
class LeaderSettings:
    """Lease election settings; the renew deadline and retry period follow the lease duration."""

    name: str
    lease_duration: float = 15.0
    identity: str | None = None

    @classmethod
    def from_args(cls, name: str, args: argparse.Namespace) -> LeaderSettings | None:
        if not getattr(args, "leader_elect", False):
            return None
        return cls(name=name, lease_duration=args.lease_duration, identity=args.identity)


def _identity() -> str:
    """The Lease holder identity: the pod name in a cluster, else host plus a random suffix."""
    return os.environ.get("POD_NAME") or f"{socket.gethostname()}-{uuid.uuid4().hex[:6]}"


class Program:
    """What a program body gets from the shell; see the module docstring."""

    def __init__(
        self,
        name: str,
        args: argparse.Namespace,
        client: ApiClient,
        *,
        clock: Clock | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        self.name = name
        self.args = args
        self.client = client
        self.clock: Clock = clock or RealClock()
        self.log = logger or logging.getLogger(f"pymetallb.{name}")
        self.store = Store()
        self.registry = CollectorRegistry()
        self.exact = ExactCounters()
        self.http = HttpServer(
            host=args.host, port=args.port, registry=self.registry, exact=self.exact, logger=self.log
        )
        self.reflectors: list[Reflector] = []
        self._roots: dict[str, Coroutine[Any, Any, Any]] = {}
        self._stop_hooks: list[tuple[str, StopHook]] = []
        self.stopping = asyncio.Event()
        """Set when a stop signal arrived: long-running work should wind down."""

    def reflect(
        self,
        res: ResourceType,
        *,
        namespace: str | None = None,
        transform: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        field_selector: str | Mapping[str, str] | None = None,
        label_selector: str | Mapping[str, str] | None = None,
    ) -> Reflector:
        """Mirror a kind into the Store; readiness waits for its first list."""
        r = Reflector(
            self.client,
            self.store,
            res,
            namespace=namespace,
            transform=transform,
            field_selector=field_selector,
            label_selector=label_selector,
            clock=self.clock,
        )
        self.reflectors.append(r)
        self.add_root(f"reflector {r.name}", r.run())
        self.http.add_readiness_check(f"{r.name} synced", lambda: r.synced)
        return r

    def add_root(self, name: str, coro: Coroutine[Any, Any, Any]) -> None:
        """A long-running task of the program; when any root exits or fails, the program stops."""
        if name in self._roots:
            coro.close()
            raise ValueError(f"root task {name!r} registered twice")
        self._roots[name] = coro

    def on_stop(self, name: str, hook: StopHook) -> None:
        """Run ``hook`` on SIGTERM/SIGINT before the roots are cancelled (hooks run in registration order)."""
        self._stop_hooks.append((name, hook))

    def lead(self, settings: LeaderSettings | None, work: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run ``work`` as a root: directly, or only while this replica holds the Lease ``settings.name``."""
        if settings is None:
            self.add_root("work", work())
            return
        elector = LeaderElector(
            self.client,
            namespace=self.args.namespace,
            name=settings.name,
            identity=settings.identity or _identity(),
            lease_duration=settings.lease_duration,
            renew_deadline=settings.lease_duration * 2 / 3,
            retry_period=max(0.5, settings.lease_duration / 7.5),
            clock=self.clock,
        )
        self.http.add_readiness_check("leader election running", lambda: True)
        self.add_root("leader", elector.run(work))

    async def _stopper(self, grace: float) -> None:
        await self.stopping.wait()
        self.log.info("stopping", extra={"op": "main", "event": "stopping"})
        for name, hook in self._stop_hooks:
            try:
                await asyncio.wait_for(hook(), timeout=grace)
            except TimeoutError:
                self.log.warning(
                    "stop hook %s did not finish within %gs", name, grace, extra={"op": "main", "event": "stopSlow"}
                )
            except Exception:
                self.log.exception("stop hook %s failed", name, extra={"op": "main", "event": "stopFailed"})

    def discard(self) -> None:
        """Close the roots that never ran (the body failed before ``run``): no never-awaited warnings."""
        for coro in self._roots.values():
            if inspect.getcoroutinestate(coro) == inspect.CORO_CREATED:
                coro.close()
        self._roots.clear()

    async def run(self) -> None:
        """Serve HTTP and run every root until one exits, a root fails, or a stop signal's hooks are done."""
        grace = float(getattr(self.args, "grace_period", 5.0))
        self.add_root("stop", self._stopper(grace))
        async with self.http:
            await run_until_first_exits(self._roots, logger=self.log)


Body = Callable[[Program], Awaitable[None]]


def run_program(args: argparse.Namespace, body: Body, *, name: str) -> int:
    """Run a program: logging, client, ``body(program)`` to wire it, then ``program.run()``; see the module."""
    try:
        setup_logging(args.log_level)
    except ValueError as exc:
        sys.stderr.write(f"pymetallb {name}: {exc}\n")
        return EXIT_USAGE
    log = logging.getLogger(f"pymetallb.{name}")

    async def main() -> int:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        holder: list[Program] = []
        signals = 0

        def on_signal(sig: signal.Signals) -> None:
            nonlocal signals
            signals += 1
            log.info("received %s", sig.name, extra={"op": "main", "event": "signal", "signal": sig.name})
            if signals == 1 and holder:
                holder[0].stopping.set()  # graceful: hooks first, then the roots stop
            else:
                task.cancel()  # before the program runs, or a second signal: stop now

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, on_signal, sig)
        try:
            client = await ApiClient.connect(args.kubeconfig)
        except ApiError as exc:
            log.error("cannot reach the apiserver: %s", exc, extra={"op": "main", "event": "apiError"})
            sys.stderr.write(f"pymetallb {name}: cannot reach the apiserver: {exc}\n")
            return EXIT_FATAL
        try:
            program = Program(name, args, client, logger=log)
            holder.append(program)
            await body(program)
            await program.run()
        except asyncio.CancelledError:
            pass
        except ApiError as exc:
            log.error("stopped on an API error: %s", exc, extra={"op": "main", "event": "apiError"})
            sys.stderr.write(f"pymetallb {name}: {exc}\n")
            return EXIT_FATAL
        except Exception as exc:
            log.exception("stopped on an internal error", extra={"op": "main", "event": "fatal"})
            sys.stderr.write(f"pymetallb {name}: internal error: {exc}\n")
            return EXIT_FATAL
        finally:
            if holder:
                holder[0].discard()
            with contextlib.suppress(Exception):
                await client.close()
        log.info("stopped", extra={"op": "main", "event": "stopped"})
        return EXIT_OK

    try:
        return asyncio.run(main())
    except KeyboardInterrupt:  # a SIGINT before the loop installed its handler
        return EXIT_OK
