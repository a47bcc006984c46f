"""The HTTPS server in-process: TLS floor and ALPN, routes, 400s, readiness, and certificate reload without restart."""

from __future__ import annotations

import asyncio
import datetime
import json
import ssl
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from prometheus_client import CollectorRegistry
from wh_helpers import pool, review, state_with

from webhooks.certs import issue_serving, new_ca
from webhooks.rotation import FileCerts
from webhooks.server import webhook_server
from webhooks.tls import CertFiles, ServingContext

NOW = datetime.datetime.now(datetime.UTC)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def _request(port: int, ca_pem: bytes, method: str, path: str, body: bytes = b"") -> tuple[int, bytes, int]:
    """One HTTP/1.1 request over TLS verified against ``ca_pem``; returns status, body, served serial."""
    ctx = ssl.create_default_context(cadata=ca_pem.decode())
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname="127.0.0.1")
    tls = writer.get_extra_info("ssl_object")
    assert tls.selected_alpn_protocol() == "http/1.1"
    serial = x509.load_der_x509_certificate(tls.getpeercert(binary_form=True)).serial_number
    head = f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    writer.write(head.encode() + body)
    await writer.drain()
    raw = await reader.read()
    writer.close()
    status = int(raw.split(b" ", 2)[1])
    return status, raw.split(b"\r\n\r\n", 1)[1], serial


@pytest.mark.anyio
async def test_reviews_health_and_rotation_over_tls(tmp_path: Path) -> None:
    ca = new_ca(NOW)
    first = issue_serving(ca, ["127.0.0.1"], NOW)
    (tmp_path / "tls.crt").write_bytes(first.cert_pem)
    (tmp_path / "tls.key").write_bytes(first.key_pem)
    serving = ServingContext()
    files = FileCerts(CertFiles(tmp_path), serving)
    assert files.step() and files.ready
    ready = {"v": False}
    registry = CollectorRegistry()
    server = webhook_server(
        state_with(), serving.context, is_ready=lambda: ready["v"], host="127.0.0.1", port=0, registry=registry
    )
    async with server:
        port = server.port
        assert (await _request(port, ca.cert_pem, "GET", "/healthz"))[:2] == (200, b"ok\n")
        assert (await _request(port, ca.cert_pem, "GET", "/readyz"))[0] == 503
        ready["v"] = True
        assert (await _request(port, ca.cert_pem, "GET", "/readyz"))[0] == 200

        body = json.dumps(review("CREATE", pool("p", "10.0.0.0/24", ns="x"), uid="u1")).encode()
        status, out, serial = await _request(
            port, ca.cert_pem, "POST", "/validate-metallb-io-v1beta1-ipaddresspool", body
        )
        answer: dict[str, Any] = json.loads(out)
        assert status == 200 and serial == first.serial
        assert answer["response"]["status"]["message"] == "resource must be created in metallb-system namespace"
        status, out, _ = await _request(port, ca.cert_pem, "POST", "/convert", b"not json")
        assert (status, json.loads(out)) == (400, {"error": "body is not JSON: JSONDecodeError"})
        assert (await _request(port, ca.cert_pem, "POST", "/nope", b"{}"))[0] == 404
        counted = {
            (s.labels["path"], s.labels["result"]): s.value
            for m in registry.collect()
            for s in m.samples
            if s.name == "pymetallb_webhook_reviews_total"
        }
        assert counted == {
            ("/validate-metallb-io-v1beta1-ipaddresspool", "denied"): 1.0,
            ("/convert", "badRequest"): 1.0,
        }

        # A mismatched pair is refused and the old certificate keeps serving.
        second = issue_serving(ca, ["127.0.0.1"], NOW)
        (tmp_path / "tls.crt").write_bytes(second.cert_pem)
        assert not files.step()
        assert (await _request(port, ca.cert_pem, "GET", "/healthz"))[2] == first.serial
        # The matching key arrives: new handshakes get the new certificate, no restart.
        (tmp_path / "tls.key").write_bytes(second.key_pem)
        assert files.step()
        assert (await _request(port, ca.cert_pem, "GET", "/healthz"))[2] == second.serial
    serving.close()


@pytest.mark.anyio
async def test_the_tls_floor_is_1_2_and_1_2_clients_connect() -> None:
    ca = new_ca(NOW)
    pair = issue_serving(ca, ["127.0.0.1"], NOW)
    serving = ServingContext()
    serving.load_pem(pair.cert_pem, pair.key_pem)
    assert serving.context.minimum_version == ssl.TLSVersion.TLSv1_2
    async with webhook_server(state_with(), serving.context, is_ready=lambda: True, host="127.0.0.1", port=0) as server:
        ctx = ssl.create_default_context(cadata=ca.cert_pem.decode())
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        _, writer = await asyncio.open_connection("127.0.0.1", server.port, ssl=ctx, server_hostname="127.0.0.1")
        assert writer.get_extra_info("ssl_object").version() == "TLSv1.2"
        writer.close()
    serving.close()
