"""`make demo`, whole: ``examples/demo.py --non-interactive`` run as a user runs it, and its output read back.

The demo starts its own apiserver, webhook, controller, three speakers, BIRD and a client (see its docstring);
this test asserts what the user is promised to see: both Services get an IP from their pool, the webhook rejects
the overlapping pool, the L2 and the BGP VIP answer curl from the client, a failover is measured after the
announcing speaker is SIGKILLed, and nothing of the demo is left afterwards (namespaces, processes, files), also
after a Ctrl-C while everything runs. Without root the demo runs the offline tools instead; that path is checked
too, in a user namespace with no uid mapped.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from netlab import missing_requirements
from testenv_server import DEFAULT_BIN_DIR, missing_binaries

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "examples" / "demo.py"


def _netns() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.split()}


def _need_live_demo() -> None:
    why = missing_requirements("bird", "birdc", "curl", "nft")
    if why:
        pytest.skip(why)
    missing = missing_binaries(DEFAULT_BIN_DIR)
    if missing:
        pytest.skip(f"{', '.join(missing)} not built in {DEFAULT_BIN_DIR}: run `make testenv`")


def test_the_demo_runs_the_whole_system_and_leaves_nothing_behind() -> None:
    _need_live_demo()
    res = subprocess.run(
        [sys.executable, str(DEMO), "--non-interactive"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = res.stdout
    assert res.returncode == 0, out[-6000:] + res.stderr[-3000:]
    assert re.search(r"demo/web-l2\s+-> 198\.51\.100\.10\d\n", out), out
    assert re.search(r"demo/web-bgp\s+-> 198\.51\.100\.20[0-7]\n", out), out
    assert 'denied the request: CIDR "198.51.100.96/28" in pool "overlapping" overlaps' in out
    assert re.search(r"curl http://198\.51\.100\.10\d/ +\(L2.*-> hello from demo-n[123]\n", out), out
    assert re.search(r"curl http://198\.51\.100\.20[0-7]/ +\(BGP.*-> hello from demo-n[123]\n", out), out
    assert re.search(r"BGP from demo-n1 to router\n.*BGP from demo-n2 to router\n.*BGP from demo-n3 to router", out)
    failover = re.search(r"failover: (demo-n\d) -> (demo-n\d) in (\d+\.\d+) s", out)
    assert failover is not None, out
    assert failover[1] != failover[2]
    assert re.search(r"curl http://198\.51\.100\.10\d/ after the failover -> hello from demo-n\d", out), out
    assert "namespaces left: none; processes left: none" in out
    lab = re.search(r"namespaces (pml-demo-\d+-\d+)-\*", out)
    assert lab is not None, out
    assert not {n for n in _netns() if n.startswith(lab[1])}
    workdir = re.search(r"work dir (/\S+)", out)
    assert workdir is not None, out
    assert not Path(workdir[1]).exists()
    # Every program of the demo (apiserver, webhook, controller, speakers, BIRD, responders) has its files there.
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    assert workdir[1] not in ps, "a process of the demo still runs"


def test_ctrl_c_while_the_speakers_run_cleans_up_everything() -> None:
    _need_live_demo()
    proc = subprocess.Popen(
        [sys.executable, str(DEMO), "--non-interactive"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    seen: list[str] = []
    try:
        for line in proc.stdout:
            seen.append(line)
            if line.startswith("== kubectl apply"):  # everything is running: apiserver, programs, namespaces
                proc.send_signal(signal.SIGINT)
                break
        rest, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    out = "".join(seen) + rest
    assert proc.returncode == 130, out[-4000:]
    assert "interrupted: cleaning up" in out
    assert "namespaces left: none; processes left: none" in out, out[-4000:]
    lab = re.search(r"namespaces (pml-demo-\d+-\d+)-\*", out)
    assert lab is not None, out
    assert not {n for n in _netns() if n.startswith(lab[1])}


def test_without_root_the_demo_says_why_and_runs_the_offline_tools() -> None:
    # A fresh user namespace with no uid mapped: the demo sees uid 65534 and no privilege over the machine's
    # network, while files stay readable (the kernel still checks them as their owner), like a user's checkout.
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("needs unshare (util-linux) to run the demo without root")
    assert unshare is not None
    res = subprocess.run(
        [unshare, "--user", sys.executable, str(DEMO)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "make demo: not running as root; the live demo" in res.stdout
    assert "== pymetallb plan -f examples/cluster" in res.stdout
    assert "pml-demo-" not in res.stdout
