"""Kubeconfig and in-cluster loading, and the aiohttp transport against a local HTTP server: credentials,
a token re-read after a 401, watch lines of any size, errors that say where and what."""

from __future__ import annotations

import base64
import datetime
import json
import re
import stat
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from reconciler.runtime.client import ApiClient, HttpTransport
from reconciler.runtime.clock import FakeClock
from reconciler.runtime.errors import NotFound, Unavailable
from reconciler.runtime.kubeconfig import Credentials, KubeconfigError, in_cluster, load
from reconciler.runtime.resources import CONFIGMAPS
from webhooks.certs import issue_serving, new_ca

pytestmark = pytest.mark.anyio

NOW = datetime.datetime.now(datetime.UTC)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def kubeconfig(
    path: Path,
    *,
    server: str = "https://127.0.0.1:6443",
    user: dict[str, Any] | None = None,
    cluster: dict[str, Any] | None = None,
    current: str = "ctx",
    name: str = "c",
) -> Path:
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": current,
        "clusters": [{"name": name, "cluster": {"server": server, **(cluster or {})}}],
        "users": [{"name": name, "user": user or {}}],
        "contexts": [{"name": f"ctx{'' if name == 'c' else '-' + name}", "context": {"cluster": name, "user": name}}],
    }
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.fixture(scope="module")
def pki() -> dict[str, bytes]:
    ca = new_ca(NOW)
    leaf = issue_serving(ca, ["127.0.0.1"], NOW)
    return {"ca": ca.cert_pem, "crt": leaf.cert_pem, "key": leaf.key_pem}


async def test_token_and_http_server(tmp_path: Path) -> None:
    access = await load(str(kubeconfig(tmp_path / "kc", server="http://127.0.0.1:8080/", user={"token": "t0k"})))
    assert access.server == "http://127.0.0.1:8080"
    assert access.ssl_context is None
    assert await access.credentials.authorization() == "Bearer t0k"


async def test_client_certificate_data_and_ca_data_load_into_the_tls_context(
    tmp_path: Path, pki: dict[str, bytes]
) -> None:
    user = {"client-certificate-data": _b64(pki["crt"]), "client-key-data": _b64(pki["key"])}
    access = await load(
        str(kubeconfig(tmp_path / "kc", user=user, cluster={"certificate-authority-data": _b64(pki["ca"])}))
    )
    assert access.ssl_context is not None
    assert access.ssl_context.verify_mode.name == "CERT_REQUIRED"
    assert [c["subject"] for c in access.ssl_context.get_ca_certs()]  # our CA, from memory
    assert await access.credentials.authorization() is None  # the certificate authenticates


async def test_relative_files_are_relative_to_the_kubeconfig(tmp_path: Path, pki: dict[str, bytes]) -> None:
    (tmp_path / "pki").mkdir()
    for name in ("ca", "crt", "key"):
        (tmp_path / "pki" / name).write_bytes(pki[name])
    (tmp_path / "pki" / "token").write_text("from-file\n")
    user = {"client-certificate": "pki/crt", "client-key": "pki/key", "tokenFile": "pki/token"}
    access = await load(
        str(kubeconfig(tmp_path / "kc", user=user, cluster={"certificate-authority": "pki/ca", "tls-server-name": "x"}))
    )
    assert access.ssl_context is not None
    assert access.tls_server_name == "x"
    assert await access.credentials.authorization() == "Bearer from-file"


async def test_insecure_skip_tls_verify(tmp_path: Path) -> None:
    access = await load(str(kubeconfig(tmp_path / "kc", cluster={"insecure-skip-tls-verify": True})))
    assert access.ssl_context is not None
    assert access.ssl_context.verify_mode.name == "CERT_NONE"
    assert not access.ssl_context.check_hostname


async def test_kubeconfig_env_list_is_merged_first_definition_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = kubeconfig(tmp_path / "a", server="http://first:1", user={"token": "a"}, current="ctx-b", name="a")
    second = kubeconfig(tmp_path / "b", server="http://second:2", user={"token": "b"}, name="b")
    monkeypatch.setenv("KUBECONFIG", f"{first}:{tmp_path / 'missing'}:{second}")
    access = await load()
    assert access.server == "http://second:2"  # current-context from the first file, defined in the second
    assert await access.credentials.authorization() == "Bearer b"


async def test_in_cluster_reads_the_service_account_and_rereads_the_token(
    tmp_path: Path, pki: dict[str, bytes]
) -> None:
    (tmp_path / "ca.crt").write_bytes(pki["ca"])
    (tmp_path / "token").write_text("one")
    clock = FakeClock()
    access = in_cluster({"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "443"}, tmp_path, clock=clock)
    assert access.server == "https://[fd00::1]:443"
    assert await access.credentials.authorization() == "Bearer one"
    (tmp_path / "token").write_text("two")
    clock.advance(59.0)
    assert await access.credentials.authorization() == "Bearer one", "cached for a minute"
    clock.advance(1.0)
    assert await access.credentials.authorization() == "Bearer two"
    (tmp_path / "token").unlink()
    clock.advance(140.0)
    assert await access.credentials.authorization() == "Bearer two", "a vanished token keeps the last good one"


async def test_exec_plugin_token_is_cached_until_invalidated(tmp_path: Path) -> None:
    script = tmp_path / "plugin.py"
    counter = tmp_path / "count"
    script.write_text(
        "import json, os, pathlib\n"
        f"p = pathlib.Path({str(counter)!r}); n = int(p.read_text()) + 1 if p.exists() else 1; p.write_text(str(n))\n"
        "info = json.loads(os.environ['KUBERNETES_EXEC_INFO'])\n"
        "print(json.dumps({'apiVersion': info['apiVersion'], 'kind': 'ExecCredential',"
        " 'status': {'token': os.environ['PREFIX'] + str(n)}}))\n"
    )
    user = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": sys.executable,
            "args": [str(script)],
            "env": [{"name": "PREFIX", "value": "tok-"}],
        }
    }
    creds = (await load(str(kubeconfig(tmp_path / "kc", server="http://h:1", user=user)))).credentials
    assert creds.refreshable
    assert await creds.authorization() == "Bearer tok-1"
    assert await creds.authorization() == "Bearer tok-1"
    creds.invalidate()
    assert await creds.authorization() == "Bearer tok-2"


async def test_an_exec_token_is_used_until_its_expiration_by_the_clocks_wall_time(tmp_path: Path) -> None:
    """``expirationTimestamp`` is wall time: the plugin runs again once the clock's ``now()`` reaches it."""
    script = tmp_path / "plugin.py"
    counter = tmp_path / "count"
    script.write_text(
        "import json, pathlib\n"
        f"p = pathlib.Path({str(counter)!r}); n = int(p.read_text()) + 1 if p.exists() else 1; p.write_text(str(n))\n"
        "print(json.dumps({'apiVersion': 'client.authentication.k8s.io/v1', 'kind': 'ExecCredential',"
        " 'status': {'token': f'tok-{n}', 'expirationTimestamp': '2026-11-27T10:10:00Z'}}))\n"
    )
    clock = FakeClock(wall_start=datetime.datetime(2026, 11, 27, 10, 0, tzinfo=datetime.UTC))
    creds = Credentials(exec_config={"command": sys.executable, "args": [str(script)]}, clock=clock)
    assert await creds.authorization() == "Bearer tok-1"
    clock.advance(599.0)
    assert await creds.authorization() == "Bearer tok-1"
    clock.advance(1.0)
    assert await creds.authorization() == "Bearer tok-2"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        pytest.param({"current": ""}, "no current-context", id="no-current-context"),
        pytest.param({"current": "other"}, "context 'other' not found", id="unknown-context"),
        pytest.param({"server": "127.0.0.1:6443"}, "is not an http(s) URL", id="server-without-scheme"),
        pytest.param({"user": {"auth-provider": {"name": "gcp"}}}, "auth-provider plugins", id="auth-provider"),
        pytest.param({"user": {"client-key-data": "%%%"}}, "client-key-data: not base64", id="bad-base64"),
        pytest.param({"user": {"client-certificate": "nope", "client-key": "nope"}}, "TLS material", id="no-cert-file"),
    ],
)
async def test_a_bad_kubeconfig_says_where_and_what(tmp_path: Path, edit: dict[str, Any], message: str) -> None:
    path = kubeconfig(tmp_path / "kc", **edit)
    with pytest.raises(KubeconfigError, match=f"^{re.escape(str(path))}: .*{re.escape(message)}"):
        await load(str(path))


async def test_connect_translates_a_missing_kubeconfig(tmp_path: Path) -> None:
    with pytest.raises(Unavailable) as info:
        await ApiClient.connect(str(tmp_path / "absent"))
    assert info.value.reason == "InvalidKubeconfig"
    assert isinstance(info.value.__cause__, KubeconfigError)


def test_certificate_data_never_lingers_on_disk(
    tmp_path: Path, pki: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    from reconciler.runtime.kubeconfig import _ssl_context

    modes: list[int] = []
    real = __import__("ssl").SSLContext.load_cert_chain

    def spy(self: Any, certfile: str, keyfile: str) -> None:
        modes.extend(stat.S_IMODE(Path(p).stat().st_mode) for p in (certfile, keyfile))
        real(self, certfile, keyfile)

    monkeypatch.setattr("ssl.SSLContext.load_cert_chain", spy)
    _ssl_context(ca_file=None, ca_data=None, insecure=False, cert_data=(pki["crt"], pki["key"]))
    assert modes == [0o600, 0o600]
    assert list(tmp_path.iterdir()) == []


# ---- the transport against a local server ---------------------------------------------------------------


@pytest.fixture
async def server(anyio_backend: str) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    state: dict[str, Any] = {"token": "new", "seen": [], "big": 300_000}

    async def get_cm(request: web.Request) -> web.Response:
        state["seen"].append(request.headers.get("Authorization"))
        if request.headers.get("Authorization") != f"Bearer {state['token']}":
            return web.json_response({"kind": "Status", "reason": "Unauthorized", "message": "no"}, status=401)
        if request.match_info["name"] == "missing":
            return web.json_response({"kind": "Status", "reason": "NotFound", "message": "gone"}, status=404)
        return web.json_response({"metadata": {"name": request.match_info["name"]}})

    async def watch(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        await resp.prepare(request)
        big = json.dumps({"type": "ADDED", "object": {"metadata": {"name": "big"}, "data": {"k": "x" * state["big"]}}})
        small = json.dumps({"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "7"}}})
        payload = (big + "\n" + small + "\n" + small).encode()  # the last line without its newline
        for i in range(0, len(payload), 4093):
            await resp.write(payload[i : i + 4093])
        await resp.write_eof()
        return resp

    app = web.Application()
    app.router.add_get("/api/v1/namespaces/ns/configmaps/{name}", get_cm)
    app.router.add_get("/api/v1/namespaces/ns/configmaps", watch)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}", state
    finally:
        await runner.cleanup()


async def test_a_401_rereads_the_token_file_once_and_repeats(
    tmp_path: Path, server: tuple[str, dict[str, Any]]
) -> None:
    url, state = server
    state["token"] = "old"
    (tmp_path / "token").write_text("old")
    async with await ApiClient.connect(str(kubeconfig(tmp_path / "kc", server=url, user={"tokenFile": "token"}))) as c:
        assert await c.get(CONFIGMAPS, "a", "ns") == {"metadata": {"name": "a"}}
        state["token"] = "new"  # rotated: the server no longer takes the cached token
        (tmp_path / "token").write_text("new")
        assert await c.get(CONFIGMAPS, "b", "ns") == {"metadata": {"name": "b"}}
        with pytest.raises(NotFound):
            await c.get(CONFIGMAPS, "missing", "ns")
    assert state["seen"] == ["Bearer old", "Bearer old", "Bearer new", "Bearer new"]


async def test_watch_lines_of_any_size_across_chunks(tmp_path: Path, server: tuple[str, dict[str, Any]]) -> None:
    url, _ = server
    async with await ApiClient.connect(str(kubeconfig(tmp_path / "kc", server=url, user={"token": "new"}))) as c:
        events = [e async for e in c.watch(CONFIGMAPS, "ns", resource_version="1", timeout_seconds=5)]
    assert [e.type for e in events] == ["ADDED", "BOOKMARK", "BOOKMARK"]
    assert len(events[0].object["data"]["k"]) == 300_000


async def test_a_refused_connection_is_unavailable(tmp_path: Path) -> None:
    transport = HttpTransport(await load(str(kubeconfig(tmp_path / "kc", server="http://127.0.0.1:9", user={}))))
    async with ApiClient(transport) as c:
        with pytest.raises(Unavailable) as info:
            await c.get(CONFIGMAPS, "a", "ns")
    assert info.value.reason == "ConnectionError"
    assert info.value.__cause__ is not None


def test_credentials_without_anything_send_no_header() -> None:
    assert not Credentials().refreshable


async def test_a_watch_over_tls_arrives_whole_through_the_small_tls_read_buffer(
    tmp_path: Path, pki: dict[str, bytes]
) -> None:
    import ssl
    from asyncio import sslproto

    from reconciler.runtime.client import TLS_READ_BUFFER

    line = json.dumps({"type": "ADDED", "object": {"metadata": {"name": "big"}, "data": {"k": "y" * 1_000_000}}})

    async def watch(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        await resp.prepare(request)
        await resp.write(line.encode() + b"\n")
        await resp.write_eof()
        return resp

    (tmp_path / "crt").write_bytes(pki["crt"])
    (tmp_path / "key").write_bytes(pki["key"])
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "crt", tmp_path / "key")
    app = web.Application()
    app.router.add_get("/api/v1/namespaces/ns/configmaps", watch)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    port = runner.addresses[0][1]
    path = kubeconfig(
        tmp_path / "kc",
        server=f"https://127.0.0.1:{port}",
        user={"token": "t"},
        cluster={"certificate-authority-data": _b64(pki["ca"])},
    )
    try:
        async with await ApiClient.connect(str(path)) as c:
            events = [e async for e in c.watch(CONFIGMAPS, "ns", resource_version="1", timeout_seconds=5)]
    finally:
        await runner.cleanup()
    assert sslproto.SSLProtocol.max_size == TLS_READ_BUFFER  # 32 KiB instead of asyncio's 256 KiB per connection
    assert [e.type for e in events] == ["ADDED"]
    assert events[0].object["data"]["k"] == "y" * 1_000_000
