"""Start and stop the Go-built test apiserver (kube-apiserver + embedded etcd) from Python.

Standard library only, so `make cluster` runs it with any python3 and the e2e conftest
imports it (tests/e2e/conftest.py puts this directory on sys.path).

    server = TestAPIServer(bin_dir=".testenv/bin", data_dir="/tmp/x")
    server.start()                 # returns once /readyz is ok and namespace "default" exists
    server.kubectl("get", "ns")    # CompletedProcess; raises KubectlError on failure
    server.restart()               # same data dir, same port: the kubeconfig stays valid
    server.stop()                  # SIGTERM, then SIGKILL after a timeout

`bind_address` (default 127.0.0.1) is where the server listens and what its kubeconfig names; it must already
be an address of this host (tests/netlab.py `ensure_apiserver_address()` puts 192.0.2.1 on `lo` for servers
that network namespaces reach).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT_BIN_DIR = REPO / ".testenv" / "bin"
BINARIES = ("test-apiserver", "kubectl")
# The host is an IPv4 address, a name, or a bracketed IPv6 address (https://[2001:db8::1]:6443).
READY_RE = re.compile(
    r"^READY kubeconfig=(?P<kubeconfig>\S+) server=(?P<server>https://(?P<host>\[[0-9a-fA-F:.]+\]|[^\s:/\[\]]+)"
    r":(?P<port>\d+))$"
)
DEFAULT_BIND_ADDRESS = "127.0.0.1"


class TestEnvError(RuntimeError):
    """The test apiserver did not start or stop as expected."""


class KubectlError(subprocess.CalledProcessError):
    """A kubectl call failed; the message carries the command and its stderr."""

    def __str__(self) -> str:
        return f"{' '.join(map(str, self.cmd))!s} exited {self.returncode}: {(self.stderr or '').strip()}"


def missing_binaries(bin_dir: Path | str = DEFAULT_BIN_DIR) -> list[str]:
    """Names of the test binaries that are not built (empty when all are there)."""
    return [name for name in BINARIES if not os.access(Path(bin_dir) / name, os.X_OK)]


class TestAPIServer:
    """One test apiserver process and its data directory."""

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        data_dir: Path | str,
        bin_dir: Path | str = DEFAULT_BIN_DIR,
        port: int = 0,
        extra_args: Sequence[str] = (),
        bind_address: str = DEFAULT_BIND_ADDRESS,
    ) -> None:
        self.bin_dir = Path(bin_dir).resolve()
        self.data_dir = Path(data_dir).resolve()
        self.port = port
        self.bind_address = bind_address
        self.extra_args = list(extra_args)
        self.kubeconfig = self.data_dir / "kubeconfig"
        self.server = ""
        self.log_path = self.data_dir / "test-apiserver.log"
        self.ready_seconds: float | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._stdout_path = self.data_dir / "test-apiserver.out"

    # ---- process lifecycle -------------------------------------------------

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def start(self, timeout: float = 90.0) -> None:
        """Start the server and wait for its READY line."""
        if self.pid is not None:
            raise TestEnvError("test apiserver already running")
        missing = missing_binaries(self.bin_dir)
        if missing:
            raise TestEnvError(f"{', '.join(missing)} missing in {self.bin_dir}: run `make testenv`")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cmd = [
            str(self.bin_dir / "test-apiserver"),
            f"--data-dir={self.data_dir}",
            f"--kubeconfig-out={self.kubeconfig}",
            f"--bind-address={self.bind_address}",
            f"--port={self.port}",
            # We hold the write end of its stdin: if this process dies, however it dies, the pipe
            # closes and the server shuts down instead of lingering. (PR_SET_PDEATHSIG would tie the
            # server's life to the *thread* that started it, e.g. an anyio worker thread.)
            "--exit-on-stdin-eof",
        ]
        if self.extra_args:
            cmd += ["--", *self.extra_args]
        started = time.monotonic()
        with open(self._stdout_path, "wb") as out, open(self.log_path, "ab") as log:
            log.write(f"\n==== {time.strftime('%H:%M:%S')} {' '.join(cmd)}\n".encode())
            log.flush()
            self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=out, stderr=log, start_new_session=True)
        deadline = started + timeout
        while True:
            match = self._ready_line()
            if match:
                break
            if self._proc.poll() is not None:
                raise TestEnvError(
                    f"test apiserver exited with {self._proc.returncode} before ready; "
                    f"log {self.log_path}:\n{self.log_tail()}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise TestEnvError(f"test apiserver not ready after {timeout:.0f}s; log {self.log_path}")
            time.sleep(0.05)
        self.ready_seconds = time.monotonic() - started
        self.kubeconfig = Path(match["kubeconfig"])
        self.server = match["server"]
        self.port = int(match["port"])

    def _ready_line(self) -> re.Match[str] | None:
        try:
            text = self._stdout_path.read_text()
        except FileNotFoundError:
            return None
        for line in text.splitlines():
            m = READY_RE.match(line.strip())
            if m:
                return m
        return None

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM the server and wait; SIGKILL if it does not exit in time. Returns its exit status."""
        proc, self._proc = self._proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdin is not None:
            proc.stdin.close()
        return proc.returncode

    def restart(self, timeout: float = 90.0) -> None:
        """Stop and start again on the same data dir, bind address and port (clients' kubeconfig stays valid)."""
        self.stop()
        self.start(timeout=timeout)

    def rss_kib(self) -> int | None:
        """Resident set size of the server process in KiB (Linux), None if not running."""
        pid = self.pid
        if pid is None:
            return None
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return None

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    # ---- kubectl -----------------------------------------------------------

    def kubectl_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["KUBECONFIG"] = str(self.kubeconfig)
        env["KUBERC"] = "off"  # ignore a developer's ~/.kube/kuberc preferences
        return env

    def kubectl(
        self,
        *args: str,
        check: bool = True,
        input: str | None = None,
        timeout: float = 120.0,
    ) -> subprocess.CompletedProcess[str]:
        """Run the built kubectl against this server; text in, text out."""
        cmd = [
            str(self.bin_dir / "kubectl"),
            f"--kubeconfig={self.kubeconfig}",
            f"--cache-dir={self.data_dir / 'kubectl-cache'}",
            *args,
        ]
        res = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout, env=self.kubectl_env())
        if check and res.returncode != 0:
            raise KubectlError(res.returncode, cmd, res.stdout, res.stderr)
        return res

    # ---- CRDs --------------------------------------------------------------

    def apply_crds(self, crd_dir: Path | str, timeout: float = 60.0) -> list[str]:
        """Apply every crd_dir/*.yaml and wait until the CRDs are Established.

        Returns the applied object names (`customresourcedefinition.apiextensions.k8s.io/x.metallb.io`);
        an empty list when there are no YAML files.
        """
        files = sorted(Path(crd_dir).glob("*.yaml"))
        if not files:
            return []
        args = ["apply", "-o", "name"]
        for f in files:
            args += ["-f", str(f)]
        names = [n for n in self.kubectl(*args).stdout.split() if n.startswith("customresourcedefinition")]
        if names:
            self.kubectl("wait", "--for=condition=Established", f"--timeout={int(timeout)}s", *names)
        return names
