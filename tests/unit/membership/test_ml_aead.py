"""The membership seal's AES-256-GCM and HKDF-SHA256 (speaker/membership/aead.py): published test vectors, the same
bytes as ``cryptography`` (so the wire format did not change with the implementation), and no plaintext from an
altered frame."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given
from hypothesis import strategies as st

from speaker.membership.aead import TAG, AesGcm, InvalidTag, backend, hkdf_sha256

h = bytes.fromhex

# McGrew & Viega, "The Galois/Counter Mode of Operation", test cases 13, 14 and 16 (AES-256, 96-bit IV).
GCM_VECTORS = [
    (bytes(32), bytes(12), b"", b"", b"", h("530f8afbc74536b9a963b4f1c4cb738b")),
    (
        bytes(32),
        bytes(12),
        bytes(16),
        b"",
        h("cea7403d4d606b6e074ec5d3baf39d18"),
        h("d0d1c8a799996bf0265b98b5d48ab919"),
    ),
    (
        h("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308"),
        h("cafebabefacedbaddecaf888"),
        h(
            "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
            "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39"
        ),
        h("feedfacedeadbeeffeedfacedeadbeefabaddad2"),
        h(
            "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
            "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662"
        ),
        h("76fc6ece0f4e1768cddf8853bb2d551b"),
    ),
]
IMPLS = [False, True]  # use_cryptography


def test_the_process_libcrypto_is_used_on_this_interpreter() -> None:
    # Python's ssl module links libcrypto dynamically on Debian and in the python:*-slim images.
    assert backend() == "libcrypto"


@pytest.mark.parametrize("use_cryptography", IMPLS)
@pytest.mark.parametrize(("key", "nonce", "plain", "aad", "cipher", "tag"), GCM_VECTORS)
def test_gcm_matches_the_published_vectors(
    use_cryptography: bool, key: bytes, nonce: bytes, plain: bytes, aad: bytes, cipher: bytes, tag: bytes
) -> None:
    aead = AesGcm(key, use_cryptography=use_cryptography)
    assert aead.encrypt(nonce, plain, aad) == cipher + tag
    assert aead.decrypt(nonce, cipher + tag, aad) == plain


@given(st.binary(min_size=32, max_size=32), st.binary(min_size=12, max_size=12), st.binary(max_size=2000), st.binary())
def test_gcm_gives_the_same_bytes_as_cryptography_and_round_trips(
    key: bytes, nonce: bytes, plain: bytes, aad: bytes
) -> None:
    sealed = AesGcm(key).encrypt(nonce, plain, aad)
    assert sealed == AESGCM(key).encrypt(nonce, plain, aad)
    assert len(sealed) == len(plain) + TAG
    assert AesGcm(key).decrypt(nonce, sealed, aad) == plain
    assert AesGcm(key, use_cryptography=True).decrypt(nonce, sealed, aad) == plain


@pytest.mark.parametrize("use_cryptography", IMPLS)
@given(plain=st.binary(max_size=300), data=st.data())
def test_any_altered_byte_of_frame_nonce_or_associated_data_is_refused(
    use_cryptography: bool, plain: bytes, data: st.DataObject
) -> None:
    key, nonce, aad = bytes(range(32)), bytes(12), b"header"
    aead = AesGcm(key, use_cryptography=use_cryptography)
    sealed = bytearray(aead.encrypt(nonce, plain, aad))
    which = data.draw(st.sampled_from(["frame", "nonce", "aad"]))
    flip = data.draw(st.integers(0, 7))
    if which == "frame":
        sealed[data.draw(st.integers(0, len(sealed) - 1))] ^= 1 << flip
    elif which == "nonce":
        nonce = bytes([nonce[0] ^ (1 << flip)]) + nonce[1:]
    else:
        aad = bytes([aad[0] ^ (1 << flip)]) + aad[1:]
    with pytest.raises(InvalidTag):
        aead.decrypt(nonce, bytes(sealed), aad)


@pytest.mark.parametrize("use_cryptography", IMPLS)
@given(st.binary(max_size=TAG - 1))
def test_a_frame_shorter_than_its_tag_is_refused(use_cryptography: bool, raw: bytes) -> None:
    with pytest.raises(InvalidTag):
        AesGcm(bytes(32), use_cryptography=use_cryptography).decrypt(bytes(12), raw, b"")


def test_wrong_key_or_nonce_sizes_are_errors_not_silent_truncation() -> None:
    with pytest.raises(ValueError, match="32-byte key"):
        AesGcm(bytes(16))
    with pytest.raises(ValueError, match="12 bytes"):
        AesGcm(bytes(32)).encrypt(bytes(8), b"x")


def test_hkdf_matches_rfc5869_test_case_1() -> None:
    okm = hkdf_sha256(b"\x0b" * 22, salt=bytes(range(13)), info=bytes(range(0xF0, 0xFA)), length=42)
    assert okm == h("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865")


@given(st.binary(min_size=1), st.binary(max_size=16), st.binary(max_size=40), st.integers(1, 100))
def test_hkdf_gives_the_same_key_as_cryptography(ikm: bytes, salt: bytes, info: bytes, length: int) -> None:
    expected = HKDF(algorithm=hashes.SHA256(), length=length, salt=salt or None, info=info).derive(ikm)
    assert hkdf_sha256(ikm, salt=salt, info=info, length=length) == expected
