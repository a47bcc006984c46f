"""The server's TLS: one ``SSLContext`` whose certificate is swapped in place, from memory or from files.

Python's ``ssl`` loads certificates only from files, so PEM from memory goes through a private temporary directory
(mode 0700) and is loaded from there. ``load_cert_chain`` on the live context changes what **new** handshakes
present; open connections keep their certificate. A pair is first loaded into a scratch context, so a bad pair
(unreadable, key not matching) is refused without touching the live one: a broken file never breaks serving.

TLS 1.2 is the floor (the apiserver speaks 1.3; 1.2 keeps older proxies and probes working), and only HTTP/1.1 is
offered over ALPN (as MetalLB disables HTTP/2 by default, after CVE-2023-44487, rapid reset).
"""

from __future__ import annotations

import hashlib
import os
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CertFiles", "ServingContext"]


def _new_context() -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


class ServingContext:
    """The live ``SSLContext`` and what it currently serves (``fingerprint`` of the certificate PEM, or None)."""

    def __init__(self) -> None:
        self.context = _new_context()
        self.fingerprint: str | None = None
        self.loads = 0
        self._dir = Path(tempfile.mkdtemp(prefix="pymetallb-webhook-tls-"))
        os.chmod(self._dir, 0o700)

    @property
    def loaded(self) -> bool:
        return self.fingerprint is not None

    def load_pem(self, cert_pem: bytes, key_pem: bytes) -> bool:
        """Serve this pair from now on; False (and nothing changed) when it is the pair already served.

        Raises ``ssl.SSLError``/``ValueError`` for a pair that cannot be served; the live context is untouched then.
        """
        fingerprint = hashlib.sha256(cert_pem).hexdigest()
        if fingerprint == self.fingerprint:
            return False
        cert_path, key_path = self._dir / "tls.crt", self._dir / "tls.key"
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key_pem)
        cert_path.write_bytes(cert_pem)
        try:
            _new_context().load_cert_chain(cert_path, key_path)  # refuse a bad pair before touching the live one
            self.context.load_cert_chain(cert_path, key_path)
        finally:
            key_path.unlink(missing_ok=True)
            cert_path.unlink(missing_ok=True)
        self.fingerprint = fingerprint
        self.loads += 1
        return True

    def close(self) -> None:
        for p in self._dir.glob("*"):
            p.unlink(missing_ok=True)
        self._dir.rmdir()


@dataclass
class CertFiles:
    """``tls.crt``/``tls.key`` in a directory (a mounted Secret, e.g. from cert-manager), re-read when they change.

    Kubelet updates a mounted Secret by swapping a symlink, so both files change at once; they are read together
    and a half-written or mismatched pair is retried at the next poll.
    """

    directory: Path
    cert_name: str = "tls.crt"
    key_name: str = "tls.key"
    _seen: tuple[tuple[int, int, int], ...] | None = None
    _pending: tuple[tuple[int, int, int], ...] | None = None

    def _stamp(self) -> tuple[tuple[int, int, int], ...]:
        out = []
        for name in (self.cert_name, self.key_name):
            st = os.stat(self.directory / name)
            out.append((st.st_ino, st.st_size, st.st_mtime_ns))
        return tuple(out)

    def changed(self) -> bool:
        """Whether the files differ from the last successful read (True on the first call)."""
        try:
            return self._stamp() != self._seen
        except OSError:
            return False

    def read(self) -> tuple[bytes, bytes]:
        """Both files; raises OSError when either is missing."""
        stamp = self._stamp()
        cert = (self.directory / self.cert_name).read_bytes()
        key = (self.directory / self.key_name).read_bytes()
        self._pending = stamp
        return cert, key

    def mark_loaded(self) -> None:
        self._seen = self._pending
