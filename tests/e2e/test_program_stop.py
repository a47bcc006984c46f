"""Every program stops cleanly on SIGTERM and on SIGINT: exit 0, no traceback, the graceful hooks ran, and a
leader gives its Lease back (so a standby takes over at once instead of waiting out the lease)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from testenv_server import TestAPIServer

pytestmark = pytest.mark.e2e

PYMETALLB = str(Path(sys.executable).with_name("pymetallb"))


def _wait_for(predicate: object, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _events(log: Path) -> list[str]:
    out = []
    for line in log.read_text().splitlines():
        try:
            out.append(json.loads(line).get("event", ""))
        except json.JSONDecodeError:
            out.append(line)
    return out


def _lease_holder(api: TestAPIServer, ns: str) -> str | None:
    got = api.kubectl("get", "lease", "pymetallb-controller", "-n", ns, "-o", "json", check=False)
    if got.returncode != 0:
        return None
    return json.loads(got.stdout)["spec"].get("holderIdentity") or None


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "sigint"])
@pytest.mark.parametrize("program", ["controller", "webhook"])
def test_a_stop_signal_exits_0_without_a_traceback_after_the_graceful_hooks(
    apiserver: TestAPIServer, namespace: str, tmp_path: Path, program: str, sig: signal.Signals
) -> None:
    log = tmp_path / f"{program}.log"
    args = [PYMETALLB, program, "--kubeconfig", str(apiserver.kubeconfig), "--namespace", namespace, "--port", "0"]
    if program == "controller":
        args += ["--leader-elect", "true", "--identity", "stopper", "--lb-class", f"stop.test/{namespace}"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        if program == "controller":
            _wait_for(lambda: _lease_holder(apiserver, namespace) == "stopper", "the controller to lead")
            _wait_for(lambda: "configLoaded" in _events(log) or "configStale" in _events(log), "the first pass")
        else:
            _wait_for(lambda: "started" in _events(log), "the webhook to serve")
        proc.send_signal(sig)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    text = log.read_text()
    assert "Traceback" not in text, text
    events = _events(log)
    assert events.index("stopping") < events.index("stopped"), events
    assert "taskStuck" not in events and "stopSlow" not in events, events
    if program == "controller":
        assert _lease_holder(apiserver, namespace) is None, "the Lease must be released on a clean stop"
