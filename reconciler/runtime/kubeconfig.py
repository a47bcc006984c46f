"""Where the apiserver is and how to authenticate to it: kubeconfig files and the in-cluster service account.

``load(path)`` returns a ``ClusterAccess``: the server URL, an ``ssl.SSLContext`` (or None for ``http://``) and
the ``Credentials`` that give each request its ``Authorization`` header. The search order is kubectl's:
the explicit path, else ``$KUBECONFIG`` (a ``:``-separated list, merged: the first file to define a name or the
current context wins), else ``~/.kube/config``, else the in-cluster service account.

Supported, per kubeconfig entry:

* cluster: ``server``, ``certificate-authority`` / ``certificate-authority-data``, ``insecure-skip-tls-verify``,
  ``tls-server-name``;
* user: ``client-certificate(-data)`` + ``client-key(-data)``, ``token``, ``tokenFile``, ``username``/``password``,
  ``exec`` (a client.authentication.k8s.io credential plugin; its token is cached until ``expirationTimestamp``
  and fetched again after a 401; client certificates it returns are loaded once, at ``load``);
* relative file paths are relative to the kubeconfig that names them (kubectl's rule).

In a cluster: ``https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT``, the service account's ``ca.crt``, and
its ``token`` re-read every minute (client-go's period), as the kubelet rotates projected tokens.

Not supported (raises ``KubeconfigError``): the legacy ``auth-provider`` plugins (gcp, azure, oidc; removed from
client-go). ``proxy-url`` is ignored.

Why our own and not kr8s: kr8s costs ~14 MB of RSS at import (rich, pygments, click, jsonpath, httpx-ws, ...)
in a controller whose whole budget is 100 MB, and of it we used only this loading plus an HTTP session; its own
watch also re-watches from the same expired resourceVersion on 410 and spins. Ours is the part we need.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import json
import os
import ssl
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from reconciler.runtime.clock import Clock, RealClock

__all__ = ["SERVICE_ACCOUNT_DIR", "ClusterAccess", "Credentials", "KubeconfigError", "in_cluster", "load"]

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
TOKEN_REREAD_SECONDS = 60.0
"""client-go's ``cachingTokenSource`` period: a rotated projected token is picked up within a minute."""
EXEC_TIMEOUT_SECONDS = 60.0


class KubeconfigError(Exception):
    """No usable configuration; ``str()`` says where and what (``path: what is wrong``)."""


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


class Credentials:
    """The ``Authorization`` header for each request: a bearer token (static, from a file, or from an exec
    plugin), HTTP basic, or nothing (client certificates authenticate at the TLS layer).

    ``invalidate()`` after a 401 makes the next ``authorization()`` read the token file or run the plugin again.
    """

    def __init__(
        self,
        *,
        token: str | None = None,
        token_file: Path | None = None,
        basic: tuple[str, str] | None = None,
        exec_config: Mapping[str, Any] | None = None,
        base_dir: Path | None = None,
        reread_seconds: float = TOKEN_REREAD_SECONDS,
        clock: Clock | None = None,
    ) -> None:
        self._token = token
        self._token_file = token_file
        self._basic = basic
        self._exec = dict(exec_config) if exec_config else None
        self._base_dir = base_dir
        self._reread = reread_seconds
        self._clock: Clock = clock or RealClock()  # monotonic: token file re-reads; wall: exec token expiry
        self._read_at: float | None = None
        self._expires: datetime.datetime | None = None
        self._lock = asyncio.Lock()

    @property
    def refreshable(self) -> bool:
        """Whether ``invalidate()`` can yield a different token (a file or a plugin): a 401 is worth one retry."""
        return self._token_file is not None or self._exec is not None

    def invalidate(self) -> None:
        self._read_at = None
        self._expires = None

    async def authorization(self) -> str | None:
        if self._basic is not None:
            user, password = self._basic
            return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        if self._token_file is not None and (
            self._read_at is None or self._clock.monotonic() - self._read_at >= self._reread
        ):
            try:
                self._token = self._token_file.read_text().strip()
            except OSError:
                if self._token is None:
                    raise  # never had one: the caller reports it
                # keep the last good token; a rotation in progress is retried on the next call
            self._read_at = self._clock.monotonic()
        elif self._exec is not None and self._exec_stale():
            async with self._lock:
                if self._exec_stale():
                    self.accept_exec_status(await run_exec_plugin(self._exec, self._base_dir))
        return f"Bearer {self._token}" if self._token else None

    def accept_exec_status(self, status: Mapping[str, Any]) -> None:
        """Take the token of an ``ExecCredential.status`` (cached until its ``expirationTimestamp``)."""
        self._token = str(status.get("token") or "") or None
        self._expires = _parse_time(status.get("expirationTimestamp"))
        self._read_at = self._clock.monotonic()

    def _exec_stale(self) -> bool:
        if self._read_at is None:
            return True
        return self._expires is not None and self._clock.now() >= self._expires


@dataclass(frozen=True)
class ClusterAccess:
    """Everything a transport needs to reach one apiserver."""

    server: str
    """``https://host:port`` (maybe with a path prefix), no trailing slash."""
    ssl_context: ssl.SSLContext | None
    """None for an ``http://`` server."""
    credentials: Credentials = field(default_factory=Credentials)
    tls_server_name: str | None = None
    """The name to verify the server's certificate against, when it differs from the URL's host."""


def _parse_time(value: Any) -> datetime.datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    # RFC 3339 always carries an offset; a bare time from a sloppy plugin is read as UTC, not compared naively.
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=datetime.UTC)


async def run_exec_plugin(config: Mapping[str, Any], base_dir: Path | None) -> dict[str, Any]:
    """Run a client.authentication.k8s.io credential plugin; return its ``ExecCredential.status``."""
    command = str(config.get("command") or "")
    if not command:
        raise KubeconfigError("user.exec: no command")
    if base_dir is not None and (os.sep in command) and not os.path.isabs(command):
        command = str(base_dir / command)
    args = [str(a) for a in config.get("args") or ()]
    env = dict(os.environ)
    for item in config.get("env") or ():
        if isinstance(item, dict) and "name" in item:
            env[str(item["name"])] = str(item.get("value") or "")
    api_version = str(config.get("apiVersion") or "client.authentication.k8s.io/v1")
    env["KUBERNETES_EXEC_INFO"] = json.dumps(
        {"apiVersion": api_version, "kind": "ExecCredential", "spec": {"interactive": False}}
    )
    try:
        proc = await asyncio.create_subprocess_exec(
            command, *args, env=env, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE
        )
        out, _ = await asyncio.wait_for(proc.communicate(), EXEC_TIMEOUT_SECONDS)
    except (OSError, TimeoutError) as exc:
        raise KubeconfigError(f"user.exec {command}: {exc}") from exc
    if proc.returncode != 0:
        raise KubeconfigError(f"user.exec {command}: exit status {proc.returncode}")
    try:
        status = _as_dict(json.loads(out)).get("status")
    except ValueError as exc:
        raise KubeconfigError(f"user.exec {command}: output is not an ExecCredential: {exc}") from exc
    if not isinstance(status, dict):
        raise KubeconfigError(f"user.exec {command}: ExecCredential without a status")
    return status


def _ssl_context(
    *,
    ca_file: Path | None,
    ca_data: str | None,
    insecure: bool,
    cert: tuple[Path, Path] | None = None,
    cert_data: tuple[bytes, bytes] | None = None,
) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(ca_file) if ca_file else None, cadata=ca_data)
    if insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if cert is not None:
        ctx.load_cert_chain(str(cert[0]), str(cert[1]))
    elif cert_data is not None:
        # ssl loads a client certificate only from files: a private directory (0700) that lives for the call.
        with tempfile.TemporaryDirectory(prefix="pymetallb-") as tmp:
            crt, key = Path(tmp) / "tls.crt", Path(tmp) / "tls.key"
            for path, data in ((crt, cert_data[0]), (key, cert_data[1])):
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
            ctx.load_cert_chain(str(crt), str(key))
    return ctx


def _data(entry: Mapping[str, Any], key: str, where: str) -> bytes | None:
    value = entry.get(key)
    if not value:
        return None
    try:
        return base64.b64decode(str(value), validate=True)
    except ValueError as exc:
        raise KubeconfigError(f"{where}.{key}: not base64: {exc}") from exc


def _path(entry: Mapping[str, Any], key: str, base: Path) -> Path | None:
    value = entry.get(key)
    if not value:
        return None
    path = Path(os.path.expanduser(str(value)))
    return path if path.is_absolute() else base / path


def _named(doc: Mapping[str, Any], section: str, inner: str) -> dict[str, tuple[dict[str, Any], Path]]:
    out: dict[str, tuple[dict[str, Any], Path]] = {}
    for item in doc.get(section) or ():
        if isinstance(item, dict) and item.get("name") is not None:
            out[str(item["name"])] = (_as_dict(item.get(inner)), Path(doc["__dir__"]))
    return out


def _read(paths: Sequence[Path]) -> dict[str, Any]:
    """Merge kubeconfig files as kubectl does: the first to define a name, or the current context, wins."""
    merged: dict[str, Any] = {"current-context": "", "clusters": {}, "users": {}, "contexts": {}}
    found = False
    for path in paths:
        try:
            text = path.read_text()
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise KubeconfigError(f"{path}: {exc.strerror or exc}") from exc
        found = True
        try:
            doc = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise KubeconfigError(f"{path}: not YAML: {exc}") from exc
        if not isinstance(doc, dict):
            raise KubeconfigError(f"{path}: not a kubeconfig (expected a mapping)")
        doc["__dir__"] = str(path.resolve().parent)
        merged["current-context"] = merged["current-context"] or str(doc.get("current-context") or "")
        for section, inner in (("clusters", "cluster"), ("users", "user"), ("contexts", "context")):
            for name, value in _named(doc, section, inner).items():
                merged[section].setdefault(name, value)
    if not found:
        raise KubeconfigError(f"{':'.join(map(str, paths))}: no such file")
    return merged


async def _from_kubeconfig(paths: Sequence[Path]) -> ClusterAccess:
    cfg = _read(paths)
    where = str(paths[0]) if len(paths) == 1 else ":".join(map(str, paths))
    ctx_name = cfg["current-context"]
    if not ctx_name:
        raise KubeconfigError(f"{where}: no current-context")
    if ctx_name not in cfg["contexts"]:
        raise KubeconfigError(f"{where}: context {ctx_name!r} not found")
    context, _ = cfg["contexts"][ctx_name]
    cluster_name, user_name = str(context.get("cluster") or ""), str(context.get("user") or "")
    if cluster_name not in cfg["clusters"]:
        raise KubeconfigError(f"{where}: cluster {cluster_name!r} of context {ctx_name!r} not found")
    cluster, cluster_dir = cfg["clusters"][cluster_name]
    user, user_dir = cfg["users"].get(user_name, ({}, cluster_dir))
    server = str(cluster.get("server") or "").rstrip("/")
    if not server.startswith(("https://", "http://")):
        raise KubeconfigError(f"{where}: cluster {cluster_name!r}: server {server!r} is not an http(s) URL")
    if user.get("auth-provider"):
        raise KubeconfigError(f"{where}: user {user_name!r}: auth-provider plugins are not supported; use exec")

    uwhere = f"{where}: user {user_name!r}"
    credentials = Credentials(
        token=str(user["token"]) if user.get("token") else None,
        token_file=_path(user, "tokenFile", user_dir),
        basic=(str(user["username"]), str(user.get("password") or "")) if user.get("username") else None,
        exec_config=_as_dict(user.get("exec")) or None,
        base_dir=user_dir,
    )
    cert_data: tuple[bytes, bytes] | None = None
    crt_data, key_data = _data(user, "client-certificate-data", uwhere), _data(user, "client-key-data", uwhere)
    if crt_data and key_data:
        cert_data = (crt_data, key_data)
    crt_file, key_file = _path(user, "client-certificate", user_dir), _path(user, "client-key", user_dir)
    try:
        if crt_file is not None and key_data is not None:
            cert_data = (crt_file.read_bytes(), key_data)
        elif crt_data is not None and key_file is not None:
            cert_data = (crt_data, key_file.read_bytes())
    except OSError as exc:
        raise KubeconfigError(f"{uwhere}: {exc}") from exc
    cert = (crt_file, key_file) if crt_file is not None and key_file is not None else None
    if cert is None and cert_data is None and user.get("exec"):
        status = await run_exec_plugin(user["exec"], user_dir)
        credentials.accept_exec_status(status)
        if status.get("clientCertificateData") and status.get("clientKeyData"):
            cert_data = (str(status["clientCertificateData"]).encode(), str(status["clientKeyData"]).encode())

    ssl_context = None
    if server.startswith("https://"):
        ca = _data(cluster, "certificate-authority-data", f"{where}: cluster {cluster_name!r}")
        try:
            ssl_context = _ssl_context(
                ca_file=_path(cluster, "certificate-authority", cluster_dir),
                ca_data=ca.decode() if ca else None,
                insecure=bool(cluster.get("insecure-skip-tls-verify")),
                cert=cert,
                cert_data=cert_data,
            )
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            raise KubeconfigError(f"{where}: context {ctx_name!r}: TLS material: {exc}") from exc
    tls_name = str(cluster.get("tls-server-name") or "") or None
    return ClusterAccess(server, ssl_context, credentials, tls_name)


def in_cluster(
    env: Mapping[str, str] | None = None,
    sa_dir: Path = SERVICE_ACCOUNT_DIR,
    *,
    clock: Clock | None = None,
) -> ClusterAccess:
    """The pod's service account: ``KUBERNETES_SERVICE_HOST``/``PORT``, ``ca.crt``, ``token`` (re-read)."""
    env = os.environ if env is None else env
    host, port = env.get("KUBERNETES_SERVICE_HOST"), env.get("KUBERNETES_SERVICE_PORT")
    if not host or not port:
        raise KubeconfigError("in-cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set")
    token = sa_dir / "token"
    if not token.exists():
        raise KubeconfigError(f"in-cluster: {token}: no such file")
    if ":" in host:
        host = f"[{host}]"
    try:
        ctx = _ssl_context(ca_file=sa_dir / "ca.crt", ca_data=None, insecure=False)
    except (OSError, ValueError) as exc:
        raise KubeconfigError(f"in-cluster: {sa_dir / 'ca.crt'}: {exc}") from exc
    creds = Credentials(token_file=token, clock=clock)
    return ClusterAccess(f"https://{host}:{port}", ctx, creds)


async def load(kubeconfig: str | None = None) -> ClusterAccess:
    """The explicit path; else ``$KUBECONFIG``; else ``~/.kube/config`` if it exists; else in-cluster."""
    if kubeconfig:
        return await _from_kubeconfig([Path(os.path.expanduser(kubeconfig))])
    listed = [Path(p) for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p]
    if listed:
        return await _from_kubeconfig(listed)
    home = Path(os.path.expanduser("~/.kube/config"))
    if home.exists():
        return await _from_kubeconfig([home])
    return in_cluster()
