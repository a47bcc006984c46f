"""Fixtures for end-to-end tests against a real kube-apiserver (see docs/testing.md).

- `apiserver` (session): the Go-built test apiserver (kube-apiserver + embedded etcd), started once,
  with crds/*.yaml applied and Established; stopped at the end of the session, also when tests fail.
  `.kubeconfig`, `.kubectl(*args, check=True, input=None)`, `.restart()`, `.server`, `.port`.
- `namespace`: a fresh namespace per test, deleted afterwards.
- `netns_apiserver` (session, started by the first test that asks for it): a second test apiserver, with its own
  data dir and crds/*.yaml applied, bound to `netlab.APISERVER_V4` (203.0.113.254 on the root namespace's `lo`)
  so that lab hosts given `lab.uplink(host)` reach it at `.server` with `.kubeconfig`.
- `lab`: a `netlab.Lab` of network namespaces for the test, closed afterwards (as in tests/component/).

Without the binaries (`make testenv` not run), root or `ip`, these tests are skipped, or fail when CI=true.
"""

from __future__ import annotations

import re
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "testenv"))

from netlab import APISERVER_V4, Lab, ensure_apiserver_address, missing_requirements  # noqa: E402
from testenv_server import DEFAULT_BIN_DIR, TestAPIServer, missing_binaries  # noqa: E402

CRD_DIR = REPO / "crds"


@pytest.fixture(scope="session")
def apiserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestAPIServer]:
    missing = missing_binaries(DEFAULT_BIN_DIR)
    if missing:
        pytest.skip(f"{', '.join(missing)} not built in {DEFAULT_BIN_DIR}: run `make testenv`")
    server = TestAPIServer(data_dir=tmp_path_factory.mktemp("apiserver"), bin_dir=DEFAULT_BIN_DIR)
    server.start()
    try:
        server.apply_crds(CRD_DIR)
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def netns_apiserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestAPIServer]:
    """A test apiserver that network namespaces reach: bound to APISERVER_V4, which `Lab.uplink` routes to."""
    why = missing_requirements()
    if why:
        pytest.skip(why)
    missing = missing_binaries(DEFAULT_BIN_DIR)
    if missing:
        pytest.skip(f"{', '.join(missing)} not built in {DEFAULT_BIN_DIR}: run `make testenv`")
    ensure_apiserver_address()
    server = TestAPIServer(
        data_dir=tmp_path_factory.mktemp("netns-apiserver"), bin_dir=DEFAULT_BIN_DIR, bind_address=APISERVER_V4
    )
    server.start()
    try:
        server.apply_crds(CRD_DIR)
        yield server
    finally:
        server.stop()


@pytest.fixture
def lab(request: pytest.FixtureRequest) -> Iterator[Lab]:
    """Network namespaces for this test (tests/netlab.py); every process and namespace is gone afterwards."""
    why = missing_requirements()
    if why:
        pytest.skip(why)
    with Lab(request.node.name[:6].replace("_", "")) as lab:
        yield lab


def _namespace_name(nodeid: str) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", nodeid.rsplit("::", 1)[-1].lower()).strip("-")
    return f"{base[:45].rstrip('-') or 'e2e'}-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def namespace(apiserver: TestAPIServer, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace named after the test; deleted (without waiting) afterwards."""
    name = _namespace_name(request.node.nodeid)
    apiserver.kubectl("create", "namespace", name)
    try:
        yield name
    finally:
        apiserver.kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
