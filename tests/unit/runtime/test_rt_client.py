"""ApiClient over a fake transport: URLs, content types, paging, watch parsing, error translation."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Mapping
from typing import Any

import aiohttp
import pytest

from crds.types import IPAddressPool
from reconciler.runtime.client import ApiClient
from reconciler.runtime.errors import ApiError, Conflict, Forbidden, Gone, Invalid, NotFound, Unavailable
from reconciler.runtime.resources import CONFIGMAPS, LEASES, NODES, ResourceType

pytestmark = pytest.mark.anyio

POOLS = ResourceType.of(IPAddressPool)


class FakeTransport:
    def __init__(self, answers: list[tuple[int, Any]] | None = None, lines: list[bytes] | None = None) -> None:
        self.answers = list(answers or [])
        self.lines = list(lines or [])
        self.requests: list[dict[str, Any]] = []
        self.raise_exc: Exception | None = None
        self.closed = False

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
        self.requests.append(
            {"method": method, "path": path, "params": dict(params), "headers": dict(headers), "body": body}
        )
        if self.raise_exc:
            raise self.raise_exc
        status, payload = self.answers.pop(0) if self.answers else (200, {})
        return status, payload if isinstance(payload, bytes) else json.dumps(payload).encode()

    async def stream_lines(
        self, path: str, *, params: Mapping[str, str], read_timeout: float
    ) -> AsyncGenerator[bytes, None]:
        self.requests.append({"method": "WATCH", "path": path, "params": dict(params), "read_timeout": read_timeout})
        for line in self.lines:
            if isinstance(line, Exception):
                raise line
            yield line

    async def close(self) -> None:
        self.closed = True


def test_resource_type_of_a_crds_model_and_paths() -> None:
    assert ResourceType("metallb.io", "v1beta1", "ipaddresspools", "IPAddressPool", True) == POOLS
    assert POOLS.api_version == "metallb.io/v1beta1"
    assert POOLS.object_path("p", "metallb-system", "status") == (
        "/apis/metallb.io/v1beta1/namespaces/metallb-system/ipaddresspools/p/status"
    )
    assert CONFIGMAPS.collection_path() == "/api/v1/configmaps"
    assert NODES.object_path("n1") == "/api/v1/nodes/n1"
    with pytest.raises(ValueError, match="cluster-scoped"):
        NODES.collection_path("x")
    with pytest.raises(ValueError, match="namespace is required"):
        CONFIGMAPS.object_path("a")


async def test_list_pages_and_fills_type_meta() -> None:
    t = FakeTransport(
        answers=[
            (200, {"metadata": {"resourceVersion": "5", "continue": "tok"}, "items": [{"metadata": {"name": "a"}}]}),
            (200, {"metadata": {"resourceVersion": "5"}, "items": [{"metadata": {"name": "b"}}]}),
        ]
    )
    items, rv = await ApiClient(t).list(CONFIGMAPS, "ns", label_selector={"app": "x", "a": "b"})
    assert rv == "5"
    assert [(i["apiVersion"], i["kind"], i["metadata"]["name"]) for i in items] == [
        ("v1", "ConfigMap", "a"),
        ("v1", "ConfigMap", "b"),
    ]
    assert t.requests[0]["path"] == "/api/v1/namespaces/ns/configmaps"
    assert t.requests[0]["params"] == {"limit": "500", "labelSelector": "a=b,app=x"}
    assert t.requests[1]["params"]["continue"] == "tok"


async def test_list_transforms_each_item_as_its_page_arrives() -> None:
    t = FakeTransport(
        answers=[
            (200, {"metadata": {"resourceVersion": "5", "continue": "tok"}, "items": [{"metadata": {"name": "a"}}]}),
            (200, {"metadata": {"resourceVersion": "5"}, "items": [{"metadata": {"name": "b"}}]}),
        ]
    )
    pages_seen: list[int] = []

    def slim(obj: dict[str, Any]) -> dict[str, Any]:
        pages_seen.append(len(t.requests))
        return {"kind": obj["kind"], "name": obj["metadata"]["name"]}

    items, _ = await ApiClient(t).list(CONFIGMAPS, "ns", transform=slim)
    assert items == [{"kind": "ConfigMap", "name": "a"}, {"kind": "ConfigMap", "name": "b"}]
    assert pages_seen == [1, 2], "each page is transformed before the next is fetched"


async def test_watch_asks_for_bookmarks_and_a_timeout_and_parses_lines() -> None:
    lines = [
        json.dumps({"type": "ADDED", "object": {"metadata": {"name": "a", "resourceVersion": "6"}}}).encode(),
        b"",
        json.dumps({"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "9"}}}).encode(),
        json.dumps({"type": "ERROR", "object": {"kind": "Status", "code": 410}}).encode(),
    ]
    t = FakeTransport(lines=lines)
    events = [e async for e in ApiClient(t).watch(CONFIGMAPS, "ns", resource_version="5", timeout_seconds=300)]
    assert [e.type for e in events] == ["ADDED", "BOOKMARK", "ERROR"]
    assert events[0].object["kind"] == "ConfigMap"
    assert t.requests[0]["params"] == {
        "watch": "true",
        "resourceVersion": "5",
        "timeoutSeconds": "300",
        "allowWatchBookmarks": "true",
    }
    assert t.requests[0]["read_timeout"] > 300


async def test_a_garbled_watch_line_is_unavailable() -> None:
    t = FakeTransport(lines=[b"{not json"])
    with pytest.raises(Unavailable):
        async for _ in ApiClient(t).watch(CONFIGMAPS, resource_version="1", timeout_seconds=10):
            pass


@pytest.mark.parametrize(
    ("patch_type", "body", "content_type"),
    [
        pytest.param("merge", {"status": {}}, "application/merge-patch+json", id="merge"),
        pytest.param("json", [{"op": "add", "path": "/x", "value": 1}], "application/json-patch+json", id="json"),
        pytest.param("strategic", {"spec": {}}, "application/strategic-merge-patch+json", id="strategic"),
    ],
)
async def test_patch_content_types(patch_type: Any, body: Any, content_type: str) -> None:
    t = FakeTransport()
    await ApiClient(t).patch(POOLS, "p", body, "ns", subresource="status", patch_type=patch_type)
    req = t.requests[0]
    assert req["method"] == "PATCH"
    assert req["path"] == "/apis/metallb.io/v1beta1/namespaces/ns/ipaddresspools/p/status"
    assert req["headers"]["Content-Type"] == content_type
    assert json.loads(req["body"]) == body


async def test_server_side_apply_needs_a_field_manager_and_sends_type_meta() -> None:
    t = FakeTransport()
    c = ApiClient(t)
    with pytest.raises(ValueError, match="field_manager"):
        await c.patch(POOLS, "p", {"spec": {}}, "ns", patch_type="apply")
    with pytest.raises(ValueError, match="force"):
        await c.patch(POOLS, "p", {"spec": {}}, "ns", force=True)
    await c.patch(POOLS, "p", {"spec": {}}, "ns", patch_type="apply", field_manager="pymetallb", force=True)
    req = t.requests[0]
    assert req["params"] == {"fieldManager": "pymetallb", "force": "true"}
    assert req["headers"]["Content-Type"] == "application/apply-patch+yaml"
    assert json.loads(req["body"])["apiVersion"] == "metallb.io/v1beta1"


async def test_create_replace_delete_paths() -> None:
    t = FakeTransport()
    c = ApiClient(t)
    await c.create(LEASES, {"metadata": {"name": "l", "namespace": "ns"}})
    await c.replace(LEASES, {"metadata": {"name": "l", "namespace": "ns", "resourceVersion": "3"}})
    await c.delete(CONFIGMAPS, "a", "ns")
    assert [(r["method"], r["path"]) for r in t.requests] == [
        ("POST", "/apis/coordination.k8s.io/v1/namespaces/ns/leases"),
        ("PUT", "/apis/coordination.k8s.io/v1/namespaces/ns/leases/l"),
        ("DELETE", "/api/v1/namespaces/ns/configmaps/a"),
    ]
    assert json.loads(t.requests[0]["body"])["kind"] == "Lease"


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        pytest.param(403, Forbidden, id="403"),
        pytest.param(404, NotFound, id="404"),
        pytest.param(409, Conflict, id="409"),
        pytest.param(410, Gone, id="410"),
        pytest.param(422, Invalid, id="422"),
        pytest.param(503, Unavailable, id="503"),
        pytest.param(400, ApiError, id="400"),
    ],
)
async def test_http_statuses_become_our_errors(status: int, cls: type[ApiError]) -> None:
    t = FakeTransport(answers=[(status, {"kind": "Status", "reason": "Why", "message": "because"})])
    with pytest.raises(cls) as info:
        await ApiClient(t).get(CONFIGMAPS, "a", "ns")
    assert type(info.value) is cls
    assert (info.value.status, info.value.reason, info.value.message) == (status, "Why", "because")


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        pytest.param(aiohttp.ClientConnectionError("refused"), "ConnectionError", id="connect"),
        pytest.param(aiohttp.ServerTimeoutError("slow"), "Timeout", id="timeout"),
        pytest.param(aiohttp.ServerDisconnectedError("peer closed"), "ConnectionError", id="protocol"),
        pytest.param(TimeoutError(), "Timeout", id="asyncio-timeout"),
        pytest.param(ConnectionResetError("reset"), "ConnectionError", id="oserror"),
    ],
)
async def test_library_errors_become_unavailable_chained(exc: Exception, reason: str) -> None:
    t = FakeTransport()
    t.raise_exc = exc
    with pytest.raises(Unavailable) as info:
        await ApiClient(t).get(CONFIGMAPS, "a", "ns")
    assert info.value.__cause__ is exc
    assert info.value.reason == reason


async def test_a_closed_client_refuses_calls() -> None:
    t = FakeTransport()
    async with ApiClient(t) as c:
        pass
    assert t.closed
    with pytest.raises(RuntimeError, match="closed"):
        await c.get(CONFIGMAPS, "a", "ns")
