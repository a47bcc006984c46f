"""The membership seal's primitives: AES-256-GCM (NIST SP 800-38D) and HKDF-SHA256 (RFC 5869), without importing
``cryptography`` (8 MiB of the speaker's resident memory for two functions; bench/bench_speaker.py).

AES-GCM is called through ctypes in the OpenSSL ``libcrypto`` that Python's own ``ssl`` module has already loaded
into the process (its EVP interface, stable since OpenSSL 1.1), so no library is added: the process maps the same
file either way. HKDF is two HMACs from the stdlib. An interpreter whose OpenSSL is linked statically (no
``libcrypto`` shared object to find) gets ``cryptography``'s ``AESGCM`` instead, with the same results.

Promises: ``AesGcm(key).encrypt(nonce, data, aad)`` returns ``ciphertext || 16-byte tag``, byte for byte what
``cryptography``'s ``AESGCM`` returns (tests/unit/membership/test_ml_aead.py checks both against each other and
against NIST test vectors); ``decrypt`` returns the plaintext only when the tag verifies and otherwise raises
``InvalidTag``, never returning unauthenticated bytes.
"""

from __future__ import annotations

import ctypes
import hashlib
import hmac
import os
import ssl
from typing import Protocol

__all__ = ["TAG", "AesGcm", "InvalidTag", "backend", "hkdf_sha256"]

TAG = 16
KEY = 32
NONCE = 12

# EVP_CIPHER_CTX_ctrl commands (openssl/evp.h: EVP_CTRL_AEAD_SET_IVLEN, EVP_CTRL_AEAD_GET_TAG, EVP_CTRL_AEAD_SET_TAG).
_CTRL_SET_IVLEN = 0x9
_CTRL_GET_TAG = 0x10
_CTRL_SET_TAG = 0x11


class InvalidTag(Exception):
    """The ciphertext, its tag or the associated data were not produced under this key (or were altered)."""


class _Cipher(Protocol):
    def encrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes: ...

    def decrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes: ...


def hkdf_sha256(ikm: bytes, *, salt: bytes, info: bytes, length: int) -> bytes:
    """HKDF-SHA256 (RFC 5869 section 2): extract with ``salt``, expand with ``info`` to ``length`` bytes."""
    if not 0 < length <= 255 * 32:
        raise ValueError("HKDF-SHA256 output length must be 1..8160 bytes")
    prk = hmac.digest(salt or bytes(32), ikm, hashlib.sha256)
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.digest(prk, block + info + bytes((counter,)), hashlib.sha256)
        out += block
        counter += 1
    return out[:length]


def _find_libcrypto() -> ctypes.CDLL | None:
    """The libcrypto the ssl module linked (named in /proc/self/maps: dlopen of a loaded path returns it)."""
    if ssl.OPENSSL_VERSION_INFO < (1, 1):  # importing ssl loaded libcrypto; its EVP AEAD controls need 1.1
        return None
    candidates: list[str] = []
    try:
        with open(f"/proc/{os.getpid()}/maps", encoding="utf-8", errors="replace") as maps:
            for line in maps:
                path = line.rstrip("\n").split(maxsplit=5)[-1]
                if os.path.basename(path).startswith("libcrypto.so") and path not in candidates:
                    candidates.append(path)
    except OSError:
        pass
    candidates += ["libcrypto.so.3", "libcrypto.so.1.1"]
    for name in candidates:
        try:
            lib = ctypes.CDLL(name)
            _declare(lib)
        except (OSError, AttributeError):
            continue
        return lib
    return None


def _declare(lib: ctypes.CDLL) -> None:
    vp, cp, ip, i = ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int
    lib.EVP_CIPHER_CTX_new.restype = vp
    lib.EVP_CIPHER_CTX_new.argtypes = []
    lib.EVP_CIPHER_CTX_free.restype = None
    lib.EVP_CIPHER_CTX_free.argtypes = [vp]
    lib.EVP_aes_256_gcm.restype = vp
    lib.EVP_aes_256_gcm.argtypes = []
    lib.EVP_CIPHER_CTX_ctrl.restype = i
    lib.EVP_CIPHER_CTX_ctrl.argtypes = [vp, i, i, vp]
    for name in ("EVP_EncryptInit_ex", "EVP_DecryptInit_ex"):
        fn = getattr(lib, name)
        fn.restype = i
        fn.argtypes = [vp, vp, vp, cp, cp]
    for name in ("EVP_EncryptUpdate", "EVP_DecryptUpdate"):
        fn = getattr(lib, name)
        fn.restype = i
        fn.argtypes = [vp, vp, ip, cp, i]
    for name in ("EVP_EncryptFinal_ex", "EVP_DecryptFinal_ex"):
        fn = getattr(lib, name)
        fn.restype = i
        fn.argtypes = [vp, vp, ip]


class _LibcryptoGcm:
    """AES-256-GCM over libcrypto's EVP interface; one cipher context per call (thread-safe, nothing cached)."""

    def __init__(self, lib: ctypes.CDLL, key: bytes) -> None:
        self._lib = lib
        self._key = key

    def _run(self, encrypt: bool, nonce: bytes, data: bytes, aad: bytes | None, tag: bytes | None) -> bytes:
        lib = self._lib
        init, update, final = (
            (lib.EVP_EncryptInit_ex, lib.EVP_EncryptUpdate, lib.EVP_EncryptFinal_ex)
            if encrypt
            else (lib.EVP_DecryptInit_ex, lib.EVP_DecryptUpdate, lib.EVP_DecryptFinal_ex)
        )
        ctx = lib.EVP_CIPHER_CTX_new()
        if not ctx:
            raise MemoryError("EVP_CIPHER_CTX_new failed")
        try:
            n = ctypes.c_int(0)
            ok = (
                init(ctx, lib.EVP_aes_256_gcm(), None, None, None) == 1
                and lib.EVP_CIPHER_CTX_ctrl(ctx, _CTRL_SET_IVLEN, len(nonce), None) == 1
                and init(ctx, None, None, self._key, nonce) == 1
                and (not aad or update(ctx, None, ctypes.byref(n), aad, len(aad)) == 1)
            )
            out = ctypes.create_string_buffer(len(data) + 1)  # GCM is a stream mode: output length = input length
            if not ok or (data and update(ctx, out, ctypes.byref(n), data, len(data)) != 1):
                raise InvalidTag("AES-GCM: libcrypto refused the input")
            if tag is not None:
                wanted = ctypes.create_string_buffer(tag, TAG)
                if lib.EVP_CIPHER_CTX_ctrl(ctx, _CTRL_SET_TAG, TAG, wanted) != 1:
                    raise InvalidTag("AES-GCM: libcrypto refused the tag")
            rest = ctypes.create_string_buffer(32)
            if final(ctx, rest, ctypes.byref(n)) != 1:
                raise InvalidTag("AES-GCM: authentication failed")
            if tag is not None:
                return out.raw[: len(data)]
            computed = ctypes.create_string_buffer(TAG)
            if lib.EVP_CIPHER_CTX_ctrl(ctx, _CTRL_GET_TAG, TAG, computed) != 1:
                raise MemoryError("AES-GCM: libcrypto gave no tag")
            return out.raw[: len(data)] + computed.raw
        finally:
            lib.EVP_CIPHER_CTX_free(ctx)

    def encrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes:
        return self._run(True, nonce, data, associated_data, None)

    def decrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes:
        if len(data) < TAG:
            raise InvalidTag("AES-GCM: shorter than its tag")
        return self._run(False, nonce, data[:-TAG], associated_data, data[-TAG:])


class _CryptographyGcm:
    """The fallback: ``cryptography``'s AESGCM, its ``InvalidTag`` turned into ours."""

    def __init__(self, key: bytes) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        self._aead = AESGCM(key)

    def encrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes:
        return self._aead.encrypt(nonce, data, associated_data)

    def decrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes:
        from cryptography.exceptions import InvalidTag as CryptographyInvalidTag

        try:
            return self._aead.decrypt(nonce, data, associated_data)
        except CryptographyInvalidTag:
            raise InvalidTag("AES-GCM: authentication failed") from None


_LIB = _find_libcrypto()


def backend() -> str:
    """Which implementation ``AesGcm`` uses: ``"libcrypto"`` or ``"cryptography"``."""
    return "libcrypto" if _LIB is not None else "cryptography"


class AesGcm:
    """AES-256-GCM with a 12-byte nonce and a 16-byte tag appended to the ciphertext (as ``cryptography``'s
    ``AESGCM``)."""

    def __init__(self, key: bytes, *, use_cryptography: bool = False) -> None:
        if len(key) != KEY:
            raise ValueError("AES-256-GCM needs a 32-byte key")
        self._impl: _Cipher = (
            _LibcryptoGcm(_LIB, key) if _LIB is not None and not use_cryptography else _CryptographyGcm(key)
        )

    def encrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None = None) -> bytes:
        if len(nonce) != NONCE:
            raise ValueError("AES-GCM nonce must be 12 bytes here")
        return self._impl.encrypt(nonce, data, associated_data)

    def decrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None = None) -> bytes:
        """The plaintext of ``data`` (ciphertext || tag); raises ``InvalidTag`` unless it authenticates."""
        if len(nonce) != NONCE:
            raise ValueError("AES-GCM nonce must be 12 bytes here")
        return self._impl.decrypt(nonce, data, associated_data)
