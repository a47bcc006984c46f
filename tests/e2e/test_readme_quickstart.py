"""The README's "try the controller and the webhook" quick start, run as written against a fresh test apiserver.

The commands are read from README.md at test time, so the test breaks when the README drifts. Two lines are
substituted, and only those: ``make cluster`` (this test starts the same server with the CRDs applied, on its own
data directory so no other test's objects show) and the ``export KUBECONFIG=...`` placeholder (the path of that
server's kubeconfig). Everything else, including ``export PATH=...`` to the kubectl ``make cluster`` built, runs
in bash from the repository root with ``set -euo pipefail``; the programs it starts with ``&`` are stopped with
SIGTERM at the end.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from testenv_server import DEFAULT_BIN_DIR, TestAPIServer, missing_binaries

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
WEBHOOK_PORT = 9443  # the README registers https://127.0.0.1:9443


def _sh_blocks(markdown: str) -> list[list[str]]:
    return [block.strip().splitlines() for block in re.findall(r"```sh\n(.*?)```", markdown, flags=re.DOTALL)]


def quickstart_commands() -> list[str]:
    """The block after the one that starts ``make cluster``, with the KUBECONFIG placeholder left in."""
    blocks = _sh_blocks((REPO / "README.md").read_text())
    starts = [i for i, block in enumerate(blocks) if block and block[0].startswith("make cluster")]
    assert len(starts) == 1, "README.md: expected one ```sh block starting with `make cluster`"
    assert starts[0] + 1 < len(blocks), "README.md: no ```sh block after `make cluster`"
    commands = blocks[starts[0] + 1]
    assert any(line.startswith("export KUBECONFIG=...") for line in commands), commands
    return commands


def _script(commands: list[str], kubeconfig: Path) -> str:
    lines = ["set -euo pipefail"]
    for line in commands:
        if line.startswith("export KUBECONFIG=..."):
            line = f"export KUBECONFIG={kubeconfig}"
        lines.append(line)
    return "\n".join(lines) + "\n"


@pytest.fixture
def fresh_cluster(tmp_path: Path) -> Iterator[TestAPIServer]:
    """What ``make cluster`` gives: a test apiserver with crds/*.yaml applied, on a data dir of its own."""
    missing = missing_binaries(DEFAULT_BIN_DIR)
    if missing:  # under CI=true tests/conftest.py turns the skip into a failure
        pytest.skip(f"{', '.join(missing)} not built in {DEFAULT_BIN_DIR}: run `make testenv`")
    server = TestAPIServer(data_dir=tmp_path / "cluster", bin_dir=DEFAULT_BIN_DIR)
    server.start()
    try:
        server.apply_crds(REPO / "crds")
        yield server
    finally:
        server.stop()


def _stop_group(pgid: int, timeout: float = 20.0) -> None:
    """SIGTERM every process the script left running (they share its process group), then wait for them."""
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.killpg(pgid, signal.SIGKILL)


def _ingress(server: TestAPIServer) -> dict[str, list[str]]:
    services = json.loads(server.kubectl("get", "services", "-A", "-o", "json").stdout)["items"]
    return {
        f"{s['metadata']['namespace']}/{s['metadata']['name']}": [
            i["ip"] for i in (s.get("status", {}).get("loadBalancer", {}).get("ingress") or [])
        ]
        for s in services
        if s["spec"]["type"] == "LoadBalancer"
    }


OFFICE = {"192.168.1.240", "192.168.1.241", "192.168.1.242", "192.168.1.243"}


def _settled(got: dict[str, list[str]]) -> bool:
    """Every Service seen, and the office pool full (which Services wait depends on the order they are seen)."""
    in_office = {ip for key, ips in got.items() if key != "blue/app" for ip in ips}
    return len(got) == 7 and in_office == OFFICE and bool(got["blue/app"])


def test_the_readme_quick_start_runs_as_written(fresh_cluster: TestAPIServer, tmp_path: Path) -> None:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", WEBHOOK_PORT))
        except OSError:
            pytest.fail(f"port {WEBHOOK_PORT}, which the README's webhook uses, is busy on this machine")
    log = tmp_path / "quickstart.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            ["bash", "-c", _script(quickstart_commands(), fresh_cluster.kubeconfig)],
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # the programs started with & stay in this process group
        )
    try:
        assert proc.wait(120) == 0, log.read_text()
        deadline = time.monotonic() + 60
        got = _ingress(fresh_cluster)
        while not _settled(got):
            assert time.monotonic() < deadline, f"{got}\n{log.read_text()[-3000:]}"
            time.sleep(0.5)
            got = _ingress(fresh_cluster)
        # What the examples describe: api gets the IP it asks for, blue/app lands in its team's pool with both
        # families, web and web-tls share one IP (or wait together), and the rest wait for the full office pool.
        assert got["default/api"] == ["192.168.1.240"]
        assert got["blue/app"] == ["192.168.2.0", "fc00:2::"]
        assert got["default/web"] == got["default/web-tls"] and len(got["default/web"]) <= 1
        assert any(not ips for ips in got.values()), got
        # The webhook the README started denies at kubectl apply: a pool overlapping "office".
        overlap = (
            "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\n"
            "metadata: {name: overlap, namespace: metallb-system}\nspec: {addresses: [192.168.1.240/30]}\n"
        )
        # The webhook was started with & and may still be starting (or reading the cluster) after the controller
        # settled: wait, with server-side dry runs that persist nothing, until it judges; then apply for real.
        deadline = time.monotonic() + 60
        while (
            "overlaps with already defined CIDR"
            not in (
                tried := fresh_cluster.kubectl("apply", "--dry-run=server", "-f", "-", input=overlap, check=False)
            ).stderr
        ):
            assert time.monotonic() < deadline, f"{tried.stdout}{tried.stderr}\n{log.read_text()[-3000:]}"
            time.sleep(0.5)
        denied = fresh_cluster.kubectl("apply", "-f", "-", input=overlap, check=False)
        assert denied.returncode != 0 and "overlaps with already defined CIDR" in denied.stderr, denied.stderr
    finally:
        _stop_group(proc.pid)
        proc.wait(10)
    text = log.read_text()
    assert "Traceback" not in text, text[-3000:]
