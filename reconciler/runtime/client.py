"""The one Kubernetes API client of a process: typed calls over a one-method-per-shape transport.

Promises:

* Every call builds its URL from a ``ResourceType`` (no discovery), sends JSON, and returns plain ``dict`` objects.
* Every failure surfaces as an ``errors.ApiError`` subclass, chained to the library exception (``from exc``). This
  module is the only place that knows the HTTP library, aiohttp (docs/architecture.md, "Errors").
* ``list()`` pages with ``limit``/``continue`` and returns the items (``apiVersion``/``kind`` filled in, as the server
  omits them in lists) with the list's ``resourceVersion``: the point a watch resumes from.
* ``watch()`` is one stream: it asks for bookmarks and a server-side timeout, yields every event the server sends
  (including ``ERROR`` and types it does not know) and ends when the server closes the stream. Reconnecting, 410
  handling and backoff belong to the reflector, not here. The HTTP read timeout is the server timeout plus a
  margin, so a connection that silently died is noticed.
* Other calls time out after ``request_timeout`` seconds (``Unavailable``).

Not promised: retries. A failed call raises; the caller (reflector, work loop, elector) decides when to retry.
On 401 the transport reloads credentials (token file, exec plugin) once and repeats the call (rotated
service-account tokens).

Why aiohttp and our own kubeconfig loading (``kubeconfig.py``) rather than kr8s: kr8s cost ~14 MB of RSS at import
and httpx another ~5 MB, while aiohttp is loaded anyway for the metrics server; of kr8s we used only kubeconfig
loading and its session. ``connect(None)`` searches as kubectl does: ``$KUBECONFIG``, ``~/.kube/config``, in-cluster.
"""

from __future__ import annotations

import builtins
import contextlib
import enum
import json
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from reconciler.runtime.errors import ApiError, Unavailable
from reconciler.runtime.kubeconfig import ClusterAccess, KubeconfigError
from reconciler.runtime.kubeconfig import load as load_kubeconfig
from reconciler.runtime.resources import ResourceType

__all__ = [
    "ADDED",
    "BOOKMARK",
    "DELETED",
    "ERROR",
    "MODIFIED",
    "ApiClient",
    "HttpTransport",
    "PatchType",
    "Transport",
    "WatchEvent",
]

ADDED, MODIFIED, DELETED, BOOKMARK, ERROR = "ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"

PatchType = Literal["merge", "json", "strategic", "apply"]
_PATCH_CONTENT_TYPES: dict[str, str] = {
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "apply": "application/apply-patch+yaml",  # JSON is YAML: the body is sent as JSON
}
_JSON = "application/json"


@dataclass(frozen=True)
class WatchEvent:
    """One watch event. ``type`` is ADDED, MODIFIED, DELETED, BOOKMARK or ERROR (or a type we do not know yet,
    passed through so the reflector can log and skip it). For ERROR, ``object`` is a ``Status``."""

    type: str
    object: dict[str, Any]


class Transport(Protocol):
    """How the client reaches the apiserver. Tests pass a fake; production uses ``HttpTransport``.

    Implementations may raise library exceptions; ``ApiClient`` translates them.
    """

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str],
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: float,
    ) -> tuple[int, bytes]:
        """Send one request; return (HTTP status, body)."""
        ...

    def stream_lines(self, path: str, *, params: Mapping[str, str], read_timeout: float) -> AsyncGenerator[bytes, None]:
        """GET ``path`` and yield the body line by line; raise ``ApiError`` for a non-2xx answer."""
        ...

    async def close(self) -> None: ...


class _State(enum.Enum):
    OPEN = "open"  # calls allowed
    CLOSED = "closed"  # close() ran: every call raises RuntimeError


class ApiClient:
    """Typed list/watch/get/create/patch/replace/delete over a ``Transport``. An async context manager."""

    def __init__(self, transport: Transport, *, request_timeout: float = 30.0) -> None:
        self._transport = transport
        self.request_timeout = request_timeout
        """Seconds before a non-watch call gives up. 30 s: longer than any sane apiserver answer, short enough that
        a hung call does not block a worker for long."""
        self._state = _State.OPEN

    @classmethod
    async def connect(cls, kubeconfig: str | None = None, *, request_timeout: float = 30.0) -> ApiClient:
        """Connect with a kubeconfig path; None means ``$KUBECONFIG`` (then ``~/.kube/config``), else in-cluster."""
        with _translate("connect"):
            access = await load_kubeconfig(kubeconfig)
        return cls(HttpTransport(access), request_timeout=request_timeout)

    async def __aenter__(self) -> ApiClient:
        self._check_open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the transport. Idempotent; afterwards every call raises ``RuntimeError``."""
        if self._state is _State.CLOSED:
            return
        self._state = _State.CLOSED
        with _translate("close"), contextlib.suppress(ApiError):
            await self._transport.close()

    # ---- reads -------------------------------------------------------------

    async def list(
        self,
        res: ResourceType,
        namespace: str | None = None,
        *,
        label_selector: str | Mapping[str, str] | None = None,
        field_selector: str | Mapping[str, str] | None = None,
        page_size: int = 500,
        transform: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> tuple[builtins.list[dict[str, Any]], str]:
        """All objects (all namespaces when ``namespace`` is None) and the list's resourceVersion.

        ``transform`` maps each item as its page arrives, so only one page of full objects is alive at a time
        (10,000 full Services are ~140 MB of dicts; their compact forms ~20 MB)."""
        params: dict[str, str] = {"limit": str(page_size)}
        if label_selector:
            params["labelSelector"] = _selector(label_selector)
        if field_selector:
            params["fieldSelector"] = _selector(field_selector)
        items: builtins.list[dict[str, Any]] = []
        rv = ""
        while True:
            page = await self._call("GET", res.collection_path(namespace), params=params)
            for item in page.pop("items", None) or []:
                item.setdefault("apiVersion", res.api_version)
                item.setdefault("kind", res.kind)
                items.append(item if transform is None else transform(item))
            meta = page.get("metadata") or {}
            rv = str(meta.get("resourceVersion") or rv)
            token = meta.get("continue")
            if not token:
                return items, rv
            params["continue"] = str(token)

    async def watch(
        self,
        res: ResourceType,
        namespace: str | None = None,
        *,
        resource_version: str,
        timeout_seconds: int,
        allow_bookmarks: bool = True,
        label_selector: str | Mapping[str, str] | None = None,
        field_selector: str | Mapping[str, str] | None = None,
    ) -> AsyncIterator[WatchEvent]:
        """One watch stream from ``resource_version``; ends when the server closes it (after ``timeout_seconds``)."""
        self._check_open()
        params = {
            "watch": "true",
            "resourceVersion": resource_version,
            "timeoutSeconds": str(int(timeout_seconds)),
        }
        if allow_bookmarks:
            params["allowWatchBookmarks"] = "true"
        if label_selector:
            params["labelSelector"] = _selector(label_selector)
        if field_selector:
            params["fieldSelector"] = _selector(field_selector)
        path = res.collection_path(namespace)
        # The margin covers a server that is slow to close at timeoutSeconds; past it the connection is dead.
        read_timeout = float(timeout_seconds) + 30.0
        with _translate(f"watch {path}"):
            async with contextlib.aclosing(
                self._transport.stream_lines(path, params=params, read_timeout=read_timeout)
            ) as lines:
                async for line in lines:
                    if not line.strip():
                        continue
                    raw = json.loads(line)
                    obj = raw.get("object") if isinstance(raw, dict) else None
                    if not isinstance(obj, dict):
                        raise Unavailable(0, "InvalidResponse", f"watch event without an object: {line[:200]!r}")
                    etype = str(raw.get("type") or "")
                    if etype in (ADDED, MODIFIED, DELETED):
                        obj.setdefault("apiVersion", res.api_version)
                        obj.setdefault("kind", res.kind)
                    yield WatchEvent(etype, obj)

    async def get(self, res: ResourceType, name: str, namespace: str | None = None) -> dict[str, Any]:
        return await self._call("GET", res.object_path(name, namespace))

    # ---- writes ------------------------------------------------------------

    async def create(
        self,
        res: ResourceType,
        obj: Mapping[str, Any],
        namespace: str | None = None,
        *,
        field_manager: str | None = None,
    ) -> dict[str, Any]:
        """POST ``obj``; the namespace defaults to ``obj.metadata.namespace``. AlreadyExists raises ``Conflict``."""
        ns = _namespace_of(res, obj, namespace)
        body = _with_type(res, obj)
        params = {"fieldManager": field_manager} if field_manager else {}
        return await self._call("POST", res.collection_path(ns), params=params, body=body)

    async def patch(
        self,
        res: ResourceType,
        name: str,
        body: Mapping[str, Any] | builtins.list[Any],
        namespace: str | None = None,
        *,
        subresource: str | None = None,
        patch_type: PatchType = "merge",
        field_manager: str | None = None,
        force: bool = False,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """PATCH an object or its subresource (``subresource="status"``). ``apply`` is server-side apply and needs a
        ``field_manager``; ``force`` takes over fields owned by other managers (apply only). ``dry_run`` asks the
        server to validate and admit (webhooks included) without storing anything."""
        content_type = _PATCH_CONTENT_TYPES.get(patch_type)
        if content_type is None:
            raise ValueError(f"unknown patch type {patch_type!r}; expected one of {sorted(_PATCH_CONTENT_TYPES)}")
        if patch_type == "json" and not isinstance(body, list):
            raise ValueError("a JSON patch is a list of operations")
        if patch_type != "json" and not isinstance(body, Mapping):
            raise ValueError(f"a {patch_type} patch is an object")
        params: dict[str, str] = {}
        if field_manager:
            params["fieldManager"] = field_manager
        if dry_run:
            params["dryRun"] = "All"
        if patch_type == "apply":
            if not field_manager:
                raise ValueError("server-side apply needs a field_manager")
            if force:
                params["force"] = "true"
            assert isinstance(body, Mapping)
            body = _with_type(res, body)
        elif force:
            raise ValueError("force applies only to server-side apply")
        return await self._call(
            "PATCH",
            res.object_path(name, namespace, subresource),
            params=params,
            body=body,
            content_type=content_type,
        )

    async def replace(
        self,
        res: ResourceType,
        obj: Mapping[str, Any],
        namespace: str | None = None,
        *,
        subresource: str | None = None,
    ) -> dict[str, Any]:
        """PUT ``obj`` (named by ``obj.metadata.name``). With ``metadata.resourceVersion`` set this is an optimistic
        update: a stale version raises ``Conflict``."""
        name = str((obj.get("metadata") or {}).get("name") or "")
        ns = _namespace_of(res, obj, namespace)
        return await self._call("PUT", res.object_path(name, ns, subresource), body=_with_type(res, obj))

    async def delete(self, res: ResourceType, name: str, namespace: str | None = None) -> dict[str, Any]:
        """DELETE; returns the object (being finalized) or the server's ``Status``."""
        return await self._call("DELETE", res.object_path(name, namespace))

    # ---- plumbing ----------------------------------------------------------

    def _check_open(self) -> None:
        if self._state is _State.CLOSED:
            raise RuntimeError("ApiClient is closed")

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | builtins.list[Any] | None = None,
        content_type: str = _JSON,
    ) -> dict[str, Any]:
        self._check_open()
        headers = {"Accept": _JSON}
        data = None
        if body is not None:
            headers["Content-Type"] = content_type
            data = json.dumps(body, separators=(",", ":")).encode()
        with _translate(f"{method} {path}"):
            status, raw = await self._transport.request(
                method, path, params=params or {}, headers=headers, body=data, timeout=self.request_timeout
            )
            parsed: Any = json.loads(raw) if raw.strip() else {}
        if not 200 <= status < 300:
            raise ApiError.from_status(status, parsed)
        if not isinstance(parsed, dict):
            raise Unavailable(0, "InvalidResponse", f"{method} {path}: expected a JSON object")
        return parsed


def _selector(sel: str | Mapping[str, str]) -> str:
    return sel if isinstance(sel, str) else ",".join(f"{k}={v}" for k, v in sorted(sel.items()))


def _namespace_of(res: ResourceType, obj: Mapping[str, Any], namespace: str | None) -> str | None:
    if not res.namespaced:
        return None
    return namespace if namespace is not None else (obj.get("metadata") or {}).get("namespace")


def _with_type(res: ResourceType, obj: Mapping[str, Any]) -> dict[str, Any]:
    return {"apiVersion": res.api_version, "kind": res.kind, **obj}


@contextlib.contextmanager
def _translate(what: str) -> Iterator[None]:
    """Map transport, configuration and decoding exceptions to ``ApiError`` subclasses (``from exc``); ours pass
    through."""
    import aiohttp

    try:
        yield
    except ApiError:
        raise
    except KubeconfigError as exc:
        raise Unavailable(0, "InvalidKubeconfig", f"{what}: {exc}") from exc
    except TimeoutError as exc:  # before OSError, its base; aiohttp's ServerTimeoutError is one too
        raise Unavailable(0, "Timeout", f"{what}: {exc!r}") from exc
    except (aiohttp.ClientError, OSError) as exc:
        raise Unavailable(0, "ConnectionError", f"{what}: {exc!r}") from exc
    except ValueError as exc:  # JSON that does not decode: a truncated or garbled answer
        raise Unavailable(0, "InvalidResponse", f"{what}: {exc}") from exc


# asyncio's TLS transport gives every connection a receive buffer of SSLProtocol.max_size, 256 KiB, filled with
# zeros at once: 3.3 MiB resident for the 13 watch connections of a speaker (bench/bench_speaker.py). A TLS record
# is at most 16 KiB, so 32 KiB still takes two records per read; the setting is process-wide (every TLS connection
# made after it, the webhook server's too) and absent on other asyncio versions, where nothing changes.
TLS_READ_BUFFER = 32 * 1024


def _small_tls_buffers() -> None:
    from asyncio import sslproto

    if getattr(sslproto.SSLProtocol, "max_size", 0) > TLS_READ_BUFFER:
        sslproto.SSLProtocol.max_size = TLS_READ_BUFFER


class HttpTransport:
    """``Transport`` over one aiohttp ``ClientSession`` (aiohttp is loaded anyway for the metrics server), with
    the TLS context and credentials of a ``ClusterAccess``. Created inside the running event loop."""

    def __init__(self, access: ClusterAccess) -> None:
        import aiohttp

        _small_tls_buffers()
        self._access = access
        # limit=0: no pool cap; each watch holds a connection for minutes and must not starve the other calls.
        connector = aiohttp.TCPConnector(ssl=access.ssl_context if access.ssl_context is not None else False, limit=0)
        self._session = aiohttp.ClientSession(
            connector=connector, headers={"User-Agent": "pymetallb"}, raise_for_status=False
        )

    async def _headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        out = dict(headers)
        auth = await self._access.credentials.authorization()
        if auth:
            out["Authorization"] = auth
        return out

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str],
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: float,
    ) -> tuple[int, bytes]:
        import aiohttp

        creds = self._access.credentials
        for attempt in (1, 2):
            async with self._session.request(
                method,
                self._access.server + path,
                params=dict(params),
                headers=await self._headers(headers),
                data=body,
                timeout=aiohttp.ClientTimeout(total=timeout),
                server_hostname=self._access.tls_server_name,
            ) as resp:
                status, content = resp.status, await resp.read()
            if status == 401:
                creds.invalidate()
                # A rotated token (file or exec plugin): read it again and repeat the call once.
                if attempt == 1 and creds.refreshable:
                    continue
            break
        return status, content

    async def stream_lines(
        self, path: str, *, params: Mapping[str, str], read_timeout: float
    ) -> AsyncGenerator[bytes, None]:
        import aiohttp

        async with self._session.get(
            self._access.server + path,
            params=dict(params),
            headers=await self._headers({"Accept": _JSON}),
            timeout=aiohttp.ClientTimeout(total=None, connect=10.0, sock_read=read_timeout),
            server_hostname=self._access.tls_server_name,
        ) as resp:
            if not 200 <= resp.status < 300:
                if resp.status == 401:
                    self._access.credentials.invalidate()
                raw = await resp.read()
                try:
                    body: Any = json.loads(raw)
                except ValueError:
                    body = raw
                raise ApiError.from_status(resp.status, body)
            # Split on newlines ourselves: aiohttp's readline() refuses lines over 128 KiB, and one watch event is
            # one line of any size.
            buf = bytearray()
            async for chunk in resp.content.iter_any():
                start = len(buf)
                buf += chunk
                end = buf.find(b"\n", start)
                while end >= 0:
                    yield bytes(buf[:end])
                    del buf[: end + 1]
                    end = buf.find(b"\n")
            if buf:
                yield bytes(buf)

    async def close(self) -> None:
        await self._session.close()
